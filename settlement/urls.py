from django.urls import path

from . import api

urlpatterns = [
    path("trades/<int:trade_id>/", api.TradeDetailApi.as_view(), name="api-trade"),
    path("trades/<int:trade_id>/hold/", api.TradeHoldApi.as_view(), name="api-trade-hold"),
    path("trades/<int:trade_id>/release/", api.TradeReleaseApi.as_view(), name="api-trade-release"),
    path("trades/<int:trade_id>/refuse/", api.TradeRefuseApi.as_view(), name="api-trade-refuse"),
    path("settlement/monitor/", api.MonitorApi.as_view(), name="api-settlement-monitor"),
    path("settlement-instructions/", api.InstructionListApi.as_view(), name="api-settlement-instructions"),
    path(
        "settlement-instructions/<int:instruction_id>/end/",
        api.InstructionEndApi.as_view(),
        name="api-settlement-instruction-end",
    ),
]

# The investor's own statement and holdings certificate (settlement.statement_api).
from . import statement_api  # noqa: E402

urlpatterns += [
    path("statement/", statement_api.MyStatementApi.as_view(), name="api-my-statement"),
    path("holdings-certificate/", statement_api.MyCertificateApi.as_view(), name="api-my-certificate"),
]
