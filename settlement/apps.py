from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "Settlement"

    def ready(self) -> None:
        from balances import replay
        from ledger import hooks

        from . import entries, reconcile, selectors, tasks

        hooks.register_after_seal(tasks.block_sealed)
        hooks.register_after_final(tasks.block_final)
        hooks.register_entry_reader(selectors.settlement_entry_readable)
        hooks.register_business_check(reconcile.SETTLEMENTS_CHECK)
        replay.register_effect(entries.EntryKind.SETTLEMENT, lambda p: entries.settlement_read(p).movements())
