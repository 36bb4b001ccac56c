from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("api/v1/ledger/", include("ledger.urls")),
    path("api/v1/", include("settlement.urls")),
    path("api/v1/", include("exchange.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("ledger/", include("ledger.page_urls")),
    path("settlement/", include("settlement.page_urls")),
    path("api/v1/counter/", include("counter.api_urls")),
    path("counter/", include("counter.page_urls")),
    path("api/v1/kyc/", include("kyc.api_urls")),
    path("kyc/", include("kyc.page_urls")),
    path("", include("exchange.urls")),
]

handler400 = "exchange.views.error_400"
handler403 = "exchange.views.error_403"
handler404 = "exchange.views.error_404"
handler500 = "exchange.views.error_500"
