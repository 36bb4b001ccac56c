from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
    verbose_name = "KYC"

    def ready(self) -> None:
        from balances.register import register_identity_reader

        from . import selectors

        register_identity_reader(selectors.identities_of)
