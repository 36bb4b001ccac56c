from django.urls import path

from . import api

urlpatterns = [
    path("securities/<str:code>/issuances/", api.IssuanceApi.as_view(), name="api-security-issuances"),
    path("securities/<str:code>/register/", api.RegisterApi.as_view(), name="api-security-register"),
    path("issuance-proposals/", api.IssuanceProposalListApi.as_view(), name="api-issuance-proposals"),
    *[
        path(
            f"issuance-proposals/<int:pk>/{action}/",
            api._decision(action).as_view(),
            name=f"api-issuance-proposals-{action}",
        )
        for action in ("approve", "reject", "withdraw")
    ],
]
