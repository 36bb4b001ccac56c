from django.apps import AppConfig


class BalancesConfig(AppConfig):
    name = "balances"
    verbose_name = "Balances"

    def ready(self) -> None:
        from ledger import hooks

        from . import entries, reconcile, replay

        for payload in entries.KINDS:
            replay.register_effect(payload.kind, lambda p, payload=payload: payload.read(p).movements())
        hooks.register_business_check(reconcile.CONSERVATION_CHECK)
