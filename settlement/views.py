"""The settlement monitor page (depository operators act; other supervisors watch), with the standing
settlement instructions (depository operators and regulators set and end them; auditors see them)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core import errors as err
from core.audit import client_ip
from core.errors import REASON_MAX_LENGTH, DomainError
from core.forms import domain_error_message, form_refusal_noted, report_refusal
from core.models import Role
from core.permissions import role_required
from core.roles import SUPERVISORS

from . import instructions, selectors, services
from .forms import InstructionEndForm, InstructionForm

ACTIONS = {"hold": services.trade_hold, "release": services.trade_release, "refuse": services.trade_refuse}

# The rows the monitor shows of each list (the page, and each refresh of it).
PENDING_ROWS = 200
HELD_ROWS = 200
ENDED_INSTRUCTION_ROWS = 100


def _can_act(request) -> bool:
    return request.user.role == Role.DEPOSITORY_OPERATOR


def _lists(request) -> dict:
    return {
        "awaiting": list(selectors.trades_awaiting()[:PENDING_ROWS]),
        "held": selectors.reasons_masked(list(selectors.trades_held()[:HELD_ROWS]), request.user),
    }


@role_required(*SUPERVISORS)
def monitor(
    request,
    *,
    form: InstructionForm | None = None,
    end_form: tuple[int, InstructionEndForm] | None = None,
    status: int = 200,
):
    """The monitor; ``form``: the instruction form as sent, with its errors; ``end_form``: an instruction's id and
    the end form sent for it, whose errors its row shows next to the reason."""
    now = timezone.now()
    context = {
        "summary": selectors.monitor_summary(now=now),
        **_lists(request),
        "failed": selectors.reasons_masked(
            list(selectors.trades_failed(since=now - timezone.timedelta(hours=24))[:100]), request.user
        ),
        "net_blocked": selectors.net_windows_blocked(),
        "can_act": _can_act(request),
        "can_read_instructions": request.user.role in instructions.READERS,
        "can_set_instructions": request.user.role in instructions.SETTERS,
    }
    if context["can_read_instructions"]:
        context["instructions"] = list(instructions.instructions_active(now))
        for i in context["instructions"]:
            i.may_end = instructions.instruction_may_end(request.user, i)
            i.end_form = end_form[1] if end_form is not None and end_form[0] == i.pk else None
        context["ended_instructions"] = list(instructions.instructions_recently_ended(now)[:ENDED_INSTRUCTION_ROWS])
        context["recently_ended_days"] = instructions.RECENTLY_ENDED.days
        # An account named in the address (an alert's "hold its settlements") fills the form's account.
        prefill = {"account": request.GET.get("account", "")[:32]} if request.method == "GET" else {}
        context["instruction_form"] = form or InstructionForm(setter_role=request.user.role, initial=prefill)
        context["reason_max"] = REASON_MAX_LENGTH
    return render(request, "settlement/monitor.html", context, status=status)


@role_required(*SUPERVISORS)
def monitor_data(request):
    """The summary, and the pending and held lists rendered by the page's own template (refreshed every 3 s)."""
    summary = selectors.monitor_summary()
    summary["as_of"] = summary["as_of"].isoformat()
    lists = _lists(request)
    can_act = _can_act(request)
    for kind, rows in (("pending", lists["awaiting"]), ("held", lists["held"])):
        summary[f"{kind}_html"] = render_to_string(
            "settlement/_trades.html", {"rows": rows, "kind": kind, "can_act": can_act}, request=request
        )
        # What the rows show that can change: which trades, and (pending) the block each was sealed in.
        summary[f"{kind}_key"] = ",".join(f"{t.pk}:{getattr(t, 'block_height', '')}" for t in rows)
    # The net windows that cannot settle, and why (drawn whenever a window's note or its trades waiting change).
    net = selectors.net_windows_blocked()
    summary["net_html"] = render_to_string("settlement/_net_windows.html", {"rows": net}, request=request)
    summary["net_key"] = ",".join(f"{w.security}:{w.why}:{w.account}:{w.trades}:{w.tried_at.isoformat()}" for w in net)
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
        # As every page answers a refusal (core.forms): on the audit trail as refused, as the API's is (found by an
        # outside tester: the monitor's were not), and a 403 page with the reason for a role that may not act.
        if isinstance(exc, err.PermissionDenied):
            report_refusal(request, exc)
        messages.error(request, _("Trade %(id)s: %(error)s") % {"id": trade_id, "error": domain_error_message(exc)})
    else:
        done = {"hold": _("held"), "release": _("released"), "refuse": _("refused")}[action]
        messages.success(request, _("Trade %(id)s %(done)s.") % {"id": trade_id, "done": done})
    return redirect("settlement-monitor")


@role_required(*instructions.SETTERS)
@require_http_methods(["GET", "POST"])
def instruction_create(request):
    # A refused instruction comes back on the monitor (400) at this address: a GET of it (the language switch
    # reloads the page it is on) is the monitor.
    if request.method == "GET":
        return redirect("settlement-monitor")
    form = InstructionForm(request.POST, setter_role=request.user.role)
    if form.is_valid():
        data = form.cleaned_data
        try:
            instruction = instructions.instruction_create(
                actor=request.user,
                account_code=data["account"],
                security_code=data["security"],
                min_amount=data["min_amount"],
                reason=data["reason"],
                ends_at=data["ends_at"],
                ip=client_ip(request),
            )
        except DomainError as exc:
            if isinstance(exc, err.PermissionDenied):
                report_refusal(request, exc)
            form.add_error(None, domain_error_message(exc))
        else:
            messages.success(request, _("Settlement instruction %(id)s set.") % {"id": instruction.pk})
            return redirect("settlement-monitor")
    form_refusal_noted(form)  # refused by its form: on the audit trail, as the API's (the service's was noted)
    return monitor(request, form=form, status=400)


@role_required(*instructions.SETTERS)
@require_http_methods(["GET", "POST"])
def instruction_end(request, instruction_id: int):
    if request.method == "GET":  # as instruction_create: the monitor, after a refused end and a language switch
        return redirect("settlement-monitor")
    form = InstructionEndForm(request.POST)
    if not form.is_valid():
        # The monitor again, the error next to that row's reason and above; nothing changed.
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        messages.error(request, _("Instruction %(id)s: %(error)s") % {"id": instruction_id, "error": problems})
        form_refusal_noted(form)
        return monitor(request, end_form=(instruction_id, form), status=400)
    try:
        instructions.instruction_end(
            actor=request.user,
            instruction_id=instruction_id,
            reason=form.cleaned_data["reason"],
            ip=client_ip(request),
        )
    except DomainError as exc:
        # Ending another role's instruction is a 403 page with the reason, as the API answers; nothing changed.
        # Either way the refusal is on the audit trail (core.forms.domain_error_message).
        if isinstance(exc, err.PermissionDenied):
            report_refusal(request, exc)
        messages.error(
            request, _("Instruction %(id)s: %(error)s") % {"id": instruction_id, "error": domain_error_message(exc)}
        )
    else:
        messages.success(request, _("Settlement instruction %(id)s ended.") % {"id": instruction_id})
    return redirect("settlement-monitor")
