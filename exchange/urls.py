from django.contrib.auth import views as auth_views
from django.urls import path

from core.forms import LoginForm

from . import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.market, name="market"),
    path("market/data/", views.market_data, name="market-data"),
    path("market/securities/<str:code>/data/", views.security_market_data, name="security-market-data"),
    path("orders/", views.orders, name="orders"),
    path("orders/new/", views.order_new, name="order-new"),
    path("orders/new/check/", views.order_check, name="order-check"),
    path("orders/new/data/", views.order_ticket_data, name="order-ticket-data"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order-cancel"),
    path("trades/", views.trades, name="trades"),
    path("trades/data/", views.trades_data, name="trades-data"),
    path("balances/", views.balances, name="balances"),
    path("quotes/", views.quotes, name="quotes"),
    path("quotes/pull/", views.quotes_pull, name="quotes-pull"),
    path("fonts/noto-sans-sc.woff2", views.web_font, name="web-font"),
]

# Request for quote (exchange.rfq_views)
from . import rfq_views  # noqa: E402

urlpatterns += [
    path("rfqs/", rfq_views.rfqs, name="rfqs"),
    path("rfqs/data/", rfq_views.rfqs_data, name="rfqs-data"),
    path("rfqs/<int:rfq_id>/accept/", rfq_views.rfq_accept, name="rfq-accept"),
    path("rfqs/<int:rfq_id>/cancel/", rfq_views.rfq_cancel, name="rfq-cancel"),
    path("rfqs/inbox/data/", rfq_views.rfq_inbox_data, name="rfq-inbox-data"),
    path("rfqs/<int:rfq_id>/answer/", rfq_views.rfq_answer, name="rfq-answer"),
]

# Negotiated transfer (协议转让).
from . import negotiated_views  # noqa: E402

urlpatterns += [
    path("negotiated/", negotiated_views.negotiated, name="negotiated"),
]
