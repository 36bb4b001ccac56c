"""The supervision pages: the regulator's console (freezes, forced transfers, corrections, each proposed by
one person and decided by another), and the freezes an account's broker or holder may see."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as PagePermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_http_methods

from core import errors as err
from core.audit import client_ip
from core.errors import DomainError
from core.forms import domain_error_message, form_refusal_noted, report_refusal
from core.labels import choice_label
from core.models import Account, Role
from core.names import account_name_for
from core.permissions import role_required
from core.roles import SUPERVISORS
from exchange import selectors as exchange_selectors
from exchange.models import Order, Trade
from ledger.models import Leaf

from . import selectors, services
from .api import ACCOUNT_HOLDERS, SUPERVISORY_READERS, _freezes_for
from .forms import AccountLookupForm, CorrectionForm, ForcedTransferForm, FreezeForm
from .models import Correction, ForcedTransfer

CORRECTION_ROLES = (Role.REGULATOR, Role.DEPOSITORY_OPERATOR, Role.EXCHANGE_OPERATOR)


def _try(request, form, fn, success) -> bool:
    """Run ``fn``; say ``success`` (or ``success(what fn returned)``) if it did, its refusal if not."""
    try:
        result = fn()
    except DomainError as exc:
        if form is None:
            report_refusal(request, exc)
        else:
            form.add_error(None, domain_error_message(exc))
        return False
    messages.success(request, success(result) if callable(success) else success)
    return True


@role_required(Role.REGULATOR)
def console(request):
    # An account named in the address (an alert's "propose a freeze") fills the freeze form's account.
    initial = {"account": request.GET.get("account", "")[:32]} if request.method == "GET" else {}
    freeze_form = FreezeForm(
        request.POST if request.POST.get("form") == "freeze" else None, prefix="freeze", initial=initial
    )
    transfer_form = ForcedTransferForm(
        request.POST if request.POST.get("form") == "transfer" else None, prefix="transfer"
    )
    ip = client_ip(request)
    if freeze_form.is_bound and freeze_form.is_valid():
        d = freeze_form.cleaned_data
        kind = d["kind"]

        def propose():
            services.freeze_propose(
                actor=request.user,
                account=d["account"],
                security=d["security"] if kind == "shares" else None,
                quantity=d["quantity"] if kind == "shares" else None,
                amount=d["amount"] if kind == "cash" else None,
                whole_account=kind == "account",
                trading=kind == "trading",
                legal_reference=d["legal_reference"],
                reason=d["reason"],
                expires_at=d["expires_at"],
                ip=ip,
            )

        if _try(request, freeze_form, propose, gettext("The freeze is proposed; a second regulator approves it.")):
            return redirect("supervision")
    if transfer_form.is_bound and transfer_form.is_valid():
        d = transfer_form.cleaned_data

        def propose_transfer():
            services.forced_transfer_propose(
                actor=request.user,
                freeze_id=d["freeze"],
                receiver=d["receiver"],
                # As typed: the service refuses shares and cash at once, or a security named for cash.
                security=d["security"] or None,
                quantity=d["quantity"],
                amount=d["amount"],
                legal_reference=d["legal_reference"],
                reason=d["reason"],
                ip=ip,
            )

        if _try(
            request,
            transfer_form,
            propose_transfer,
            gettext("The forced transfer is proposed; a second regulator approves it, and it moves then."),
        ):
            return redirect("supervision")
    # A proposal its form refused is on the audit trail, as the API's refusal of it is (a service's refusal was
    # noted already, with its code).
    form_refusal_noted(freeze_form, transfer_form)
    return _console_page(request, freeze_form=freeze_form, transfer_form=transfer_form)


def _console_page(request, *, freeze_form=None, transfer_form=None, refused: RowRefusal | None = None, status=200):
    """The console; ``refused``: a row's decision refused for its reason, which that row's form shows."""
    context = {
        "freeze_form": FreezeForm(prefix="freeze") if freeze_form is None else freeze_form,
        "transfer_form": ForcedTransferForm(prefix="transfer") if transfer_form is None else transfer_form,
        "freezes": _entries_in(
            _refused_in(list(_freezes_for(request.user).order_by("-id")[:100]), "freeze", refused), request.user
        ),
        "transfers": _entries_in(
            _refused_in(
                list(
                    ForcedTransfer.objects.select_related(
                        "freeze__account", "receiver", "security", "proposed_by", "decided_by"
                    ).order_by("-id")[:50]
                ),
                "transfer",
                refused,
            ),
            request.user,
        ),
    }
    return render(request, "supervision/console.html", context, status=status)


@dataclass(frozen=True)
class RowRefusal:
    """A decision on one row (a freeze, a transfer, a correction) refused for its reason: the row, the action, the
    reason as typed and the refusal."""

    what: str
    pk: int
    action: str
    reason: str
    message: str


def _entries_in(rows: list, user) -> list:
    """The rows, each carrying the leaf of its ledger entry (``row.entry_leaf``) and, a freeze, of its end's
    (``row.end_entry_leaf``), for those who may open the ledger explorer (supervisors): a freeze, a transfer or
    a correction led nowhere on the ledger (found by a walk). One query for all; an entry not sealed yet has none."""
    ids = {e for row in rows for e in (row.entry, getattr(row, "end_entry", None)) if e is not None}
    leaves = (
        dict(Leaf.objects.filter(entry_id__in=ids).values_list("entry_id", "leaf_index"))
        if ids and user.role in SUPERVISORS
        else {}
    )
    for row in rows:
        row.entry_leaf = leaves.get(row.entry)
        row.end_entry_leaf = leaves.get(getattr(row, "end_entry", None))
    return rows


def _refused_in(rows: list, what: str, refused: RowRefusal | None) -> list:
    """The rows, the one ``refused`` is about carrying it (``row.refused``) for its form."""
    for row in rows:
        row.refused = refused if refused is not None and (refused.what, refused.pk) == (what, row.pk) else None
    return rows


DECISIONS = {
    ("freeze", "approve"): lambda u, pk, r, ip: services.freeze_approve(actor=u, freeze_id=pk, ip=ip),
    ("freeze", "reject"): lambda u, pk, r, ip: services.freeze_reject(actor=u, freeze_id=pk, reason=r, ip=ip),
    ("freeze", "withdraw"): lambda u, pk, r, ip: services.freeze_withdraw(actor=u, freeze_id=pk, reason=r, ip=ip),
    ("freeze", "release"): lambda u, pk, r, ip: services.freeze_release(actor=u, freeze_id=pk, reason=r, ip=ip),
    ("transfer", "approve"): lambda u, pk, r, ip: services.forced_transfer_approve(actor=u, transfer_id=pk, ip=ip),
    ("transfer", "reject"): lambda u, pk, r, ip: services.forced_transfer_reject(
        actor=u, transfer_id=pk, reason=r, ip=ip
    ),
    ("transfer", "withdraw"): lambda u, pk, r, ip: services.forced_transfer_withdraw(
        actor=u, transfer_id=pk, reason=r, ip=ip
    ),
    ("correction", "approve"): lambda u, pk, r, ip: services.correction_approve(actor=u, correction_id=pk, ip=ip),
    ("correction", "reject"): lambda u, pk, r, ip: services.correction_reject(
        actor=u, correction_id=pk, reason=r, ip=ip
    ),
    ("correction", "withdraw"): lambda u, pk, r, ip: services.correction_withdraw(
        actor=u, correction_id=pk, reason=r, ip=ip
    ),
}


# What each decision says when done, in the reader's language.
DONE = {
    ("freeze", "approve"): gettext_noop("Freeze %(id)s approved: it is in force."),
    ("freeze", "reject"): gettext_noop("Freeze proposal %(id)s rejected."),
    ("freeze", "withdraw"): gettext_noop("Freeze proposal %(id)s withdrawn."),
    ("freeze", "release"): gettext_noop("Freeze %(id)s released."),
    ("transfer", "approve"): gettext_noop("Forced transfer %(id)s approved and carried out."),
    ("transfer", "reject"): gettext_noop("Forced transfer proposal %(id)s rejected."),
    ("transfer", "withdraw"): gettext_noop("Forced transfer proposal %(id)s withdrawn."),
    ("correction", "approve"): gettext_noop("Correction %(id)s approved and carried out."),
    ("correction", "reject"): gettext_noop("Correction proposal %(id)s rejected."),
    ("correction", "withdraw"): gettext_noop("Correction proposal %(id)s withdrawn."),
}
assert set(DONE) == set(DECISIONS), "every decision says what it did"


@role_required(*CORRECTION_ROLES)
@require_http_methods(["GET", "POST"])
def decide(request, what: str, pk: int, action: str):
    fn = DECISIONS.get((what, action))
    if fn is None:
        raise PagePermissionDenied
    if request.method == "GET":
        # A decision refused for its reason is answered at this address: a GET of it (the language switch reloads
        # the page it is on) is the page the row is on.
        return redirect("supervision-corrections" if what == "correction" else "supervision")

    def said(result) -> str:
        # A freeze of more than was free says what it froze (found by a probe: only the ledger said so).
        done = gettext(DONE[what, action]) % {"id": pk}
        shortfall = getattr(result, "shortfall", "")
        return f"{done} {shortfall}" if shortfall else done

    reason = request.POST.get("reason", "")
    try:
        result = fn(request.user, pk, reason, client_ip(request))
    except DomainError as exc:
        if exc.code not in REASON_REFUSALS:
            if exc.code == err.PermissionDenied.code:
                report_refusal(request, exc)  # a 403 page with the reason
            # Any other refusal names the row it is about too (a freeze no longer active, with several listed).
            messages.error(request, gettext(ROW_REFUSED[what]) % {"id": pk, "error": domain_error_message(exc)})
            return redirect("supervision-corrections" if what == "correction" else "supervision")
        # The page again (400), the refusal next to that row's reason and above naming the row (found by a probe:
        # "Give a reason." alone, with two freezes listed, said not which); nothing changed. The service checks the
        # role first: whoever is refused for the reason may read the page.
        message = domain_error_message(exc)
        messages.error(request, gettext(ROW_REFUSED[what]) % {"id": pk, "error": message})
        refused = RowRefusal(what=what, pk=pk, action=action, reason=reason, message=message)
        if what == "correction":
            return _corrections_page(request, refused=refused, status=400)
        return _console_page(request, refused=refused, status=400)
    messages.success(request, said(result))
    return redirect("supervision-corrections" if what == "correction" else "supervision")


# A decision refused for its reason (none, or too long) comes back to its row; other refusals are messages.
REASON_REFUSALS = frozenset({err.ReasonRequired.code, err.ReasonTooLong.code})
# Above the page, the row a refusal is about.
ROW_REFUSED = {
    "freeze": gettext_noop("Freeze %(id)s: %(error)s"),
    "transfer": gettext_noop("Forced transfer %(id)s: %(error)s"),
    "correction": gettext_noop("Correction %(id)s: %(error)s"),
}


@role_required(*CORRECTION_ROLES, Role.AUDITOR)
def corrections(request):
    # Auditors read the corrections, as the API lets them (found by a probe: the page was a 403 to them); they
    # propose none.
    if request.user.role == Role.AUDITOR and request.method != "GET":
        raise PagePermissionDenied
    form = CorrectionForm(request.POST or None)
    if form.is_bound and form.is_valid():
        d = form.cleaned_data

        def propose():
            services.correction_propose(
                actor=request.user,
                trade_id=d["trade"],
                new_price=d["new_price"],
                new_quantity=d["new_quantity"],
                reason=d["reason"],
                ip=client_ip(request),
            )

        if _try(request, form, propose, gettext("The correction is proposed; a regulator approves it.")):
            return redirect("supervision-corrections")
    form_refusal_noted(form)  # a proposal its form refused: on the audit trail, as the API's
    return _corrections_page(request, form=form)


def _corrections_page(request, *, form=None, refused: RowRefusal | None = None, status: int = 200):
    """The corrections; ``refused``: a row's decision refused for its reason, which that row's form shows."""
    rows = list(Correction.objects.select_related("trade__security", "proposed_by", "decided_by").order_by("-id")[:100])
    # A proposal moves the trade from its terms now, which an earlier correction may have changed: its question and
    # its row say those, not the trade's first terms (found by a walk: a reversal after a price correction asked
    # about "200 @ 12.55", the price the first correction had replaced).
    now = selectors.corrected_terms([c.trade_id for c in rows if c.status == Correction.Status.PROPOSED])
    for c in rows:
        c.corrected_before = c.status == Correction.Status.PROPOSED and c.trade_id in now
        terms = now[c.trade_id] if c.corrected_before else {"price": c.trade.price, "quantity": c.trade.quantity}
        c.now_price, c.now_quantity = Decimal(terms["price"]), int(terms["quantity"])
    context = {
        "form": CorrectionForm() if form is None else form,
        "can_propose": request.user.role in CORRECTION_ROLES,
        "corrections": _entries_in(_refused_in(rows, "correction", refused), request.user),
    }
    return render(request, "supervision/corrections.html", context, status=status)


@login_required
def freezes(request):
    """The freezes the user may see: all (regulator, auditor), their clients' (broker staff), their own
    account's with the legal reference masked (investor, market maker)."""
    try:
        rows = _freezes_for(request.user)
    except DomainError:
        raise PagePermissionDenied from None
    # One account's (the counter's client page links here so): as the API's ``?account=`` filter.
    if account := Account.typed_code(request.GET.get("account", ""))[:32]:
        rows = rows.filter(account__code=account)
    rows = _entries_in(list(rows.order_by("-id")[:200]), request.user)
    masked = request.user.role in ACCOUNT_HOLDERS
    return render(request, "supervision/freezes.html", {"freezes": rows, "masked": masked, "account": account})


# --------------------------------------------------------------------------
# One account seen through (regulators and auditors)

ACCOUNT_TRADES_PER_PAGE = 20
ACCOUNT_ROWS_MAX = 50  # freezes and open orders shown; the API's lists (``?account=``) have them all
ACCOUNT_ROWS_HELD = 100  # accounts a legal order holds, on the look-up; the API's freezes list has them all


@role_required(*SUPERVISORY_READERS)
def accounts(request):
    """Find an account by its code (in any case), and the accounts a legal order holds now."""
    form = AccountLookupForm(request.GET or None)
    if form.is_bound and form.is_valid():
        account = exchange_selectors.account_visible(request.user, form.cleaned_data["code"])
        if account is not None:
            return redirect("supervision-account", code=account.code)
        form.add_error(
            "code",
            gettext("No account has the code %(code)s.") % {"code": Account.typed_code(form.cleaned_data["code"])},
        )
    held = [
        {"account": a, "name": account_name_for(a, request.user)}
        for a in selectors.accounts_under_order()[: ACCOUNT_ROWS_HELD + 1]
    ]
    context = {"form": form, "held": held[:ACCOUNT_ROWS_HELD], "more": len(held) > ACCOUNT_ROWS_HELD}
    return render(request, "supervision/accounts.html", {**context, "rows_max": ACCOUNT_ROWS_HELD})


@role_required(*SUPERVISORY_READERS)
def account(request, code: str):
    """The account's holder (masked), flags, cash and shares, its freezes, open orders and trades, each leading on
    to its ledger entry; its audit trail, and for a regulator the identity reveal and a freeze proposal."""
    found = exchange_selectors.account_visible(request.user, code)
    if found is None:
        raise Http404(gettext("No such account."))
    if found.code != code:  # typed in small letters: the page has one address
        return redirect("supervision-account", code=found.code)
    overview = selectors.account_overview(found, request.user)
    page = Paginator(selectors.account_trades(request.user, found), ACCOUNT_TRADES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    trades = []
    notes = exchange_selectors.trade_notes([t.pk for t in page])  # a trade's corrections, beside it
    for trade in page:
        side = "buy" if trade.buyer_id == found.pk else "sell"
        status = exchange_selectors.trade_status(trade)
        trades.append(
            {
                "trade": trade,
                "side": side,
                "side_label": choice_label(Order.Side, side),
                "counterparty": trade.seller if side == "buy" else trade.buyer,
                "fee": exchange_selectors.fee_charged(trade, side),
                "status": status,
                "status_label": choice_label(Trade.Status, status),
                "notes": notes.get(trade.pk, []),
            }
        )
    context = {
        "overview": overview,
        "account": found,
        "freezes": _entries_in(list(selectors.account_freezes(found)[:ACCOUNT_ROWS_MAX]), request.user),
        "orders": list(selectors.account_open_orders(found)[: ACCOUNT_ROWS_MAX + 1]),
        # a market maker's trading is its quotes: the ones in force, by security then side
        "quotes": list(exchange_selectors.quotes_active(found)) if found.kind == found.Kind.MARKET_MAKER else None,
        # what else holds part of its cash or shares (a negotiated proposal, a firm answer): its reserved explained
        "holdings": [
            {**vars(h), "side_label": choice_label(Order.Side, h.side)}
            for h in selectors.account_other_holdings(found, selectors.WAITING_MAX)
        ],
        "rows_max": ACCOUNT_ROWS_MAX,
        "trades": trades,
        "page": page,
    }
    return render(request, "supervision/account.html", context)
