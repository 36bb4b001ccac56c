"""The depository's console: issuances with lock-ups, proposed by one depository operator and approved (or
rejected) by another, or withdrawn by their proposer; the lock-ups still running; the register as of a date."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied as PagePermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_http_methods

from core import errors as err
from core.audit import client_ip
from core.errors import DomainError
from core.forms import domain_error_message, form_refusal_noted, report_refusal
from core.models import Account, Role
from core.money import shares_text
from core.permissions import role_required
from registry.models import Security

from . import issuances, services
from .forms import HolderFormSet, IssuanceForm, RegisterForm
from .models import IssuanceProposal, LockUp
from .register import register_as_of


@role_required(Role.DEPOSITORY_OPERATOR)
def console(request):
    form = IssuanceForm(request.POST or None, prefix="issue")
    holders = HolderFormSet(request.POST or None, prefix="holders")
    if request.method == "POST" and form.is_valid() and holders.is_valid():
        rows = [h.cleaned_data for h in holders if h.cleaned_data]
        # A code as typed ("inv000005 "), as every other page takes it (found by a walk: "No such account: inv000005.")
        typed = [Account.typed_code(r["account"]) for r in rows]
        accounts = {a.code: a for a in Account.objects.filter(code__in=typed)}
        unknown = sorted(set(typed) - set(accounts))
        if not rows:
            form.add_error(None, gettext("An issuance needs at least one holder."))
        elif unknown:
            form.add_error(None, gettext("No such account: %(codes)s.") % {"codes": ", ".join(unknown)})
        else:
            try:
                proposal = issuances.issuance_propose(
                    actor=request.user,
                    security_code=form.cleaned_data["security"].code,
                    allocations=[
                        services.Holding(accounts[code], r["quantity"], r["locked_quantity"] or 0, r["locked_until"])
                        for code, r in zip(typed, rows, strict=True)
                    ],
                    reference=form.cleaned_data["reference"],
                    ip=client_ip(request),
                )
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                messages.success(
                    request,
                    gettext(
                        "Issuance %(id)s of %(n)s shares of %(code)s is proposed; a second depository operator "
                        "approves it, and the shares are credited then."
                    )
                    % {"id": proposal.pk, "n": shares_text(proposal.quantity), "code": proposal.security.code},
                )
                return redirect("depository")
    # A proposal refused before the service (its forms, no holder, an unknown account) is on the audit trail, as
    # the API's refusal of it is; the service's refusal was noted already, with its code.
    form_refusal_noted(form, holders)
    return _console_page(request, form=form, holders=holders)


@dataclass(frozen=True)
class RowRefusal:
    """A decision on one proposal refused for its reason: the proposal, the action, the reason as typed and the
    refusal, which that row's form shows (``supervision/_row_reason.html``)."""

    pk: int
    action: str
    reason: str
    message: str


def _console_page(request, *, form=None, holders=None, refused: RowRefusal | None = None, status: int = 200):
    securities = list(Security.objects.order_by("code"))
    counted = services.holders_counted_many([s.pk for s in securities])  # as the holder cap counts them
    for security in securities:
        security.holders = counted[security.pk]
    lockups = LockUp.objects.filter(released_at__isnull=True).select_related("account", "security").order_by("until")
    proposals = list(
        IssuanceProposal.objects.filter(status=IssuanceProposal.Status.PROPOSED)
        .select_related("security", "proposed_by")
        .order_by("id")[:100]
    )
    decided = list(
        IssuanceProposal.objects.exclude(status=IssuanceProposal.Status.PROPOSED)
        .select_related("security", "proposed_by", "decided_by")
        .order_by("-id")[:20]
    )
    for row in proposals:
        row.refused = refused if refused is not None and refused.pk == row.pk else None
    context = {
        "form": IssuanceForm(prefix="issue") if form is None else form,
        "holders": HolderFormSet(prefix="holders") if holders is None else holders,
        "securities": securities,
        "proposals": proposals,
        "decided": decided,
        "lockups": lockups[:200],
        "register_form": RegisterForm(initial={"as_of": services.shanghai_today()}),
    }
    return render(request, "balances/depository.html", context, status=status)


DECISIONS = {
    "approve": lambda u, pk, r, ip: issuances.issuance_approve(actor=u, issuance_id=pk, ip=ip),
    "reject": lambda u, pk, r, ip: issuances.issuance_reject(actor=u, issuance_id=pk, reason=r, ip=ip),
    "withdraw": lambda u, pk, r, ip: issuances.issuance_withdraw(actor=u, issuance_id=pk, reason=r, ip=ip),
}
# What each decision says when done, and above the page the proposal a refusal is about, in the reader's language.
DONE = {
    "approve": gettext_noop("Issuance %(id)s approved: the shares are credited to their holders."),
    "reject": gettext_noop("Issuance proposal %(id)s rejected."),
    "withdraw": gettext_noop("Issuance proposal %(id)s withdrawn."),
}
ROW_REFUSED = gettext_noop("Issuance proposal %(id)s: %(error)s")
# A decision refused for its reason (none, or too long) comes back to its row; other refusals are messages.
REASON_REFUSALS = frozenset({err.ReasonRequired.code, err.ReasonTooLong.code})


@role_required(Role.DEPOSITORY_OPERATOR)
@require_http_methods(["GET", "POST"])
def decide(request, pk: int, action: str):
    """Approve, reject or withdraw an issuance proposal, as supervision's ``decide``."""
    fn = DECISIONS.get(action)
    if fn is None:
        raise PagePermissionDenied
    if request.method == "GET":
        # A GET of a decision's address (the language switch reloads the page it is on) is the console.
        return redirect("depository")
    reason = request.POST.get("reason", "")
    try:
        fn(request.user, pk, reason, client_ip(request))
    except DomainError as exc:
        if exc.code not in REASON_REFUSALS:
            if exc.code == err.PermissionDenied.code:
                report_refusal(request, exc)  # a 403 page with the reason
            messages.error(request, gettext(ROW_REFUSED) % {"id": pk, "error": domain_error_message(exc)})
            return redirect("depository")
        message = domain_error_message(exc)
        messages.error(request, gettext(ROW_REFUSED) % {"id": pk, "error": message})
        refused = RowRefusal(pk=pk, action=action, reason=reason, message=message)
        return _console_page(request, refused=refused, status=400)
    messages.success(request, gettext(DONE[action]) % {"id": pk})
    return redirect("depository")


@role_required(Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR)
def register(request):
    query = request.GET.copy()
    if query.get("security") and not query.get("as_of"):
        # A link that names the security alone (a bookmark, ?security=830001) means today's register: it answered
        # "This field is required." beside the date before anything was asked (found by a walk).
        query["as_of"] = services.shanghai_today().isoformat()
    form = RegisterForm(query or None, initial={"as_of": services.shanghai_today()})
    lines = None
    if form.is_bound and form.is_valid():
        if form.cleaned_data["as_of"] > services.shanghai_today():
            # The page names its date as its field does, not as the API's parameter (found by a walk: "as_of
            # cannot be in the future." on the English page).
            form.add_error("as_of", gettext("The date cannot be after today: the register is known up to today."))
        else:
            lines = register_as_of(form.cleaned_data["security"], form.cleaned_data["as_of"])
    context = {"form": form, "lines": lines, "total": sum(line.quantity for line in lines or [])}
    return render(request, "balances/register.html", context)
