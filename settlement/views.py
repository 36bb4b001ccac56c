"""The settlement monitor page (depository operators act; other supervisors watch)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.audit import client_ip
from core.errors import DomainError
from core.models import Role
from core.permissions import role_required
from core.roles import SUPERVISORS

from . import selectors, services

ACTIONS = {"hold": services.trade_hold, "release": services.trade_release, "refuse": services.trade_refuse}


@role_required(*SUPERVISORS)
def monitor(request):
    now = timezone.now()
    context = {
        "summary": selectors.monitor_summary(now=now),
        "awaiting": list(selectors.trades_awaiting()[:200]),
        "held": list(selectors.trades_held()[:200]),
        "failed": list(selectors.trades_failed(since=now - timezone.timedelta(hours=24))[:100]),
        "can_act": request.user.role == Role.DEPOSITORY_OPERATOR,
    }
    return render(request, "settlement/monitor.html", context)


@role_required(*SUPERVISORS)
def monitor_data(request):
    summary = selectors.monitor_summary()
    summary["as_of"] = summary["as_of"].isoformat()
    return JsonResponse(summary)


@role_required(*SUPERVISORS)
@require_POST
def trade_action(request, trade_id: int, action: str):
    service = ACTIONS.get(action)
    if service is None:
        raise PermissionDenied
    try:
        service(actor=request.user, trade_id=trade_id, reason=request.POST.get("reason", ""), ip=client_ip(request))
    except DomainError as exc:
        messages.error(request, _("Trade %(id)s: %(error)s") % {"id": trade_id, "error": exc.message})
    else:
        done = {"hold": _("held"), "release": _("released"), "refuse": _("refused")}[action]
        messages.success(request, _("Trade %(id)s %(done)s.") % {"id": trade_id, "done": done})
    return redirect("settlement-monitor")
