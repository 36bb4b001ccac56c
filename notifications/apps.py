from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """In-app notifications (and optional email) for investors: fills, settlement, holds, refusals, KYC
    decisions, freezes, RFQ answers and negotiated proposals; written after commit by a Celery task."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from . import listeners

        listeners.register()
