from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """Judicial freezes, forced transfers and corrections: each proposed by one person, approved by another."""

    name = "supervision"
    verbose_name = "Supervision"

    def ready(self) -> None:
        from balances import replay
        from balances import services as balances_services
        from core.audit_actions import register_proposal_target_name
        from exchange import pretrade, selectors
        from settlement import statements

        from . import entries, services
        from .models import Correction, ForcedTransfer, Freeze

        for payload in entries.KINDS:
            replay.register_effect(payload.kind, lambda p, payload=payload: payload.read(p).movements())
        pretrade.register_frozen_reason(services.frozen_reason)
        balances_services.register_unlock_claims(
            balances_services.UnlockClaims(lock=services.unlock_claims_lock, take=services.unlock_claims_take)
        )
        pretrade.register_corrected_quantities(services.corrected_quantities)
        for kind, adjustment in entries.STATEMENT_LINES.items():
            statements.register_adjustment(kind, adjustment)
        selectors.register_trade_notes(services.trade_corrections, services.CORRECTION_NOTE)
        # A refused decision of a proposal is recorded under the account or trade its done records name.
        for kind, model in (("freeze", Freeze), ("forced_transfer", ForcedTransfer), ("correction", Correction)):
            register_proposal_target_name(kind, services.proposal_audit_name(model))
