from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """Judicial freezes, forced transfers and corrections: each proposed by one person, approved by another."""

    name = "supervision"
    verbose_name = "Supervision"

    def ready(self) -> None:
        from balances import replay
        from balances import services as balances_services
        from exchange import pretrade, selectors
        from settlement import statements

        from . import entries, services

        for payload in entries.KINDS:
            replay.register_effect(payload.kind, lambda p, payload=payload: payload.read(p).movements())
        pretrade.register_frozen_reason(services.frozen_reason)
        balances_services.register_unlock_claims(
            balances_services.UnlockClaims(lock=services.unlock_claims_lock, take=services.unlock_claims_take)
        )
        pretrade.register_corrected_quantities(services.corrected_quantities)
        for kind, adjustment in entries.STATEMENT_LINES.items():
            statements.register_adjustment(kind, adjustment)
        selectors.register_trade_notes(services.trade_corrections)
