"""The negotiated-transfer page (协议转让): propose, the proposals awaiting me with their expiry, confirm with the
code, withdraw. The same page serves an investor for its own account and broker staff for a client at the
counter (``counter`` renders it with the client), where every action is marked as counter-entered."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.audit import client_ip
from core.forms import IntegerField, PlainDecimalField, domain_error_message
from core.models import Account, User
from registry import profile

from . import selectors
from .forms import investor_refusal
from .models import NegotiatedTrade
from .services import negotiated as neg

MAX_QUANTITY = 10**12


class ProposeForm(forms.Form):
    security = forms.ChoiceField(label=_("Security"))
    side = forms.ChoiceField(label=_("Side"), choices=NegotiatedTrade.Side.choices, initial="buy")
    quantity = IntegerField(label=_("Quantity (shares)"), min_value=1, max_value=MAX_QUANTITY)
    price = PlainDecimalField(label=_("Price (CNY)"), min_value=Decimal("0.01"), max_digits=14)
    counterparty = forms.CharField(label=_("Counterparty's account code"), max_length=32)
    client_request_id = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, securities, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["security"].choices = [(s.code, f"{s.code} {s.name}") for s in securities]


class ConfirmForm(forms.Form):
    code = forms.CharField(label=_("Confirmation code"), max_length=32)


def _rows(account: Account, actor: User):
    """Proposals awaiting the account's confirmation, its own open proposals, and the last 20 closed ones."""
    now = timezone.now()
    visible = neg.negotiated_visible(actor).filter(Q(proposer=account) | Q(counterparty=account))
    still_open = Q(status=NegotiatedTrade.Status.PROPOSED, expires_at__gt=now)
    open_ = visible.filter(still_open)
    waiting = list(open_.filter(counterparty=account))
    mine = list(open_.filter(proposer=account))
    closed = list(visible.exclude(still_open)[:20])
    for proposal in closed:  # past its expiry, a proposal is shown expired before the sweep closes it (read only)
        proposal.status = proposal.status_at(now)
    return waiting, mine, closed


def negotiated_page(request, *, account: Account, template: str, extra: dict | None = None):
    """GET shows the page; POST does one action (``propose``, ``confirm`` or ``withdraw``) then redirects."""
    actor = request.user
    securities = [s for s in selectors.securities_listed() if profile.mode_allowed(s, profile.NEGOTIATED)]
    # ``?security=``: the security page and the market watch link here for a security they name.
    initial = {"client_request_id": uuid.uuid4().hex, "security": request.GET.get("security", "")}
    propose_form = ProposeForm(initial=initial, securities=securities)
    confirm_form = ConfirmForm()
    confirm_for = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "propose":
                propose_form = ProposeForm(request.POST, securities=securities)
                if propose_form.is_valid():
                    data = propose_form.cleaned_data
                    proposal, code, created = neg.negotiated_propose(
                        actor=actor,
                        account=account,
                        request=neg.NegotiatedRequest(**data),
                        ip=client_ip(request),
                    )
                    if created:
                        messages.success(
                            request,
                            gettext(
                                "Proposal %(id)s sent to %(counterparty)s. Its confirmation code is %(code)s: pass it"
                                " to the counterparty; it is shown only this once."
                            )
                            % {"id": proposal.pk, "counterparty": proposal.counterparty.code, "code": code},
                        )
                    else:
                        messages.info(request, gettext("This proposal was already sent; it was not sent twice."))
                    return HttpResponseRedirect(request.path)
            elif action == "confirm":
                confirm_for = _proposal_id(request)
                confirm_form = ConfirmForm(request.POST)
                if confirm_form.is_valid():
                    p = neg.negotiated_confirm(
                        actor=actor,
                        proposal_id=confirm_for,
                        code=confirm_form.cleaned_data["code"],
                        ip=client_ip(request),
                    )
                    messages.success(
                        request,
                        gettext("Proposal %(id)s confirmed: trade %(trade)s.") % {"id": p.pk, "trade": p.trade_id},
                    )
                    return HttpResponseRedirect(request.path)
            elif action == "withdraw":
                p = neg.negotiated_withdraw(actor=actor, proposal_id=_proposal_id(request), ip=client_ip(request))
                messages.success(request, gettext("Proposal %(id)s withdrawn.") % {"id": p.pk})
                return HttpResponseRedirect(request.path)
            else:
                raise err.InvalidInput(gettext("Unknown action."))
        except err.DomainError as exc:
            target = propose_form if action == "propose" else confirm_form
            if action == "propose":
                target.data = target.data.copy()
                target.data["client_request_id"] = uuid.uuid4().hex
            if action in ("propose", "confirm"):
                # A refusal about one field is said on it, tied to its box (found by a walk-through: "There is no
                # trading account with this code" stood above the form, tied to no field).
                field = getattr(exc, "field", None) or REFUSAL_FIELDS.get(exc.code)
                said = domain_error_message(exc) if actor.pk != account.owner_id else investor_refusal(exc)
                target.add_error(field if field in target.fields else None, said)
            else:
                messages.error(request, domain_error_message(exc))
    waiting, mine, closed = _rows(account, actor)
    context = {
        "account": account,
        "propose_form": propose_form,
        "confirm_form": confirm_form,
        "confirm_for": confirm_for,
        "waiting": waiting,
        "mine": mine,
        "closed": closed,
        "at_counter": actor.pk != account.owner_id,
        **(extra or {}),
    }
    return render(request, template, context)


# The service's refusals that concern one field of the form: said on that field.
REFUSAL_FIELDS = {
    neg.UnknownCounterparty.code: "counterparty",
    err.SelfTrade.code: "counterparty",  # the proposer's own account named as the counterparty
    neg.WrongCode.code: "code",
}


def _proposal_id(request) -> int:
    try:
        return int(request.POST.get("proposal", ""))
    except ValueError as exc:
        raise err.NotFound(gettext("No such proposal.")) from exc


@login_required
def negotiated(request):
    """An investor's (or market maker's) own negotiated transfers."""
    account = selectors.account_of(request.user)
    if account is None:
        raise PermissionDenied
    return negotiated_page(
        request,
        account=account,
        template="exchange/negotiated.html",
        extra={"kyc_pending": selectors.kyc_pending(request.user)},
    )
