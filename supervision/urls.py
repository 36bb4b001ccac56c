from django.urls import path

from . import api

urlpatterns = [
    path("accounts/<str:code>/", api.AccountDetailApi.as_view(), name="api-account-detail"),
    path("freezes/", api.FreezeListApi.as_view(), name="api-freezes"),
    *[
        path(f"freezes/<int:pk>/{action}/", api._freeze_action(action).as_view(), name=f"api-freeze-{action}")
        for action in ("approve", "reject", "withdraw", "release")
    ],
    path("forced-transfers/", api.ForcedTransferListApi.as_view(), name="api-forced-transfers"),
    path("corrections/", api.CorrectionListApi.as_view(), name="api-corrections"),
    *[
        path(
            f"{prefix}/<int:pk>/{action}/",
            api._decision(kind, action).as_view(),
            name=f"api-{prefix}-{action}",
        )
        for prefix, kind in (("forced-transfers", "forced_transfers"), ("corrections", "corrections"))
        for action in ("approve", "reject", "withdraw")
    ],
]
