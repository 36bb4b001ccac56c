from django.apps import AppConfig


class BalancesConfig(AppConfig):
    name = "balances"
    verbose_name = "Balances"

    def ready(self) -> None:
        from core.audit_actions import register_proposal_target_name
        from ledger import hooks
        from registry import hooks as registry_hooks

        from . import entries, issuances, reconcile, replay, services

        for payload in entries.KINDS:
            replay.register_effect(payload.kind, lambda p, payload=payload: payload.read(p).movements())
        hooks.register_business_check(reconcile.CONSERVATION_CHECK)
        # The registry asks it before a change sets a security's holder cap below its holders (registry.listing).
        registry_hooks.register_holder_counter(services.holders_counted)
        # A refused decision of an issuance proposal is recorded under its security, as its done records are.
        register_proposal_target_name("issuance", issuances.proposal_audit_name)
