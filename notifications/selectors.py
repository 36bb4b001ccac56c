"""Reads of notifications: a user sees their own, nobody else's."""

from __future__ import annotations

from django.db.models import QuerySet

from core.models import User

from .models import RECIPIENTS, Notification


def notifications_of(user: User, *, unread: bool | None = None) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user).order_by("-id")
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs


def unread_count(user: User) -> int | None:
    """The bell's number; None for users who get no notifications (everyone but investors and market makers)."""
    if not user.is_authenticated or user.role not in RECIPIENTS:
        return None
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
