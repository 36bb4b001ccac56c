"""The regulator's surveillance console (auditors read it): the alerts with filters, one alert with its trades
and their ledger leaves, its history (every move and note) and its state changes with a note (a closed one
reopened with a note), and the rules with their editable thresholds."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as PagePermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from core.audit import client_ip
from core.errors import DomainError
from core.errors import PermissionDenied as PermissionDeniedError
from core.forms import domain_error_message, report_refusal
from core.models import Role
from core.permissions import role_required
from exchange.models import Trade

from . import rules, services
from .models import Alert, Rule

PAGE_SIZE = 50


@role_required(Role.REGULATOR, Role.AUDITOR)
def alerts(request):
    state, rule = request.GET.get("state", ""), request.GET.get("rule", "")
    queryset = Alert.objects.select_related("rule", "security").order_by("-id")
    if state in Alert.State.values:
        queryset = queryset.filter(state=state)
    if rule in Rule.Code.values:
        queryset = queryset.filter(rule__code=rule)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "rule": rule,
        "states": Alert.State.choices,
        "rules": Rule.Code.choices,
    }
    return render(request, "surveillance/alerts.html", context)


@role_required(Role.REGULATOR, Role.AUDITOR)
def alerts_moved(request):
    """``/surveillance/alerts/``, where one alert's address suggests the list is (found by a probe: a 404): a
    permanent redirect to the list, its filters kept. Only for those who may read the list; anyone else is
    refused here as they would be there."""
    query = request.GET.urlencode()
    return redirect(f"{reverse('surveillance-alerts')}?{query}" if query else "surveillance-alerts", permanent=True)


@role_required(Role.REGULATOR, Role.AUDITOR)
def alert_detail(request, alert_id: int):
    return _alert_page(request, alert_id)


def _alert_page(request, alert_id: int, *, typed: dict | None = None, error: str = "", status: int = 200):
    """One alert; after a refused change, the state and note as typed and the refusal beside the note (found by a
    walk-through: closing without a note came back with the state reset to "keep" and the reason only at the top
    of the page)."""
    alert = Alert.objects.select_related("rule", "security", "updated_by").filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    trades = Trade.objects.filter(pk__in=alert.trades).select_related("security", "buyer", "seller", "entry__leaf")
    context = {
        "alert": alert,
        # The securities of an alert about several (an order burst or a value spike across securities) are named
        # in the security's row, not among the figures.
        "securities": alert.detail.get("securities", []),
        "details": [(k, v) for k, v in alert.detail.items() if k != "securities"],
        "trades": trades.order_by("id"),
        "history": alert.events.select_related("by").order_by("id"),
        # The first choice keeps the state, to add a note alone (the API could; the page could not).
        "states": [
            ("", gettext("Keep “%(state)s” (add a note)") % {"state": alert.get_state_display()}),
            *(c for c in Alert.State.choices if c[0] != alert.state and c[0] in services.FORWARD.get(alert.state, ())),
        ],
        "note_max": services.NOTE_MAX_LENGTH,
        # The regulator acts on an alert's accounts from it: the identity reveal (recorded), a freeze proposed
        # with the account filled in, the account's audit trail (found by a probe: the codes led nowhere).
        "is_regulator": request.user.role == Role.REGULATOR,
        "can_change": request.user.role == Role.REGULATOR and alert.state != Alert.State.CLOSED,
        "can_reopen": request.user.role == Role.REGULATOR and alert.state == Alert.State.CLOSED,
        "typed": typed or {},
        "change_error": error,
    }
    return render(request, "surveillance/alert.html", context, status=status)


@role_required(Role.REGULATOR, Role.AUDITOR)
@require_POST
def alert_change(request, alert_id: int):
    if request.user.role != Role.REGULATOR:
        raise PagePermissionDenied
    if not request.POST.get("state") and not request.POST.get("note", "").strip():
        messages.error(request, gettext("Write a note, or choose a new state: nothing was changed."))
        return redirect("surveillance-alert", alert_id=alert_id)
    typed = {"state": request.POST.get("state", ""), "note": request.POST.get("note", "")}
    try:
        services.alert_change(
            actor=request.user,
            alert_id=alert_id,
            state=typed["state"] or None,
            note=typed["note"],
            ip=client_ip(request),
        )
    except DomainError as exc:
        if exc.code == PermissionDeniedError.code:
            report_refusal(request, exc)  # a 403 page with the reason
        # The page again (400), what was typed still in the form, the refusal beside the note, once (found by a
        # review: a message above the page said it a second time); nothing changed.
        return _alert_page(request, alert_id, typed=typed, error=domain_error_message(exc), status=exc.status)
    messages.success(request, gettext("The alert is updated."))
    return redirect("surveillance-alert", alert_id=alert_id)


@role_required(Role.REGULATOR, Role.AUDITOR)
@require_POST
def alert_reopen(request, alert_id: int):
    if request.user.role != Role.REGULATOR:
        raise PagePermissionDenied
    try:
        services.alert_reopen(
            actor=request.user, alert_id=alert_id, note=request.POST.get("note", ""), ip=client_ip(request)
        )
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(request, gettext("The alert is reopened."))
    return redirect("surveillance-alert", alert_id=alert_id)


@role_required(Role.REGULATOR, Role.AUDITOR)
def rule_list(request):
    return _rules_page(request)


def _rules_page(request, *, refused: str | None = None, errors: dict | None = None, status: int = 200):
    """The rules with their thresholds; the ``refused`` rule shows what was sent, not what is stored, so that a
    refused change keeps what the regulator typed (found by a walk: the page redirected and the figure was gone)."""
    rows = []
    for rule in Rule.objects.select_related("updated_by").order_by("id"):
        spec = rules.THRESHOLDS.get(rule.code, {})
        sent = rule.code == refused
        rows.append(
            {
                "rule": rule,
                "enabled": request.POST.get("enabled") == "on" if sent else rule.enabled,
                "thresholds": [
                    {
                        "name": name,
                        "label": t.label,
                        "value": request.POST.get(f"t_{name}", "") if sent else rule.thresholds.get(name, ""),
                        "error": (errors or {}).get(name) if sent else None,
                        "low": t.low,
                        "high": t.high,
                    }
                    for name, t in spec.items()
                ],
            }
        )
    context = {"rows": rows, "can_change": request.user.role == Role.REGULATOR}
    return render(request, "surveillance/rules.html", context, status=status)


@role_required(Role.REGULATOR, Role.AUDITOR)
@require_POST
def rule_change(request, code: str):
    if request.user.role != Role.REGULATOR:
        raise PagePermissionDenied
    spec = rules.THRESHOLDS.get(code, {})
    try:
        services.rule_change(
            actor=request.user,
            code=code,
            enabled=request.POST.get("enabled") == "on",
            thresholds={name: request.POST.get(f"t_{name}", "") for name in spec},
            ip=client_ip(request),
        )
    except services.RuleUnchanged:  # the form sends every field: the API's message names API fields
        messages.info(
            request, gettext("The rule “%(rule)s” is as it was: nothing was changed.") % {"rule": Rule.Code(code).label}
        )
    except DomainError as exc:
        fields = getattr(exc, "fields", None)
        if fields:  # a threshold's problem under the label the page shows it by, not its API name
            for name, problem in fields.items():
                label = spec[name].label if name in spec else name
                messages.error(request, f"{label}: {problem}")
        else:
            report_refusal(request, exc)
        return _rules_page(request, refused=code, errors=fields, status=400)
    else:
        messages.success(request, gettext("The rule “%(rule)s” is saved.") % {"rule": Rule.Code(code).label})
    return redirect("surveillance-rules")
