from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"
    verbose_name = "KYC"

    def ready(self) -> None:
        from balances.register import register_identity_reader
        from balances.services import register_unqualified_reader
        from core.audit_actions import register_target_name

        from . import selectors, services

        register_identity_reader(selectors.identities_of)
        # An issuance makes no unqualified investor a new holder of a security for qualified investors.
        register_unqualified_reader(selectors.unqualified_investors)
        # A refused request about an application is recorded under its investor's user name, as done ones are.
        register_target_name("profile_id", services.application_audit_name)
