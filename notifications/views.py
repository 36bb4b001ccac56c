"""The notifications page of an investor or a market maker at /notifications/: the list with mark read (one
or all) and the preferences form. Writes go through ``notifications.services``."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import domain_error_message
from core.models import Role
from core.permissions import role_required

from . import messages, selectors, services
from .forms import PreferenceForm
from .models import RECIPIENTS, kinds_for

PAGE_SIZE = 50


def _rows(page):
    return [{"n": n, "title": messages.title(n), "body": messages.body(n), "link": messages.link(n)} for n in page]


@role_required(*RECIPIENTS)
def notification_list(request):
    pref = services.preference_of(request.user)
    kinds = kinds_for(request.user.role)
    if request.method == "POST":
        form = PreferenceForm(request.POST, kinds=kinds)
        if form.is_valid():
            wanted = set(form.cleaned_data["wanted"])
            try:
                services.preference_set(
                    user=request.user,
                    muted=[k for k in kinds if k not in wanted],
                    email=form.cleaned_data["email"],
                )
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                flash.success(request, gettext("Your notification settings are saved."))
                return redirect("notifications")
    else:
        form = PreferenceForm(
            # Ticked only while there is an address: one removed since (core.account_settings) is no longer emailed.
            initial={
                "wanted": [k for k in kinds if k not in pref.muted],
                "email": pref.email and bool(request.user.email),
            },
            kinds=kinds,
        )
    unread_only = request.GET.get("unread") == "1"
    page = Paginator(
        selectors.notifications_of(request.user, unread=True if unread_only else None), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/list.html",
        {
            "rows": _rows(page),
            "page_obj": page,
            "unread_only": unread_only,
            "unread": selectors.unread_count(request.user),
            "form": form,
            "has_email": bool(request.user.email),
            "market_maker": request.user.role == Role.MARKET_MAKER,
        },
    )


@require_POST
@role_required(*RECIPIENTS)
def notification_read(request, notification_id: int):
    try:
        services.notification_read(user=request.user, notification_id=notification_id)
    except services.NotificationNotFound:
        raise Http404 from None  # another user's, as one that does not exist
    return redirect("notifications")


@require_POST
@role_required(*RECIPIENTS)
def notification_read_all(request):
    marked = services.notifications_read_all(user=request.user)
    flash.success(request, gettext("%(n)s notifications marked read.") % {"n": marked})
    return redirect("notifications")
