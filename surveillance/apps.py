from django.apps import AppConfig


class SurveillanceConfig(AppConfig):
    """Market surveillance: rules run on each sealed block raise alerts the regulator works through."""

    name = "surveillance"
    verbose_name = "Surveillance"

    def ready(self) -> None:
        from ledger import hooks

        from . import services, tasks

        hooks.register_after_seal(tasks.block_sealed)
        hooks.register_after_witness_refusal(services.witness_refused)
