"""The depository's console: issuances with lock-ups, the lock-ups still running, the register as of a date."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from core.audit import client_ip
from core.errors import DomainError
from core.forms import domain_error_message
from core.models import Account, Role
from core.money import shares_text
from core.permissions import role_required
from registry.models import Security

from . import services
from .forms import HolderFormSet, IssuanceForm, RegisterForm
from .models import LockUp
from .register import register_as_of


@role_required(Role.DEPOSITORY_OPERATOR)
def console(request):
    form = IssuanceForm(request.POST or None, prefix="issue")
    holders = HolderFormSet(request.POST or None, prefix="holders")
    if request.method == "POST" and form.is_valid() and holders.is_valid():
        rows = [h.cleaned_data for h in holders if h.cleaned_data]
        accounts = {a.code: a for a in Account.objects.filter(code__in=[r["account"].strip() for r in rows])}
        unknown = sorted({r["account"].strip() for r in rows} - set(accounts))
        if not rows:
            form.add_error(None, gettext("An issuance needs at least one holder."))
        elif unknown:
            form.add_error(None, gettext("No such account: %(codes)s.") % {"codes": ", ".join(unknown)})
        else:
            try:
                services.securities_issue(
                    actor=request.user,
                    security_code=form.cleaned_data["security"].code,
                    allocations=[
                        services.Holding(
                            accounts[r["account"].strip()], r["quantity"], r["locked_quantity"] or 0, r["locked_until"]
                        )
                        for r in rows
                    ],
                    reference=form.cleaned_data["reference"],
                    ip=client_ip(request),
                )
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                messages.success(
                    request,
                    gettext("%(n)s shares of %(code)s are registered.")
                    % {"n": shares_text(sum(r["quantity"] for r in rows)), "code": form.cleaned_data["security"].code},
                )
                return redirect("depository")
    securities = list(Security.objects.order_by("code"))
    for security in securities:  # counted as the holder cap counts them, beside the cap (a handful of securities)
        security.holders = services.holders_counted(security.pk)
    lockups = LockUp.objects.filter(released_at__isnull=True).select_related("account", "security").order_by("until")
    context = {
        "form": form,
        "holders": holders,
        "securities": securities,
        "lockups": lockups[:200],
        "register_form": RegisterForm(initial={"as_of": services.shanghai_today()}),
    }
    return render(request, "balances/depository.html", context)


@role_required(Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR)
def register(request):
    form = RegisterForm(request.GET or None, initial={"as_of": services.shanghai_today()})
    lines = None
    if form.is_bound and form.is_valid():
        if form.cleaned_data["as_of"] > services.shanghai_today():
            form.add_error("as_of", gettext("as_of cannot be in the future."))
        else:
            lines = register_as_of(form.cleaned_data["security"], form.cleaned_data["as_of"])
    context = {"form": form, "lines": lines, "total": sum(line.quantity for line in lines or [])}
    return render(request, "balances/register.html", context)
