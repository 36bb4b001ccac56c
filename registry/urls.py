from django.urls import path

from . import api

urlpatterns = [
    path("market/", api.MarketApi.as_view(), name="api-market"),
    path("market/halt/", api.MarketHaltApi.as_view(), name="api-market-halt"),
    path("market/resume/", api.MarketResumeApi.as_view(), name="api-market-resume"),
    path("securities/", api.SecurityListApi.as_view(), name="api-securities"),
    path("securities/<str:code>/", api.SecurityDetailApi.as_view(), name="api-security"),
    path("securities/<str:code>/delist/", api.SecurityDelistApi.as_view(), name="api-security-delist"),
    path("securities/<str:code>/halt/", api.SecurityHaltApi.as_view(), name="api-security-halt"),
    path("securities/<str:code>/resume/", api.SecurityResumeApi.as_view(), name="api-security-resume"),
    path("securities/<str:code>/disclosures/", api.DisclosureListApi.as_view(), name="api-disclosures"),
    path(
        "securities/<str:code>/disclosures/<int:document_id>/file/",
        api.DisclosureFileApi.as_view(),
        name="api-disclosure-file",
    ),
    path(
        "securities/<str:code>/disclosures/<int:document_id>/check/",
        api.DisclosureCheckApi.as_view(),
        name="api-disclosure-check",
    ),
]

urlpatterns += [
    path("calendar/holidays/", api.HolidaysApi.as_view(), name="api-holidays"),
    path("calendar/holidays/<str:date>/", api.HolidayApi.as_view(), name="api-holiday"),
]
