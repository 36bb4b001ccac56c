from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "Settlement"

    def ready(self) -> None:
        from balances import hooks as balances_hooks
        from balances import replay
        from exchange import live
        from ledger import hooks

        from . import entries, reconcile, selectors, sweeping, tasks
        from . import hooks as settlement_hooks
        from .models import SettlementAction

        hooks.register_after_seal(tasks.block_sealed, last=True)  # it settles the block: after the others
        hooks.register_after_final(tasks.block_final)
        hooks.register_entry_reader(selectors.settlement_entry_readable)
        hooks.register_entry_reader(selectors.cash_entry_readable)
        hooks.register_business_check(reconcile.SETTLEMENTS_CHECK)
        hooks.register_business_check(reconcile.INSTRUCTIONS_CHECK)
        # Open trades pages hear of a settlement, a hold, a release or a refusal at once (exchange.live).
        settlement_hooks.trades_settled.register(lambda *, trade_ids: live.trades_ids_changed(trade_ids, "settled"))
        settlement_hooks.settlement_acted.register(
            lambda *, action_id: live.trades_ids_changed(
                list(SettlementAction.objects.filter(pk=action_id).values_list("trade_id", flat=True)), "acted"
            )
        )
        # The trades of a member's clients that waited for its fee account are tried at the next sweep, not after
        # what is left of their back-off (up to 5 minutes).
        balances_hooks.fee_account_opened.register(lambda **_: sweeping.forgive())
        replay.register_effect(entries.EntryKind.SETTLEMENT, lambda p: entries.settlement_read(p).movements())
