"""What the pages share about forms."""

from __future__ import annotations

from .errors import DomainError


def domain_error_message(exc: DomainError) -> str:
    """The error's message in the active language: messages are made text when the error is raised."""
    return exc.message
