"""Web pages. Each view reads through selectors and writes through services.

Views shape what the templates show (labels, number formatting) and turn a
``DomainError`` into a form error or a message; no market rule lives here.
"""

from __future__ import annotations

import datetime as dt
import sys

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date, url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.static import was_modified_since

from core import fonts
from core.db.base import ServerBusy
from core.errors import DomainError
from core.forms import domain_error_message, report_refusal
from core.labels import choice_label
from core.models import Role
from core.money import amount_text, shares_text
from core.roles import SUPERVISORS
from registry import calendar, profile
from registry.models import MarketState, Security
from registry.services import market_is_halted

from . import market_watch, precheck, selectors, services
from .forms import OrderTicketForm, QuoteForm, investor_refusal, new_client_order_id
from .models import Order, Quote, Trade
from .rfq_forms import RfqAnswerForm
from .rfq_views import inbox_rows

PAGE_SIZE = 50


def _wants_json(request) -> bool:
    return request.path_info.startswith("/api/")


# What an error page's title and heading say before its number (a bare "404" said nothing to a screen reader).
ERROR_TITLES = {
    400: _("Bad request"),
    403: _("Access refused"),
    404: _("Page not found"),
    413: _("Request too large"),
    500: _("Server error"),
    503: _("Busy"),
}


def _error(request, status: int, code: str, message: str, *, back: str = ""):
    if _wants_json(request):
        return JsonResponse({"code": code, "message": message}, status=status)
    context = {
        "status": status,
        "message": message,
        "title": f"{ERROR_TITLES.get(status, gettext('Error'))} ({status})",
    }
    if back:
        context.update(next_url=back, next_label=gettext("Back to the previous page"))
    if status in (403, 404):
        # With the site's navigation, so that a user refused or lost can go on; error.html stands alone (no user,
        # no database) for what may come from there, and for this page if it cannot be drawn.
        try:
            return render(request, "error_page.html", context, status=status)
        except Exception:  # the plain page below says the same
            pass
    # Without the request's context processors, which read the database (the market's state): the page is drawn
    # also when the error came from there (found by a probe: a request that found no free connection drew none).
    try:
        # The venue's rules, shown on every page (DESIGN §2): read from the settings, not the database.
        context["venue_profile"] = profile.current()
    except Exception:  # a misconfigured profile must not stop the error page itself
        pass
    return HttpResponse(render_to_string("error.html", context), status=status)


def _referrer(request) -> str:
    """The page the user came from, when it is one of the exchange's own."""
    back = request.META.get("HTTP_REFERER", "")
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={host}, require_https=request.is_secure())
    return back if safe and back != request.build_absolute_uri() else ""


@require_GET
def web_font(request):
    """The pages' Chinese web font (``core.fonts``), for browsers that have none of their own: a year in caches
    (its URL is the stylesheet's, unversioned, so a new build is picked up through Last-Modified). Until
    ``manage.py statement_fonts`` has built it, 404: the pages then fall back to the browser's fonts."""
    path = fonts.web_font_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise Http404 from None
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(stat.st_mtime)):
        return HttpResponseNotModified()
    response = FileResponse(path.open("rb"), content_type="font/woff2")
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def error_400(request, exception=None):
    # What Django refuses before any view reads the request (its limits on a body's size and fields) says which
    # limit it met: "bad request" alone told a client nothing it could change (found by a probe).
    if isinstance(exception, TooManyFieldsSent):
        message = gettext("The request has more than %(n)s fields.") % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        return _error(request, 400, "too_many_fields", message)
    if isinstance(exception, TooManyFilesSent):
        message = gettext("The request has more than %(n)s files.") % {"n": settings.DATA_UPLOAD_MAX_NUMBER_FILES}
        return _error(request, 400, "too_many_files", message)
    if isinstance(exception, RequestDataTooBig):
        message = gettext("The request body is larger than %(size)s MiB.") % {
            "size": settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        }
        # 413 Content Too Large (RFC 9110 §15.5.14), as a disclosure's file over its limit is: a client's retry
        # logic tells it from a malformed request (an outside integrator's back office read the 400 as a bug).
        return _error(request, 413, "request_too_large", message)
    return _error(request, 400, "bad_request", gettext("Bad request."))


def error_403(request, exception=None):
    # A refusal with its reason (core.forms.report_refusal) says it; any other says what Django's would.
    reason = str(exception) if isinstance(exception, PermissionDenied) and exception.args else ""
    return _error(
        request,
        403,
        "permission_denied",
        reason or gettext("You are not allowed to see this page."),
        back=_referrer(request),
    )


def error_404(request, exception=None):
    return _error(request, 404, "not_found", gettext("Not found."))


def error_500(request):
    # Django calls this while handling the exception: a request that found no free database connection in
    # time (core.db.base), or whose connection the database dropped, is told to come back, as the API's views
    # tell it (core.api.errors), not that something broke.
    if isinstance(sys.exc_info()[1], ServerBusy | OperationalError | InterfaceError):
        response = _error(request, 503, "server_busy", str(ServerBusy.default_detail))
        response["Retry-After"] = "1"
        return response
    return _error(request, 500, "server_error", gettext("Something went wrong on our side."))


# --------------------------------------------------------------------------
# Helpers. Amounts and quantities are shown by ``core.money``'s text forms, grouped by thousands the same
# way in every language (Django's zh-hans number format has no separator), so the pages and the JSON they
# poll look the same.


def _no_account(request, title):
    return render(request, "exchange/no_account.html", {"title": title})


def _require_market_maker(user) -> None:
    # The quote page is the market makers' desk; the services refuse others too.
    if user.role != Role.MARKET_MAKER:
        raise PermissionDenied


def _security_named(securities: list[Security], code: str | None) -> Security | None:
    return next((s for s in securities if s.code == code), None)


# --------------------------------------------------------------------------
# Market watch


@login_required
def market(request):
    rows = market_watch.rows()
    context = {
        "rows": rows,
        "as_of": timezone.now(),
        "session": market_watch.session(),
        # Whether any security trades by market making (else no bid nor ask column), and whether all do (else the
        # hint says a row opens the way its security trades, not always the order ticket).
        "market_making_any": any(r["market_making"] for r in rows),
        "market_making_all": all(r["market_making"] for r in rows),
        "venue_market_making": profile.MARKET_MAKING in profile.current().modes,
    }
    return render(request, "exchange/market.html", context)


@login_required
@never_cache
def market_data(request):
    """The rows of the market watch, polled by its page (slowly while its event stream is open), and the
    market's session."""
    return JsonResponse(market_watch.payload())


# --------------------------------------------------------------------------
# Order ticket


def _book_rows(security: Security) -> dict:
    """The ticket's quotes, best nearest the spread; none while the security or the whole market is halted (none
    can trade: the market watch shows none either), with ``halted`` set for the ticket to say why."""
    if security.status == Security.Status.HALTED or market_is_halted():
        return {"asks": [], "bids": [], "halted": True}
    if not profile.mode_allowed(security, profile.MARKET_MAKING):
        return {"asks": [], "bids": []}  # none can trade (the market watch shows none either)
    book = selectors.quote_book(security)

    def rows(levels):
        return [
            {
                "price": amount_text(level["price"]),
                "price_raw": f"{level['price']:f}",
                "quantity": shares_text(level["quantity"]),
                "market_maker": level["market_maker"],
            }
            for level in levels
        ]

    # Asks are shown above the bids, the best ask nearest the spread.
    return {"asks": list(reversed(rows(book["asks"]))), "bids": rows(book["bids"])}


def _available(account, security: Security | None) -> dict:
    balances = selectors.account_balances(account)
    shares = 0
    if security is not None:
        shares = next((p["available"] for p in balances["positions"] if p["security"] == security.code), 0)
    return {"cash": amount_text(balances["cash"]["available"]), "shares": shares_text(shares)}


def _order_placed_message(order: Order) -> str:
    # "limit", as the Chinese says (限价): "at 12.60" read as the price it traded at, when it filled at 12.55.
    return gettext(
        "Order %(id)s: %(side)s %(quantity)s %(security)s, limit %(price)s, %(status)s (%(filled)s filled)."
    ) % {
        "id": order.pk,
        "side": choice_label(Order.Side, order.side),
        "quantity": shares_text(order.quantity),
        "security": order.security.code,
        "price": amount_text(order.limit_price),
        "status": choice_label(Order.Status, order.status),
        "filled": shares_text(order.filled_quantity),
    }


def _precheck_view(check: precheck.Precheck, side: str) -> dict:
    """The ticket's forecast as the page and its JSON show it: what would refuse the order, fee and total."""
    return {
        "ok": check.ok,
        "problems": [{"code": p.code, "message": domain_error_message(p)} for p in check.problems],
        "value": amount_text(check.value),
        "fee": amount_text(check.fee),
        "total": amount_text(check.total),
        "total_label": (
            gettext("Total to pay, at most (CNY)") if side == Order.Side.BUY else gettext("You receive, at least (CNY)")
        ),
    }


def _ticket_review(form: OrderTicketForm, security: Security, check: precheck.Precheck) -> dict:
    data = form.cleaned_data
    return {
        "security": security,
        "side": data["side"],
        "side_label": choice_label(Order.Side, data["side"]),
        "quantity": shares_text(data["quantity"]),
        "limit_price": amount_text(data["limit_price"]),
        "time_in_force_label": dict(form.fields["time_in_force"].choices).get(data["time_in_force"], ""),
        **_precheck_view(check, data["side"]),
    }


def _ticket_context(request, account, security: Security | None, form: OrderTicketForm) -> dict:
    context = {
        "form": form,
        "security": security,
        "book": _book_rows(security) if security else {"asks": [], "bids": []},
        "available": _available(account, security),
        "account": account,
    }
    if security is not None:
        context["security_info"] = {
            "risk": f"R{security.risk_rating}",
            "reference_price": amount_text(security.reference_price),
            "band": f"{amount_text(security.band_low)} – {amount_text(security.band_high)}",
            "lot_size": shares_text(security.lot_size),
            "tick_size": f"{security.tick_size:f}",
            "status": security.status,
            "status_label": security.get_status_display(),
        }
    return context


@login_required
@never_cache
def order_new(request):
    """The order ticket. "Review order" (``step=review``) checks the order without placing it and restates it
    (side, quantity, price, the estimated fee and total) with what would refuse it; "Place order" on that
    review places it. A POST without ``step`` places at once, as before (same form, same service)."""
    account = selectors.account_of(request.user)
    if account is None:
        return _no_account(request, _("Order ticket"))
    listed = list(selectors.securities_listed())
    # The ticket trades against market makers' quotes: only the securities where the venue's rules allow market
    # making are offered; one asked for that trades otherwise says so up front, with the ways it does trade (found
    # by a tester: under cn-regional-2017 the ticket listed quotes and refused only after the review).
    securities = [s for s in listed if profile.mode_allowed(s, profile.MARKET_MAKING)]
    code = request.POST.get("security") if request.method == "POST" else request.GET.get("security")
    elsewhere = _security_named(listed, code)
    if elsewhere is None and not securities and listed:
        elsewhere = listed[0]
    if elsewhere is not None and elsewhere in securities:
        elsewhere = None
    if elsewhere is not None:
        return render(request, "exchange/order_new.html", _ticket_elsewhere(elsewhere, any_ticket=bool(securities)))
    security = _security_named(securities, code) or (securities[0] if securities else None)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    review = None

    if request.method == "POST":
        form = OrderTicketForm(request.POST, securities=securities)
        if step == "edit":  # back from the review: the ticket filled in as it was, nothing checked yet
            form = OrderTicketForm(initial=request.POST.dict(), securities=securities)
        elif form.is_valid() and step == "review":
            data = form.cleaned_data
            check = precheck.order_precheck_of(actor=request.user, account=account, order=data)
            if check.ok:
                review = _ticket_review(form, security, check)
            else:
                for problem in check.problems:
                    form.add_error(None, investor_refusal(problem))
        elif form.is_valid():
            try:
                order, created = services.order_place(
                    placed_by=request.user, account=account, request=form.order_request()
                )
            except DomainError as exc:
                form.add_error(None, investor_refusal(exc))
                # Nothing was placed; a fresh key keeps a corrected resubmission from clashing with any earlier one.
                form.data = form.data.copy()
                form.data["client_order_id"] = new_client_order_id()
            else:
                if created:
                    messages.success(request, _order_placed_message(order))
                else:
                    messages.info(
                        request,
                        gettext("This order was already placed (order %(id)s); it was not placed twice.")
                        % {"id": order.pk},
                    )
                return redirect("orders")
    else:
        initial = {"client_order_id": new_client_order_id()}
        if security is not None:
            initial["security"] = security.code
        if request.GET.get("side") in Order.Side.values:
            initial["side"] = request.GET["side"]
        form = OrderTicketForm(initial=initial, securities=securities)

    context = _ticket_context(request, account, security, form)
    context["review"] = review
    context["kyc_pending"] = selectors.kyc_pending(request.user)
    # Said before anything is typed, as the balances page says it (found by a walk: "Available 0.00" and the
    # reason only once an order was tried).
    context["blocked"] = "account" if account.frozen else "trading" if account.trading_restricted else None
    return render(request, "exchange/order_new.html", context)


def _ticket_elsewhere(security: Security, *, any_ticket: bool) -> dict:
    """The ticket's page for a security the venue's rules (or its own settings) keep off the order ticket: the ways
    it trades, each a link, and no form."""
    modes = profile.trading_modes(security)
    links = []
    if profile.RFQ in modes:
        links.append({"url": f"{reverse('rfqs')}?security={security.code}", "label": gettext("Request a quote")})
    if profile.NEGOTIATED in modes:
        links.append(
            {"url": f"{reverse('negotiated')}?security={security.code}", "label": gettext("Negotiated transfer")}
        )
    return {
        "security": security,
        "elsewhere": {
            "modes": [str(profile.MODE_LABELS[m]) for m in modes],
            "links": links,
            "profile": profile.current().name,
            "any_ticket": any_ticket,
        },
    }


def _ticket_params(request) -> OrderTicketForm:
    """The ticket's form over the query string; time in force and the idempotency key do not matter here."""
    data = request.GET.copy()
    data.setdefault("time_in_force", Order.TimeInForce.DAY)
    data.setdefault("client_order_id", "precheck")
    return OrderTicketForm(data, securities=list(selectors.securities_listed()))


@login_required
@never_cache
def order_check(request):
    """The ticket's pre-trade forecast (``?security=&side=&quantity=&limit_price=``): what would refuse the
    order and its estimated fee and total, placing nothing. Bad input is a 400 with the form's errors."""
    account = selectors.account_of(request.user)
    if account is None:
        return JsonResponse({"code": "no_account", "message": gettext("You have no trading account.")}, status=403)
    form = _ticket_params(request)
    if not form.is_valid():
        return JsonResponse(
            {
                "code": "invalid_input",
                "message": gettext("Bad request."),
                "fields": {name: [str(e) for e in errors] for name, errors in form.errors.items()},
            },
            status=400,
        )
    data = form.cleaned_data
    check = precheck.order_precheck_of(actor=request.user, account=account, order=data)
    return JsonResponse(_precheck_view(check, data["side"]))


@login_required
@never_cache
def order_ticket_data(request):
    """The ticket's quotes and what the user has available (``?security=``), polled by the ticket every 2 s."""
    account = selectors.account_of(request.user)
    if account is None:
        return JsonResponse({"code": "no_account", "message": gettext("You have no trading account.")}, status=403)
    security = _security_named(list(selectors.securities_listed()), request.GET.get("security"))
    if security is None:
        return JsonResponse({"code": "unknown_security", "message": gettext("No such security.")}, status=404)
    book = _book_rows(security)
    return JsonResponse(
        {
            "as_of": timezone.now().isoformat(),
            "status": security.status,
            "status_label": security.get_status_display(),
            "available": _available(account, security),
            "book_html": render_to_string("exchange/_ticket_book.html", {"book": book}, request),
        }
    )


# --------------------------------------------------------------------------
# Orders, trades, balances


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
def orders(request):
    account = selectors.account_of(request.user)
    page = _page(request, selectors.orders_visible(request.user))
    # Supervisors read every order but act on none; the service decides for everyone else.
    may_cancel = request.user.role not in SUPERVISORS
    rows = [
        {
            "id": order.pk,
            "created_at": order.created_at,
            "account": order.account.code,
            "security": order.security.code,
            "side": order.side,
            "side_label": choice_label(Order.Side, order.side),
            "limit_price": amount_text(order.limit_price),
            "quantity": shares_text(order.quantity),
            "filled": shares_text(order.filled_quantity),
            "time_in_force_label": choice_label(Order.TimeInForce, order.time_in_force),
            "status": order.status,
            "status_label": choice_label(Order.Status, order.status),
            "closed_reason": order.closed_reason_text(),
            "can_cancel": may_cancel and order.is_open,
        }
        for order in page
    ]
    return render(
        request,
        "exchange/orders.html",
        {"rows": rows, "page": page, "show_account": account is None, "account": account},
    )


@login_required
@require_POST
def order_cancel(request, order_id: int):
    try:
        order = services.order_cancel(actor=request.user, order_id=order_id)
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(
            request,
            gettext("Order %(id)s cancelled; %(quantity)s shares were not filled.")
            % {"id": order.pk, "quantity": shares_text(order.remaining_quantity)},
        )
    return redirect("orders")


def _trade_ledger(trade: Trade, user) -> dict:
    """Where the trade's entry is sealed, once it is: block, leaf, and the proof file for the offline verifier."""
    trade_url = reverse("trade", args=[trade.pk])
    if trade.leaf_index is None:
        return {"sealed": False, "trade_url": trade_url}
    return {
        "trade_url": trade_url,
        "sealed": True,
        "block_height": trade.block_height,
        "leaf_index": trade.leaf_index,
        # Only supervisors may open the ledger explorer; the others see the height and the leaf as text.
        "block_url": reverse("ledger-block", args=[trade.block_height]) if user.role in SUPERVISORS else None,
        # The trade's own entry, one click from its row (found by a walk: only its block was linked).
        "entry_url": reverse("ledger-entry", args=[trade.leaf_index]) if user.role in SUPERVISORS else None,
        "proof_url": reverse("api-trade-proof", args=[trade.pk]) + "?download=1",
    }


def _trade_rows(trades, user) -> list[dict]:
    rows = []
    notes = selectors.trade_notes([t.pk for t in trades])
    for trade in trades:
        side = selectors.trade_side_for(trade, user)
        status = selectors.trade_status(trade)
        rows.append(
            {
                "id": trade.pk,
                "matched_at": trade.matched_at,
                "security": trade.security.code,
                "security_name": trade.security.name,
                "side": side,
                "side_label": choice_label(Order.Side, side),
                "price": amount_text(trade.price),
                "quantity": shares_text(trade.quantity),
                "value": amount_text(trade.value),
                "fee": amount_text(selectors.fee_charged(trade, side)),
                # Exchange-wide lists (supervisors, broker staff): both parties, masked per role, and each
                # side's fee; a fee of a party the viewer may not see is not shown either.
                "buyer": selectors.party_shown(trade.buyer, selectors.fee_charged(trade, "buy"), user),
                "seller": selectors.party_shown(trade.seller, selectors.fee_charged(trade, "sell"), user),
                "status": status,
                "status_label": choice_label(Trade.Status, status),
                "ledger": _trade_ledger(trade, user),
                "notes": notes.get(trade.pk, []),
            }
        )
    return rows


@login_required
def trades(request):
    account = selectors.account_of(request.user)
    visible = selectors.trades_visible(request.user)
    page = _page(request, visible)
    rows = _trade_rows(page, request.user)
    # The page polls trades_data; a newer trade than this one is offered as "new trades".
    newest_id = visible.values_list("id", flat=True).first()
    return render(
        request, "exchange/trades.html", {"rows": rows, "page": page, "account": account, "newest_id": newest_id}
    )


@login_required
@never_cache
def trades_data(request):
    """The status and ledger cells of the trades shown (``?ids=1,2,…``), polled by the trades page.

    Also the newest trade id the user may see, so that the page can offer to show trades that came since.
    """
    try:
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i][:PAGE_SIZE]
    except ValueError:
        return JsonResponse({"code": "invalid_input", "message": gettext("Bad request.")}, status=400)
    visible = selectors.trades_visible(request.user)
    rows = [
        {
            "id": row["id"],
            "status": row["status"],
            "status_label": row["status_label"],
            "leaf_index": row["ledger"].get("leaf_index"),
            "ledger_html": render_to_string("exchange/_trade_ledger.html", {"ledger": row["ledger"]}, request),
        }
        for row in _trade_rows(visible.filter(pk__in=ids), request.user)
    ]
    return JsonResponse(
        {"as_of": timezone.now().isoformat(), "newest_id": visible.values_list("id", flat=True).first(), "rows": rows}
    )


@login_required
def balances(request):
    account = selectors.account_of(request.user)
    if account is None:
        return _no_account(request, _("Balances"))
    data = selectors.account_balances(account)
    cash = {key: amount_text(value) for key, value in data["cash"].items() if key != "currency"}
    positions = [
        {
            "security": p["security"],
            "name": p["name"],
            **{key: shares_text(p[key]) for key in ("total", "available", "reserved", "frozen", "locked")},
            "locked_until": p["locked_until"],
        }
        for p in data["positions"]
    ]
    # An investor or a market maker whose account is frozen in part or whole is pointed to the freezes (legal
    # orders) behind it, told which: a whole-account freeze stops its orders, quotes and withdrawals (found by a
    # probe: it read as "part of this account is frozen").
    part_frozen = data["cash"]["frozen"] > 0 or any(p["frozen"] for p in data["positions"])
    frozen = (
        account.frozen
        or account.trading_restricted  # a trading restriction freezes nothing, yet the holder is told of it
        or part_frozen
    )
    return render(
        request,
        "exchange/balances.html",
        {
            "account": account,
            "cash": cash,
            "currency": data["cash"]["currency"],
            "positions": positions,
            "freezes_link": frozen and request.user.role in (Role.INVESTOR, Role.MARKET_MAKER),
            "whole_account_frozen": account.frozen,
            "trading_restricted": account.trading_restricted,
            # Restricted with cash or shares frozen too: the notice says both (found by a review: it said the
            # restriction only, and "its cash and shares stay its own" of what a legal order froze).
            "part_frozen": part_frozen,
        },
    )


# --------------------------------------------------------------------------
# Market maker's quotes


def _quote_rows(account, securities: list[Security]) -> list[dict]:
    mine: dict[tuple[int, str], Quote] = {(q.security_id, q.side): q for q in selectors.quotes_active(account)}
    best = selectors.best_prices()
    rows = []
    for security in securities:
        bid, ask = mine.get((security.pk, Quote.Side.BID)), mine.get((security.pk, Quote.Side.ASK))
        market_book = best.get(security.pk, {})
        rows.append(
            {
                "code": security.code,
                "name": security.name,
                "status_label": security.get_status_display(),
                "bid": amount_text(bid.price) if bid else None,
                "bid_size": f"{shares_text(bid.quantity)} / {shares_text(bid.original_quantity)}" if bid else None,
                "ask": amount_text(ask.price) if ask else None,
                "ask_size": f"{shares_text(ask.quantity)} / {shares_text(ask.original_quantity)}" if ask else None,
                "best_bid": amount_text(market_book.get("bid")) or None,
                "best_ask": amount_text(market_book.get("ask")) or None,
                "band": f"{amount_text(security.band_low)} – {amount_text(security.band_high)}",
                "active": bool(bid or ask),
                # Whether the venue's rules and the security allow market making: a quote is offered only there.
                "quotable": profile.mode_allowed(security, profile.MARKET_MAKING),
                "initial": {
                    "security": security.code,
                    "bid_price": bid.price if bid else None,
                    "bid_quantity": bid.original_quantity if bid else None,
                    "ask_price": ask.price if ask else None,
                    "ask_quantity": ask.original_quantity if ask else None,
                },
            }
        )
    return rows


@login_required
@never_cache
def quotes(request):
    _require_market_maker(request.user)
    account = selectors.account_of(request.user)
    if account is None:
        return _no_account(request, _("My quotes"))
    securities = list(selectors.securities_listed())
    rows = _quote_rows(account, securities)

    if request.method == "POST":
        form = QuoteForm(request.POST, securities=securities)
        if form.is_valid():
            try:
                result = services.quote_publish(user=request.user, request=form.quote_request())
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                messages.success(
                    request,
                    ngettext(
                        "Quote published in %(security)s: bid %(bid)s, ask %(ask)s; %(trades)s trade.",
                        "Quote published in %(security)s: bid %(bid)s, ask %(ask)s; %(trades)s trades.",
                        len(result.trades),
                    )
                    % {
                        "security": form.cleaned_data["security"],
                        "bid": amount_text(result.bid.price),
                        "ask": amount_text(result.ask.price),
                        "trades": len(result.trades),
                    },
                )
                return redirect("quotes")
    else:
        chosen = next((r for r in rows if r["code"] == request.GET.get("security")), None)
        initial = chosen["initial"] if chosen else {}
        form = QuoteForm(initial=initial, securities=securities)

    # A refused quote comes back with its error as a 400, as every other form does.
    return _quotes_page(request, account, rows, form, status=400 if form.is_bound and form.errors else 200)


def _quotes_page(request, account, rows, form, *, status: int = 200, answer: RfqAnswerForm | None = None):
    refusal = ""
    if answer is not None:
        reasons = [*answer.non_field_errors(), *(e for field in answer for e in field.errors)]
        refusal = gettext("Answer to request %(id)s not sent: %(errors)s") % {
            "id": answer.prefix,
            "errors": " ".join(reasons),
        }
    inbox = []
    for row in inbox_rows(request.user):
        if answer is not None and str(answer.prefix) == str(row["id"]):
            inbox.append({"row": row, "answer_form": answer, "refusal": refusal})
            refusal = ""
        else:
            inbox.append({"row": row, "answer_form": RfqAnswerForm(prefix=row["id"])})
    if refusal:
        # The request closed meanwhile and has no row to show the refusal in.
        messages.error(request, refusal)
    # A whole-account freeze pulled the quotes and refuses new ones: the page says so, and why, where its rows
    # would otherwise read "—" with nothing to explain them, and offers no form that can only be refused (found
    # by a probe: the reason showed only after a quote was tried).
    context = {"form": form, "rows": rows, "account": account, "rfq_inbox": inbox, "frozen": account.frozen}
    # Under rules that allow no market making (cn-regional-2017) the page offers no quote that can only be refused,
    # and says why (found by a walk-through: it offered "Quote" on every row and the two-sided quote form).
    # Said of the venue only where the venue forbids it: not where no security is listed yet, nor where a security
    # switched its own market making off under rules that allow it (found by a review: both read "The venue's rules
    # (open) allow no market making").
    context["venue_forbids_quotes"] = profile.MARKET_MAKING not in profile.current().modes
    # "Pull all quotes" unless the venue forbids quotes and none stands (found by a walk: under the regional rules it
    # stood alone on the page, where no quote can exist).
    context["quoting"] = any(row["active"] for row in rows)
    context["restricted"] = account.trading_restricted  # a trading restriction: no quotes either, assets its own
    # Cash or shares a legal order holds cannot back a quote: said here as on the balances page (found by a
    # review: a market maker with part of its desk frozen read its refusals for want of cash with no reason).
    context["part_frozen"] = not account.frozen and selectors.account_part_frozen(account)
    return render(request, "exchange/quotes.html", context, status=status)


def quotes_with_refused_answer(request, answer: RfqAnswerForm):
    """The quotes page again as a 400, the refused RFQ answer as typed in its row with the reason beside it, so
    that the market maker corrects it rather than types it again. The form's errors name the request."""
    account = selectors.account_of(request.user)
    securities = list(selectors.securities_listed())
    rows = _quote_rows(account, securities)
    return _quotes_page(request, account, rows, QuoteForm(securities=securities), status=400, answer=answer)


@login_required
@require_POST
def quotes_pull(request):
    _require_market_maker(request.user)
    code = request.POST.get("security") or None
    try:
        pulled = services.quotes_pull(user=request.user, security_code=code)
    except DomainError as exc:
        report_refusal(request, exc)
    else:
        messages.success(
            request, ngettext("%(count)s quote pulled.", "%(count)s quotes pulled.", pulled) % {"count": pulled}
        )
    return redirect("quotes")


# --------------------------------------------------------------------------
# The security page's market panel (registered with ``registry.hooks.register_security_panel``): the session,
# the day's figures, the chart (candles from the API), the quotes per market maker and time and sales; its
# JSON (security_market_data) is polled by the page every two seconds.

TIME_AND_SALES_ROWS = 20


def _day_figures(security: Security) -> dict:
    """Last price, change against the previous close (the reference price as the day began), volume and turnover
    of today (Beijing's day)."""
    now = timezone.now()
    midnight = now.astimezone(calendar.SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    day = selectors.candles(security, interval="1d", start=midnight, end=now + dt.timedelta(microseconds=1))
    today = day[-1] if day else {"close": None, "open": None, "high": None, "low": None, "volume": 0, "trades": 0}
    last = today["close"]
    previous_close = selectors.reference_before(security, midnight.date())
    change = None if last is None else last - previous_close
    return {
        "last": amount_text(last) or None,
        "change": None if change is None else f"{change:+,.2f}",
        "change_pct": None if change is None else f"{change * 100 / previous_close:+.2f}%",
        "direction": "flat" if not change else ("up" if change > 0 else "down"),
        "open": amount_text(today["open"]) or None,
        "high": amount_text(today["high"]) or None,
        "low": amount_text(today["low"]) or None,
        "volume": shares_text(today["volume"]),
        "turnover": amount_text(today.get("turnover", 0)),
        "trades": today["trades"],
        "reference_price": amount_text(previous_close),  # "Previous close": what the change is against
    }


def _depth_rows(security: Security) -> dict[str, list[dict]]:
    """Each market maker's quote, best first (the same levels as the ticket's book, per quote)."""
    book = selectors.quote_book(security)

    def rows(levels):
        return [
            {
                "price": amount_text(lv["price"]),
                "quantity": shares_text(lv["quantity"]),
                "market_maker": lv["market_maker"],
            }
            for lv in levels
        ]

    return {"asks": rows(book["asks"]), "bids": rows(book["bids"])}


def _time_and_sales_rows(security: Security) -> list[dict]:
    return [
        {
            "id": t.pk,
            "time": timezone.localtime(t.matched_at, calendar.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "price": amount_text(t.price),
            "quantity": shares_text(t.quantity),
        }
        for t in selectors.time_and_sales(security)[:TIME_AND_SALES_ROWS]
    ]


def _security_market(security: Security) -> dict:
    """The panel's figures. While the whole market is halted a listed security shows as halted with the market's
    reason and no quotes, as on the market watch (found by a probe: it said "Listed", "Market open")."""
    status, label, reason = market_watch.status_of(security, MarketState.objects.filter(id=1).first())
    return {
        "as_of": timezone.now().isoformat(),
        "status": status,
        "status_label": label,
        "halt_reason": reason,
        "market": market_watch.session(),
        "day": _day_figures(security),
        "depth": (
            _depth_rows(security)
            if status != Security.Status.HALTED and profile.mode_allowed(security, profile.MARKET_MAKING)
            else {"asks": [], "bids": []}
        ),
        "sales": _time_and_sales_rows(security),
    }


def _security_actions(user, security: Security) -> list[dict]:
    """Where the viewer goes from here, by the ways the venue's rules and the security allow: an investor's ticket
    (market making), request for quote and negotiated transfer; a market maker's quote desk, where its requests for
    quote wait too. Nothing for staff, and nothing while the security does not trade (halted, by itself or with the
    whole market, or delisted: each would only refuse)."""
    if security.status != Security.Status.LISTED or market_is_halted():
        return []
    code = security.code
    modes = profile.trading_modes(security)
    if user.role == Role.MARKET_MAKER:
        desk = f"{reverse('quotes')}?security={code}"
        if profile.MARKET_MAKING in modes:
            return [{"url": desk, "label": gettext("Quote it"), "kind": "primary"}]
        if profile.RFQ in modes:
            return [{"url": desk, "label": gettext("Answer requests for quote"), "kind": "primary"}]
        return []
    if user.role == Role.INVESTOR and selectors.account_of(user) is not None:
        actions = []
        if profile.MARKET_MAKING in modes:
            ticket = reverse("order-new")
            actions += [
                {"url": f"{ticket}?security={code}&side=buy", "label": gettext("Buy"), "kind": "buy"},
                {"url": f"{ticket}?security={code}&side=sell", "label": gettext("Sell"), "kind": "sell"},
            ]
        if profile.RFQ in modes:
            actions.append(
                {"url": f"{reverse('rfqs')}?security={code}", "label": gettext("Request a quote"), "kind": ""}
            )
        if profile.NEGOTIATED in modes:
            actions.append(
                {"url": f"{reverse('negotiated')}?security={code}", "label": gettext("Negotiated transfer"), "kind": ""}
            )
        return actions
    return []


def security_panel(request, security: Security) -> dict:
    modes = profile.trading_modes(security)
    return {
        "template": "exchange/_security_market.html",
        "data": _security_market(security),
        "actions": _security_actions(request.user, security),
        # Said up front: the ways the venue's rules and the security allow (found by a tester: Buy, Sell and the
        # market makers' quotes offered under cn-regional-2017, where the ticket only refused).
        "modes": [str(profile.MODE_LABELS[m]) for m in modes],
        "market_making": profile.MARKET_MAKING in modes,
        "profile": profile.current().name,
        "data_url": reverse("security-market-data", args=[security.code]),
        "candles_url": reverse("api-security-candles", args=[security.code]),
    }


@login_required
@never_cache
def security_market_data(request, code: str):
    """The panel's figures, with the quotes and time and sales as rows rendered from the page's own templates."""
    security = Security.objects.filter(code=code).first()
    if security is None:
        return JsonResponse({"code": "unknown_security", "message": gettext("No such security.")}, status=404)
    data = _security_market(security)
    data["depth_html"] = render_to_string("exchange/_security_depth.html", {"depth": data["depth"]}, request)
    data["sales_html"] = render_to_string("exchange/_security_sales.html", {"sales": data["sales"]}, request)
    return JsonResponse(data)
