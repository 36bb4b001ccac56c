from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        from balances import replay
        from balances import services as balances_services
        from core import events
        from ledger import hooks
        from registry import hooks as registry_hooks

        from . import live, pretrade, reconcile, selectors, views
        from .services import listing

        hooks.register_business_check(reconcile.TRADES_CHECK)
        hooks.register_entry_reader(selectors.trade_entry_readable)
        replay.register_reservations(reconcile.reservations)
        registry_hooks.register_security_changed(listing.on_security_changed)
        events.register_builder("market", "market", live.market_payload)
        hooks.register_after_seal(live.block_sealed)
        registry_hooks.register_security_panel(views.security_panel)
        if pretrade.holder_count not in balances_services.holder_counter:
            balances_services.holder_counter.append(pretrade.holder_count)
        if pretrade.holder_counts not in balances_services.holder_counter_many:
            balances_services.holder_counter_many.append(pretrade.holder_counts)
