"""The exchange operator's console: every security's state, halt and resume with a reason, the market switch,
the holidays of the trading calendar, listing and changing securities; and the security page (anyone signed
in): its parameters and its disclosure documents."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PagePermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from core.audit import client_ip, refusal_noted
from core.errors import DomainError, InvalidInput, PermissionDenied
from core.forms import domain_error_message, form_refusal_noted, report_refusal
from core.models import AuditEvent, Role
from core.permissions import role_required
from ledger import published, witnessing
from ledger.models import Leaf

from . import disclosures, holidays, hooks, listing, profile, services
from .forms import DisclosureCheckForm, DisclosureForm, SecurityChangeForm, SecurityListForm
from .models import Disclosure, MarketState, Security


@role_required(Role.EXCHANGE_OPERATOR)
def console(request):
    return _console(request)


def _delisted() -> list[dict]:
    """The delisted securities, newest first, each with when and why (its delisting's audit record): the operator's
    console listed only the others, and what was delisted, when and why was nowhere to be seen (found by a walk)."""
    securities = {s.code: s for s in Security.objects.filter(status=Security.Status.DELISTED)}
    records = AuditEvent.objects.filter(action="security_delist", outcome="ok", target__in=list(securities))
    last = {e.target: e for e in records.order_by("at", "pk")}
    rows = [
        {
            "security": security,
            "at": last[code].at if code in last else None,
            "reason": last[code].detail.get("reason", "") if code in last else "",
        }
        for code, security in securities.items()
    ]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(rows, key=lambda r: (r["at"] or epoch, r["security"].code), reverse=True)


def _console(request, *, status: int = 200, **extra):
    context = {
        "securities": Security.objects.exclude(status=Security.Status.DELISTED).order_by("code"),
        "delisted": _delisted(),
        "market": MarketState.objects.filter(id=1).first() or MarketState(id=1),
        "holidays": holidays.holidays_upcoming(),
        "holiday_name_max": holidays.HOLIDAY_NAME_MAX_LENGTH,
        "witnesses": witnessing.status(),
        "witness_refusals": list(witnessing.refusals()),
        "final_height": witnessing.final_height() if settings.LEDGER_WITNESSES else None,
        # The database's ledger behind or forked from a checkpoint already published: nothing is sealed.
        "ledger_held": published.held() or published.held_at_last_seal(),
    }
    context["split_views"] = witnessing.split_view_blocks()  # each refused checkpoint once
    return render(request, "registry/operations.html", {**context, **extra}, status=status)


@role_required(Role.EXCHANGE_OPERATOR)
@require_POST
def security_switch(request, code: str, action: str):
    service = {"halt": services.security_halt, "resume": services.security_resume}.get(action)
    if service is None:
        return redirect("operations")
    try:
        security = service(actor=request.user, code=code, reason=request.POST.get("reason", ""), ip=client_ip(request))
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        text = gettext("%(code)s is halted.") if action == "halt" else gettext("%(code)s trades again.")
        messages.success(request, text % {"code": security.code})
    return redirect("operations")


@role_required(Role.EXCHANGE_OPERATOR)
@require_POST
def market_switch(request, action: str):
    service = {"halt": services.market_halt, "resume": services.market_resume}.get(action)
    if service is None:
        return redirect("operations")
    try:
        service(actor=request.user, reason=request.POST.get("reason", ""), ip=client_ip(request))
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        # A halt is said by the banner every page shows while it lasts ("Trading is halted across the market;
        # settlement is paused."): a message of its own said the same again above it (found by a review).
        if action == "resume":
            messages.success(request, gettext("The market trades again; settlement catches up."))
    return redirect("operations")


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


@role_required(Role.EXCHANGE_OPERATOR)
@require_http_methods(["GET", "POST"])
def holiday_add(request):
    # A refused holiday comes back on the console (400) with what was typed and the reason beside the form, at
    # this address: a GET of it (the language switch reloads the page it is on) is the console.
    if request.method == "GET":
        return redirect("operations")
    typed = {"date": request.POST.get("date", "")[:10], "name": request.POST.get("name", "")}

    def refused(message: str):
        return _console(request, status=400, holiday_typed=typed, holiday_error=message)

    day = _date(typed["date"])
    if day is None:
        message = gettext("The date must be written YYYY-MM-DD.")
        refusal_noted(InvalidInput(message), fields={"date": [message]})  # on the audit trail, as the API's
        return refused(message)
    try:
        holiday = holidays.holiday_add(actor=request.user, date=day, name=typed["name"], ip=client_ip(request))
    except DomainError as exc:
        return refused(domain_error_message(exc))
    else:
        messages.success(
            request,
            gettext("%(date)s (%(name)s) is a holiday: the market is closed that day.")
            % {"date": holiday.date.isoformat(), "name": holiday.name},
        )
    return redirect("operations")


@role_required(Role.EXCHANGE_OPERATOR)
@require_POST
def holiday_remove(request, date: str):
    day = _date(date)
    if day is None:
        messages.error(request, gettext("The date must be written YYYY-MM-DD."))
        return redirect("operations")
    try:
        holidays.holiday_remove(actor=request.user, date=day, ip=client_ip(request))
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(request, gettext("%(date)s is a trading day again.") % {"date": day.isoformat()})
    return redirect("operations")


def _form_failed(form, exc: DomainError):
    form.add_error(None, domain_error_message(exc))


@role_required(Role.EXCHANGE_OPERATOR)
def security_new(request):
    form = SecurityListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            security = listing.security_list(
                actor=request.user, code=form.cleaned_data["code"], data=form.parameters(), ip=client_ip(request)
            )
        except DomainError as exc:
            _form_failed(form, exc)
        else:
            messages.success(request, gettext("%(code)s is listed.") % {"code": security.code})
            return redirect("operations")
    form_refusal_noted(form)  # a listing its form refused: on the audit trail, as the API's
    return render(request, "registry/security_form.html", {"form": form, "security": None})


@role_required(Role.EXCHANGE_OPERATOR)
def security_edit(request, code: str):
    security = get_object_or_404(Security, code=code)
    form = SecurityChangeForm(request.POST or None, initial=SecurityChangeForm.initial_of(security))
    if request.method == "POST" and form.is_valid():
        try:
            listing.security_change(
                actor=request.user,
                code=code,
                data=form.parameters(),
                reason=form.cleaned_data["reason"],
                confirm_holder_cap_below_holders=form.cleaned_data["confirm_holder_cap_below_holders"],
                ip=client_ip(request),
            )
        except listing.HolderCapBelowHolders as exc:
            # Next to the checkbox that confirms it, which the page shows now.
            form.add_error("confirm_holder_cap_below_holders", domain_error_message(exc))
        except DomainError as exc:
            _form_failed(form, exc)
        else:
            messages.success(request, gettext("%(code)s is changed.") % {"code": code})
            security.refresh_from_db()
            for override in profile.overrides(security):
                messages.warning(request, f"{code}: {override.message}")
            return redirect("operations")
    form_refusal_noted(form)  # a change its form refused: on the audit trail, as the API's
    return _security_form(request, form, security)


def _security_form(request, form, security: Security, *, status: int = 200, delist: dict | None = None):
    """The change page; ``delist``: the delist form as sent (``reason``) and its refusal (``error``)."""
    # Where the security's own switches are looser than the venue's profile, the page says the venue's apply (found
    # by a tester: a change to 500 holders under cn-regional-2017 was saved with no word that 200 apply).
    overrides = profile.overrides(security) if security is not None else []
    context = {"form": form, "security": security, "delist": delist or {}, "overrides": overrides}
    return render(request, "registry/security_form.html", context, status=status)


@role_required(Role.EXCHANGE_OPERATOR)
@require_http_methods(["GET", "POST"])
def security_delist(request, code: str):
    # A refused delisting comes back on the change page (400) at this address: a GET of it (the language switch
    # reloads the page it is on) is that page.
    if request.method == "GET":
        return redirect("operations-security-edit", code=code)
    reason = request.POST.get("reason", "")
    try:
        listing.security_delist(actor=request.user, code=code, reason=reason, ip=client_ip(request))
    except DomainError as exc:
        security = Security.objects.filter(code=code).first()
        if exc.code == PermissionDenied.code or security is None:
            report_refusal(request, exc)
            return redirect("operations")
        # The change page again, the refusal next to the delist form's reason and above naming the security (found
        # by a probe: "Give a reason." alone on the console, no field nor security named); nothing changed.
        error = domain_error_message(exc)
        messages.error(request, gettext("Delisting %(code)s: %(error)s") % {"code": code, "error": error})
        form = SecurityChangeForm(initial=SecurityChangeForm.initial_of(security))
        return _security_form(request, form, security, status=400, delist={"reason": reason, "error": error})
    messages.success(request, gettext("%(code)s is delisted; its resting orders are cancelled.") % {"code": code})
    return redirect("operations")


# --------------------------------------------------------------------------
# The security page: what anyone signed in sees of a security, its disclosure documents (download, and
# check a file one holds against the SHA-256 on the ledger), and the upload form for the operators who
# publish them. The apps above add their panels (``registry.hooks.register_security_panel``): the trading
# app's market data comes in that way.


def _security_page(request, security: Security, *, status: int = 200, **extra):
    documents = list(security.disclosures.order_by("-published_at", "-id"))
    leaves = dict(
        Leaf.objects.filter(entry_id__in=[d.entry_id for d in documents]).values_list("entry_id", "leaf_index")
    )
    for document in documents:
        document.leaf_index = leaves.get(document.entry_id)
    may_publish = request.user.role in disclosures.PUBLISHERS
    context = {
        "security": security,
        # The rules in force (the venue's profile with the security's switches), not the switches alone.
        "rules": profile.in_force(security),
        "documents": documents,
        "may_publish": may_publish,
        "upload_form": extra.pop("upload_form", None) or (DisclosureForm() if may_publish else None),
        "max_mb": settings.DISCLOSURE_MAX_BYTES // (1024 * 1024),
        # What the apps above add (the trading app: the day's figures, the chart, quotes, time and sales).
        "panels": hooks.security_panels(request, security),
        **extra,
    }
    return render(request, "registry/security.html", context, status=status)


def _security_or_404(code: str) -> Security:
    security = Security.objects.filter(code=code).first()
    if security is None:
        raise Http404
    return security


@login_required
def security_page(request, code: str):
    return _security_page(request, _security_or_404(code))


@login_required
@require_POST
def disclosure_upload(request, code: str):
    security = _security_or_404(code)
    if request.user.role not in disclosures.PUBLISHERS:
        raise PagePermissionDenied
    form = DisclosureForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            document = disclosures.disclosure_publish(
                actor=request.user,
                code=code,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                filename=upload.name,
                content=upload,
                ip=client_ip(request),
            )
        except DomainError as exc:
            form.add_error(None, domain_error_message(exc))
        else:
            messages.success(
                request,
                gettext("Published “%(title)s”; its SHA-256 is on the ledger.") % {"title": document.title},
            )
            return redirect("security", code=code)
    form_refusal_noted(form)  # a document its form refused: on the audit trail, as the API's
    return _security_page(request, security, status=400, upload_form=form)


@login_required
def disclosure_download(request, code: str, document_id: int):
    document = Disclosure.objects.filter(security__code=code, pk=document_id).first()
    if document is None:
        raise Http404
    try:
        handle = disclosures.disclosure_open(document)
    except DomainError as exc:
        report_refusal(request, exc)
        return redirect("security", code=code)
    response = FileResponse(handle, content_type=document.content_type, as_attachment=True, filename=document.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def disclosure_check(request, code: str, document_id: int):
    security = _security_or_404(code)
    document = security.disclosures.filter(pk=document_id).first()
    if document is None:
        raise Http404
    form = DisclosureCheckForm(request.POST, request.FILES)
    if not form.is_valid():
        return _security_page(request, security, status=400, check_document=document.pk, check_form=form)
    matches, sha256 = disclosures.disclosure_check(document, form.cleaned_data["file"])
    result = {"document": document, "matches": matches, "sha256": sha256}
    return _security_page(request, security, check_document=document.pk, check_result=result)
