from django.urls import path

from . import views

urlpatterns = [
    path("ping/", views.PingApi.as_view(), name="api-ping"),
    path("auth/token/", views.TokenApi.as_view(), name="api-token"),
    path("securities/<str:code>/quotes/", views.SecurityQuotesApi.as_view(), name="api-security-quotes"),
    path("securities/<str:code>/candles/", views.SecurityCandlesApi.as_view(), name="api-security-candles"),
    path("securities/<str:code>/trades/", views.SecurityTradesApi.as_view(), name="api-security-trades"),
    path("quotes/", views.QuotesApi.as_view(), name="api-quotes"),
    path("orders/", views.OrderListApi.as_view(), name="api-orders"),
    path("orders/check/", views.OrderCheckApi.as_view(), name="api-order-check"),
    path("orders/batch/", views.OrderBatchApi.as_view(), name="api-order-batch"),
    path("orders/<int:order_id>/", views.OrderDetailApi.as_view(), name="api-order"),
    path("trades/", views.TradeListApi.as_view(), name="api-trades"),
    path("trades/<int:trade_id>/proof/", views.TradeProofApi.as_view(), name="api-trade-proof"),
    path("account/", views.AccountApi.as_view(), name="api-account"),
]

# Request for quote (exchange.api.rfq)
from . import rfq as rfq_views  # noqa: E402

urlpatterns += [
    path("rfqs/", rfq_views.RfqListApi.as_view(), name="api-rfqs"),
    path("rfqs/<int:rfq_id>/", rfq_views.RfqDetailApi.as_view(), name="api-rfq"),
    path("rfqs/<int:rfq_id>/answers/", rfq_views.RfqAnswerApi.as_view(), name="api-rfq-answers"),
    path("rfqs/<int:rfq_id>/accept/", rfq_views.RfqAcceptApi.as_view(), name="api-rfq-accept"),
    path("rfqs/<int:rfq_id>/cancel/", rfq_views.RfqCancelApi.as_view(), name="api-rfq-cancel"),
]

# Negotiated transfer (协议转让).
from . import negotiated  # noqa: E402

urlpatterns += [
    path("negotiated-trades/", negotiated.NegotiatedListApi.as_view(), name="api-negotiated-list"),
    path("negotiated-trades/<int:proposal_id>/", negotiated.NegotiatedDetailApi.as_view(), name="api-negotiated"),
    path(
        "negotiated-trades/<int:proposal_id>/confirm/",
        negotiated.NegotiatedConfirmApi.as_view(),
        name="api-negotiated-confirm",
    ),
    path(
        "negotiated-trades/<int:proposal_id>/withdraw/",
        negotiated.NegotiatedWithdrawApi.as_view(),
        name="api-negotiated-withdraw",
    ),
]
