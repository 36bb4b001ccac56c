from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """Judicial freezes, forced transfers and corrections: each proposed by one person, approved by another."""

    name = "supervision"
    verbose_name = "Supervision"
