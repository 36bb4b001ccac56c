from django.urls import path

from . import views

urlpatterns = [
    path("", views.clients, name="counter-clients"),
    path("open/", views.client_open, name="counter-open"),
    path("cash-requests/", views.cash_requests, name="counter-cash-requests"),
    path("cash-requests/<int:request_id>/approve/", views.cash_request_approve, name="counter-cash-request-approve"),
    path("cash-requests/<int:request_id>/reject/", views.cash_request_reject, name="counter-cash-request-reject"),
    path("cash-requests/<int:request_id>/withdraw/", views.cash_request_withdraw, name="counter-cash-request-withdraw"),
    path("<str:code>/", views.client_detail, name="counter-client"),
    path("<str:code>/deposit/", views.client_deposit, name="counter-deposit"),
    path("<str:code>/withdraw/", views.client_withdraw, name="counter-withdraw"),
    path("<str:code>/orders/", views.client_orders, name="counter-client-orders"),
    path("<str:code>/orders/new/", views.client_order_new, name="counter-order-new"),
    path("<str:code>/orders/<int:order_id>/cancel/", views.client_order_cancel, name="counter-order-cancel"),
    path("<str:code>/trades/", views.client_trades, name="counter-client-trades"),
    path("<str:code>/statement/", views.client_statement, name="counter-statement"),
]

# Negotiated transfer for a client.
from . import negotiated_views  # noqa: E402

urlpatterns += [
    path("<str:code>/negotiated/", negotiated_views.client_negotiated, name="counter-client-negotiated"),
]

# Requests for quote for a client.
from . import rfq_views  # noqa: E402

urlpatterns += [
    path("<str:code>/rfqs/", rfq_views.client_rfqs, name="counter-client-rfqs"),
]
