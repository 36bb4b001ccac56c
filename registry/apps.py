from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from ledger import hooks

        from . import reconcile, services

        hooks.register_business_check(reconcile.DISCLOSURES_CHECK)
        hooks.register_entry_reader(reconcile.disclosure_entry_readable)
        hooks.register_when_held(services.market_halt_while_ledger_held)
