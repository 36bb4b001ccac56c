from django.urls import path

from . import api

urlpatterns = [
    path("clients/", api.ClientListApi.as_view(), name="api-counter-clients"),
    path("clients/<str:code>/", api.ClientDetailApi.as_view(), name="api-counter-client"),
    path("clients/<str:code>/deposit/", api.ClientDepositApi.as_view(), name="api-counter-deposit"),
    path("clients/<str:code>/withdraw/", api.ClientWithdrawApi.as_view(), name="api-counter-withdraw"),
    path("cash-requests/", api.CashRequestListApi.as_view(), name="api-counter-cash-requests"),
    path(
        "cash-requests/<int:request_id>/approve/",
        api.CashRequestApproveApi.as_view(),
        name="api-counter-cash-request-approve",
    ),
    path(
        "cash-requests/<int:request_id>/reject/",
        api.CashRequestRejectApi.as_view(),
        name="api-counter-cash-request-reject",
    ),
    path(
        "cash-requests/<int:request_id>/withdraw/",
        api.CashRequestWithdrawApi.as_view(),
        name="api-counter-cash-request-withdraw",
    ),
    path("clients/<str:code>/orders/", api.ClientOrderListApi.as_view(), name="api-counter-orders"),
    path("clients/<str:code>/orders/<int:order_id>/", api.ClientOrderDetailApi.as_view(), name="api-counter-order"),
    path("clients/<str:code>/trades/", api.ClientTradeListApi.as_view(), name="api-counter-trades"),
    path("clients/<str:code>/statement/", api.ClientStatementApi.as_view(), name="api-counter-statement"),
]
