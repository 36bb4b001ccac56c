from csp.decorators import csp_update
from django.urls import include, path

from core import event_views
from core import settings_urls as account_settings_urls
from core import views as core_views
from core.api.schema import DocsView, SchemaView
from settlement import trade_views

# Swagger UI without inline script: the split view serves its start-up script from its own URL
# (/api/docs/?script), so the page keeps script-src 'self'. Its template (drf-spectacular's
# swagger_ui.html) still has one <style> block: this page allows that block by its hash, and no other
# inline style. A drf-spectacular upgrade that changes the block only loses the page's background colour;
# tests/browser/test_csp_browser.py then fails and the browser's console names the new hash.
SWAGGER_UI_STYLE = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"
api_docs = csp_update({"style-src": ["'self'", SWAGGER_UI_STYLE]})(DocsView.as_view(url_name="api-schema"))

urlpatterns = [
    path("api/v1/ledger/", include("ledger.urls")),
    path("api/v1/", include("settlement.urls")),
    path("api/v1/", include("supervision.urls")),
    path("api/v1/", include("balances.urls")),
    path("api/v1/", include("registry.urls")),
    path("api/v1/", include("auditing.urls")),
    path("api/v1/", include("exchange.api.urls")),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/", include("surveillance.urls")),
    path("api/v1/", include("notifications.urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("otp/", include("core.urls")),
    path("settings/api-tokens/", include("core.api_token_page_urls")),
    path("settings/", include("core.settings_urls")),
    path("password-reset/", include(account_settings_urls.password_reset_urlpatterns)),
    path("session/keepalive/", core_views.session_keepalive, name="session-keepalive"),
    path("ledger/", include("ledger.page_urls")),
    path("settlement/", include("settlement.page_urls")),
    path("statements/", include("settlement.statement_urls")),
    path("operations/", include("registry.page_urls")),
    path("depository/", include("balances.page_urls")),
    path("supervision/", include("supervision.page_urls")),
    path("securities/", include("registry.security_urls")),
    path("api/v1/counter/", include("counter.api_urls")),
    path("counter/", include("counter.page_urls")),
    path("api/v1/kyc/", include("kyc.api_urls")),
    path("kyc/", include("kyc.page_urls")),
    path("audit/", include("auditing.page_urls")),
    path("surveillance/", include("surveillance.page_urls")),
    path("trades/<int:trade_id>/", trade_views.trade_page, name="trade"),
    path("events/", event_views.stream, name="events"),
    path("notifications/", include("notifications.page_urls")),
    path("", include("exchange.urls")),
]

handler400 = "exchange.views.error_400"
handler403 = "exchange.views.error_403"
handler404 = "exchange.views.error_404"
handler500 = "exchange.views.error_500"
