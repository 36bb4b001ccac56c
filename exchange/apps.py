from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        from balances import replay
        from ledger import hooks
        from registry import hooks as registry_hooks

        from . import reconcile, selectors
        from .services import listing

        hooks.register_business_check(reconcile.TRADES_CHECK)
        hooks.register_entry_reader(selectors.trade_entry_readable)
        replay.register_reservations(reconcile.reservations)
        registry_hooks.register_security_changed(listing.on_security_changed)
