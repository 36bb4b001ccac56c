from django.apps import AppConfig


class AuditingConfig(AppConfig):
    """The audit trail for auditors: filters, CSV, and evidence bundles that check offline."""

    name = "auditing"
    verbose_name = "Auditing"
