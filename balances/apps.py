from django.apps import AppConfig


class BalancesConfig(AppConfig):
    name = "balances"
    verbose_name = "Balances"

    def ready(self) -> None:
        from core import labels
        from ledger import hooks
        from registry import hooks as registry_hooks

        from . import entries, issuances, reconcile, replay, services

        for payload in entries.KINDS:
            replay.register_effect(payload.kind, lambda p, payload=payload: payload.read(p).movements())
        hooks.register_business_check(reconcile.CONSERVATION_CHECK)
        # The registry asks it before a change sets a security's holder cap below its holders (registry.listing).
        registry_hooks.register_holder_counter(services.holders_counted)
        # The audit trail's words for the steps of an issuance proposal. Their place is ``core.labels``' one table
        # of actions, which was not free to change when they were written: added to it here, where it has none.
        for code, label in issuances.AUDIT_ACTIONS.items():
            labels.AUDIT_ACTIONS.setdefault(code, label)
