"""The broker counter pages: a staff member's clients, cash, orders on a client's behalf, statements.

Every page first resolves the staff member's broker (403 for anybody else)
and then the client among that broker's investor accounts (404 for any other
account). Writes go through the services, whose errors become form errors or
messages; reads through ``counter.selectors``.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from balances.services import (
    cash_amount_checked,
    cash_approval_threshold,
    cash_movement_limit,
    cash_needs_second_person,
)
from core import errors as err
from core import names
from core.audit import client_ip
from core.forms import add_service_error, domain_error_message, report_refusal
from core.models import Account
from core.money import amount_text, shares_text
from exchange.forms import BandSelect, OrderTicketForm, new_client_order_id
from exchange.models import Order
from exchange.selectors import account_balances, securities_listed
from kyc.models import KycProfile
from kyc.services import kyc_register
from kyc.views import badge_of
from registry.models import Security
from settlement.statement_views import statement_context, statement_response

from . import exports, selectors, services
from .forms import CashForm, OpenAccountForm, StatementForm
from .models import CashRequest

PAGE_SIZE = 50
RECENT = 10

# Where a client's KYC application is reviewed (pages of the kyc app); the first name that resolves is used.
KYC_URL_NAMES = [("kyc-application", True), ("kyc-queue", False)]


def staff_page(view):
    """Login, broker staff only (403), and a NotFound from a selector or service as a 404 page."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            selectors.require_staff(request.user)
            return view(request, *args, **kwargs)
        except err.PermissionDenied as exc:
            raise PermissionDenied from exc
        except err.NotFound as exc:
            raise Http404 from exc

    return wrapped


# --------------------------------------------------------------------------
# Display helpers (amounts grouped the same way in both languages, as on the exchange pages)


def _kyc_url(profile_id: int | None) -> str | None:
    if profile_id is None:
        return None
    for name, takes_id in KYC_URL_NAMES:
        try:
            return reverse(name, args=[profile_id] if takes_id else [])
        except NoReverseMatch:
            continue
    return None


def _kyc_badge(account: Account) -> tuple[str, str]:
    """The client's KYC status as the KYC pages show it (one status: "Sent, awaiting review", not "Draft")."""
    if not account.kyc_state:
        return "none", gettext("No KYC record")
    return badge_of(account.kyc_state, account.kyc_applied_at, account.kyc_reviewed_at)


def _client_row(account: Account) -> dict:
    return {
        "code": account.code,
        "name": names.holder_name(account),
        "username": account.username,
        "kyc_state": _kyc_badge(account)[0],
        "kyc_state_label": _kyc_badge(account)[1],
        "risk_level": f"C{account.risk_level}" if account.risk_level else "",
        # What the pre-trade check reads (approved, assessment not expired): the client's pages say up front that
        # the client cannot trade yet and lead to the application (found by a walk: the counter's ticket took the
        # whole order of a client opened a minute before, and only its refusal said why, with no way on).
        "kyc_blocks_trading": "expired"
        if account.kyc_state == KycProfile.State.EXPIRED
        else "rejected"
        if account.kyc_state == KycProfile.State.REJECTED
        else "not_approved"
        if account.kyc_state != KycProfile.State.APPROVED
        else "expired"
        if account.kyc_expires_at is None or account.kyc_expires_at <= timezone.now()
        else "",
        "kyc_url": _kyc_url(account.kyc_id),
        "id_number": account.id_number_masked or "",
        "phone": account.phone_masked or "",
        "cash_total": amount_text(account.cash_total),
        "cash_available": amount_text(account.cash_available),
        "created_at": account.created_at,
        # "account": a whole-account freeze (no orders, no withdrawals); "trading": a trading restriction (no
        # orders; withdrawals go on); "part": cash or shares frozen; "": none.
        "frozen": "account"
        if account.frozen
        else "trading"
        if account.trading_restricted
        else ("part" if account.cash_frozen or account.shares_frozen else ""),
        # A restricted client with cash or shares frozen too: the notice says both (found by a review: it said the
        # restriction only, and "its cash and shares stay its own" of what a legal order froze).
        "part_frozen": bool(account.cash_frozen or account.shares_frozen),
    }


def _order_rows(orders, account: Account) -> list[dict]:
    return [
        {
            "id": o.pk,
            "created_at": o.created_at,
            "security": o.security.code,
            "side": o.side,
            "side_label": Order.Side(o.side).label,
            "limit_price": amount_text(o.limit_price),
            "quantity": shares_text(o.quantity),
            "filled": shares_text(o.filled_quantity),
            "time_in_force_label": Order.TimeInForce(o.time_in_force).label,
            "status": o.status,
            "status_label": Order.Status(o.status).label,
            "closed_reason": o.closed_reason_text(),
            "at_counter": selectors.order_entered_at_counter(o, account),
            "placed_by": o.placed_by.username,
            "can_cancel": o.is_open,
        }
        for o in orders
    ]


def _trade_rows(trades, account: Account) -> list[dict]:
    rows = []
    for t in selectors.trade_views(trades, account):
        rows.append(
            {
                "id": t.id,
                "matched_at": t.matched_at,
                "security": t.security,
                "security_name": t.security_name,
                "side": t.side,
                "side_label": exports.side_label(t.side),
                "price": amount_text(t.price),
                "quantity": shares_text(t.quantity),
                "value": amount_text(t.value),
                "fee": amount_text(t.fee),
                "status": t.status,
                "status_label": exports.status_label(t.status),
                "at_counter": t.at_counter,
                "block_height": t.block_height,
                "leaf_index": t.leaf_index,
                "notes": t.notes,
            }
        )
    return rows


def _balances(account: Account) -> dict:
    data = account_balances(account)
    return {
        "cash": {key: amount_text(value) for key, value in data["cash"].items() if key != "currency"},
        "positions": [
            {
                "security": p["security"],
                "name": p["name"],
                **{key: shares_text(p[key]) for key in ("total", "available", "reserved", "frozen", "locked")},
            }
            for p in data["positions"]
        ],
    }


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --------------------------------------------------------------------------
# Clients


@staff_page
def clients(request):
    query = request.GET.get("q", "").strip()
    page = _page(request, selectors.clients_of(request.user, query=query))
    return render(
        request,
        "counter/clients.html",
        {
            "rows": [_client_row(a) for a in page],
            "page": page,
            "query": query,
            "query_string": urlencode({"q": query}) if query else "",
        },
    )


@staff_page
@never_cache
def client_open(request):
    if request.method == "POST":
        form = OpenAccountForm(request.POST)
        if form.is_valid():
            try:
                profile = kyc_register(
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password"] or None,
                    broker=request.user.broker,
                    identity=form.identity(),
                    entered_by=request.user,
                    ip=client_ip(request),
                )
            except err.DomainError as exc:
                add_service_error(form, exc)
            else:
                account = profile.user.account
                messages.success(
                    request,
                    gettext(
                        "Account %(code)s opened for %(name)s. Its KYC application is a draft: complete it "
                        "(questionnaire, ID document) and submit it for a second staff member's approval."
                    )
                    % {"code": account.code, "name": profile.real_name},
                )
                return redirect("counter-client", code=account.code)
    else:
        form = OpenAccountForm()
    return render(request, "counter/open.html", {"form": form})


def _client_context(account: Account, **forms) -> dict:
    profile = selectors.client_kyc(account)
    orders = selectors.client_orders(account)[:RECENT]
    trades = selectors.client_trades(account)[:RECENT]
    statement_form = StatementForm(initial=StatementForm.default_period())
    return {
        "client": _client_row(account),
        "account": account,
        "kyc": profile,
        "kyc_url": _kyc_url(profile.pk if profile else None),
        "balances": _balances(account),
        "orders": _order_rows(orders, account),
        "trades": _trade_rows(trades, account),
        "deposit_form": forms.get("deposit_form") or CashForm(prefix="deposit"),
        "withdraw_form": forms.get("withdraw_form") or CashForm(prefix="withdraw"),
        "statement_form": statement_form,
        "cash_threshold": amount_text(cash_approval_threshold(account)),
        "cash_threshold_plain": str(cash_approval_threshold(account)),  # for the deposit's question (confirm.js)
        "cash_limit": amount_text(cash_movement_limit(account)),
    }


def _with_limit(context: dict, account: Account) -> dict:
    """The cash forms' amount fields carry the limit per movement as their ``max``: the page then asks no
    confirmation of an amount the service refuses (confirm.js), and says why instead."""
    limit = f"{cash_movement_limit(account):f}"
    for name in ("deposit_form", "withdraw_form"):
        context[name].fields["amount"].widget.attrs["max"] = limit
    return context


@staff_page
@never_cache
def client_detail(request, code: str):
    account = selectors.client_get(request.user, code)
    return render(request, "counter/client.html", _with_limit(_client_context(account), account))


def _cash_confirmation(request, account: Account, form: CashForm) -> HttpResponse | None:
    """Before paying out at once: the confirmation page, or None when the form has an error to show instead."""
    try:
        value = cash_amount_checked(account, form.cleaned_data["amount"])
        available = account_balances(account)["cash"]["available"]
        if value > available:
            raise err.InsufficientCash()
    except err.DomainError as exc:
        add_service_error(form, exc)
        return None
    return render(
        request,
        "counter/cash_confirm.html",
        {
            "client": _client_row(account),
            "action": reverse("counter-withdraw", args=[account.code]),
            "amount": form.data.get("withdraw-amount", ""),
            "amount_display": amount_text(value),
            "reference": form.cleaned_data["reference"],
            "once": form.cleaned_data["once"],
            "available": amount_text(available),
            "after": amount_text(available - value),
        },
    )


def _cash(request, code: str, *, withdraw: bool):
    account = selectors.client_get(request.user, code)
    prefix = "withdraw" if withdraw else "deposit"
    form = CashForm(request.POST, prefix=prefix)
    if form.is_valid():
        amount = form.cleaned_data["amount"]
        paying_out_now = withdraw and not cash_needs_second_person(account, amount)
        if paying_out_now and request.POST.get("confirm") != "1":
            confirmation = _cash_confirmation(request, account, form)
            if confirmation is not None:
                return confirmation
        else:
            try:
                outcome = services.counter_cash(
                    staff=request.user,
                    account_code=account.code,
                    direction=CashRequest.Direction.WITHDRAW if withdraw else CashRequest.Direction.DEPOSIT,
                    amount=amount,
                    reference=form.cleaned_data["reference"],
                    ip=client_ip(request),
                    once=f"form:{form.cleaned_data['once']}" if form.cleaned_data["once"] else "",
                )
            except err.DomainError as exc:
                add_service_error(form, exc)
            else:
                if outcome.request is not None:
                    messages.info(
                        request,
                        gettext(
                            "Request %(id)s: %(amount)s CNY is above the threshold of %(threshold)s CNY and waits "
                            "for a second staff member's approval. No cash has moved yet."
                        )
                        % {
                            "id": outcome.request.pk,
                            "amount": amount_text(amount),
                            "threshold": amount_text(cash_approval_threshold(account)),
                        },
                    )
                    return redirect("counter-client", code=account.code)
                template = (
                    gettext("Paid out %(amount)s CNY from %(code)s; %(available)s CNY is available.")
                    if withdraw
                    else gettext("Deposited %(amount)s CNY to %(code)s; %(available)s CNY is available.")
                )
                messages.success(
                    request,
                    template
                    % {
                        "amount": amount_text(amount),
                        "code": account.code,
                        "available": amount_text(outcome.cash.available),
                    },
                )
                return redirect("counter-client", code=account.code)
    context = _with_limit(_client_context(account, **{f"{prefix}_form": form}), account)
    return render(request, "counter/client.html", context, status=400)


@staff_page
@require_POST
def client_deposit(request, code: str):
    return _cash(request, code, withdraw=False)


@staff_page
@require_POST
def client_withdraw(request, code: str):
    return _cash(request, code, withdraw=True)


# --------------------------------------------------------------------------
# Orders and trades


@staff_page
def client_orders(request, code: str):
    account = selectors.client_get(request.user, code)
    page = _page(request, selectors.client_orders(account))
    return render(
        request,
        "counter/orders.html",
        {"client": _client_row(account), "rows": _order_rows(page, account), "page": page},
    )


def _counter_ticket(form: OrderTicketForm, securities) -> OrderTicketForm:
    """The counter's ticket: the security's options carry their price band today (no confirmation is asked of a
    price the band check refuses, confirm.js) and say when it is halted; no help text promises quotes on another
    security's choice (the investor's ticket reloads with that security's quotes; the counter's has none)."""
    field = form.fields["security"]
    field.widget = BandSelect(bands={s.code: (s.band_low, s.band_high) for s in securities})
    # A halted security says so in its option: staff learnt it only from the refusal of the order they had typed.
    halted = {s.code for s in securities if s.status == Security.Status.HALTED}
    halted_label = Security.Status.HALTED.label
    field.choices = [(code, f"{label} ({halted_label})" if code in halted else label) for code, label in field.choices]
    field.help_text = ""
    return form


@staff_page
@never_cache
def client_order_new(request, code: str):
    account = selectors.client_get(request.user, code)
    securities = list(securities_listed())
    if request.method == "POST":
        form = _counter_ticket(OrderTicketForm(request.POST, securities=securities), securities)
        if form.is_valid():
            try:
                order, created = services.counter_order_place(
                    staff=request.user, account_code=account.code, request=form.order_request(), ip=client_ip(request)
                )
            except err.DomainError as exc:
                form.add_error(None, domain_error_message(exc))
                form.data = form.data.copy()
                form.data["client_order_id"] = new_client_order_id()
            else:
                if created:
                    messages.success(
                        request,
                        gettext("Order %(id)s entered at the counter for %(code)s: %(status)s, %(filled)s filled.")
                        % {
                            "id": order.pk,
                            "code": account.code,
                            "status": Order.Status(order.status).label,
                            "filled": shares_text(order.filled_quantity),
                        },
                    )
                else:
                    messages.info(
                        request,
                        gettext("This order was already placed (order %(id)s); it was not placed twice.")
                        % {"id": order.pk},
                    )
                return redirect("counter-client-orders", code=account.code)
    else:
        initial = {"client_order_id": new_client_order_id()}
        if request.GET.get("security"):
            initial["security"] = request.GET["security"]
        if request.GET.get("side") in Order.Side.values:
            initial["side"] = request.GET["side"]
        form = _counter_ticket(OrderTicketForm(initial=initial, securities=securities), securities)
    return render(
        request,
        "counter/order_new.html",
        {"client": _client_row(account), "form": form, "balances": _balances(account)},
    )


@staff_page
@require_POST
def client_order_cancel(request, code: str, order_id: int):
    try:
        order = services.counter_order_cancel(
            staff=request.user, account_code=code, order_id=order_id, ip=client_ip(request)
        )
    except err.NotFound:
        raise
    except err.DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(
            request,
            gettext("Order %(id)s cancelled; %(quantity)s shares were not filled.")
            % {"id": order.pk, "quantity": shares_text(order.remaining_quantity)},
        )
    if request.POST.get("next") == "client":
        return redirect("counter-client", code=code)
    return redirect("counter-client-orders", code=code)


@staff_page
def client_trades(request, code: str):
    account = selectors.client_get(request.user, code)
    page = _page(request, selectors.client_trades(account))
    return render(
        request,
        "counter/trades.html",
        {"client": _client_row(account), "rows": _trade_rows(page, account), "page": page},
    )


# --------------------------------------------------------------------------
# Statements


@staff_page
def client_statement(request, code: str):
    account = selectors.client_get(request.user, code)
    form = StatementForm(request.GET or None, initial=StatementForm.default_period())
    statement = None
    if form.is_bound and form.is_valid():
        statement = selectors.client_statement(account, form.cleaned_data["start"], form.cleaned_data["end"])
        kind = request.GET.get("format", "html")
        if kind in ("csv", "pdf"):
            return statement_response(statement, kind)
    context = {"client": _client_row(account), "form": form, "statement": None}
    if statement is not None:
        context["statement"] = statement_context(statement)
    return render(request, "counter/statement.html", context)


# --------------------------------------------------------------------------
# Cash requests: the second person


def _request_row(r: CashRequest, user) -> dict:
    return {
        "id": r.pk,
        "account": r.account.code,
        "direction": r.direction,
        "direction_label": CashRequest.Direction(r.direction).label,
        "amount": amount_text(r.amount),
        "reference": r.reference,
        "status": r.status,
        "status_label": CashRequest.Status(r.status).label,
        "proposed_by": r.proposed_by.username,
        "proposed_at": r.proposed_at,
        # A withdrawn request was closed by its proposer (no second person): named, not "—" beside a time.
        "decided_by": r.decided_by.username
        if r.decided_by
        else r.proposed_by.username
        if r.status == CashRequest.Status.WITHDRAWN
        else "",
        "decided_at": r.decided_at,
        "reason": r.reason,
        "mine": r.proposed_by_id == user.pk,
    }


@staff_page
@never_cache
def cash_requests(request):
    waiting = selectors.cash_requests_of(request.user, status=CashRequest.Status.PROPOSED)
    decided = selectors.cash_requests_of(request.user).exclude(status=CashRequest.Status.PROPOSED)[: RECENT * 2]
    return render(
        request,
        "counter/cash_requests.html",
        {
            "waiting": [_request_row(r, request.user) for r in waiting],
            "decided": [_request_row(r, request.user) for r in decided],
        },
    )


def _request_of(request, request_id: int) -> CashRequest:
    found = selectors.cash_requests_of(request.user).filter(pk=request_id).first()
    if found is None:
        raise err.NotFound(gettext("No such cash request."))
    return found


@staff_page
@require_POST
def cash_request_approve(request, request_id: int):
    found = _request_of(request, request_id)
    if (
        found.direction == CashRequest.Direction.WITHDRAW
        and found.status == CashRequest.Status.PROPOSED
        and found.proposed_by_id != request.user.pk
        and request.POST.get("confirm") != "1"
    ):
        available = account_balances(found.account)["cash"]["available"]
        return render(
            request,
            "counter/cash_confirm.html",
            {
                "client": _client_row(selectors.client_get(request.user, found.account.code)),
                "action": reverse("counter-cash-request-approve", args=[found.pk]),
                "request_row": _request_row(found, request.user),
                "amount_display": amount_text(found.amount),
                "reference": found.reference,
                "available": amount_text(available),
                "after": amount_text(available - found.amount),
                "short": found.amount > available,
            },
        )
    try:
        done = services.cash_request_approve(staff=request.user, request_id=request_id, ip=client_ip(request))
    except err.NotFound:
        raise
    except err.DomainError as exc:
        report_refusal(request, exc)
    else:
        template = (
            gettext("Request %(id)s approved: paid out %(amount)s CNY from %(code)s.")
            if done.direction == CashRequest.Direction.WITHDRAW
            else gettext("Request %(id)s approved: deposited %(amount)s CNY to %(code)s.")
        )
        messages.success(
            request, template % {"id": done.pk, "amount": amount_text(done.amount), "code": done.account.code}
        )
    return redirect("counter-cash-requests")


@staff_page
@require_POST
def cash_request_reject(request, request_id: int):
    return _cash_request_close(
        request, request_id, services.cash_request_reject, gettext("Request %(id)s rejected; no cash moved.")
    )


@staff_page
@require_POST
def cash_request_withdraw(request, request_id: int):
    return _cash_request_close(
        request, request_id, services.cash_request_withdraw, gettext("Request %(id)s withdrawn; no cash moved.")
    )


def _cash_request_close(request, request_id: int, close, done: str):
    """Reject or withdraw a cash request with the reason typed (``close``: the service), saying ``done`` (its
    ``%(id)s`` the request's) or the refusal on the list it returns to; an unknown request is a 404."""
    try:
        closed = close(
            staff=request.user, request_id=request_id, reason=request.POST.get("reason", ""), ip=client_ip(request)
        )
    except err.NotFound:
        raise
    except err.DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(request, done % {"id": closed.pk})
    return redirect("counter-cash-requests")
