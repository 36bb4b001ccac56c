"""The request-for-quote pages: the investor's RFQ page (ask, see answers arrive, accept) and the market
maker's inbox on its quotes page, both refreshing by themselves (JSON polled by static/js/rfq.js)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from core.forms import domain_error_message
from core.labels import sentence_gap
from core.models import Account, Role
from core.money import amount_text

from . import selectors
from .forms import investor_refusal, new_client_order_id
from .models import RfqRequest
from .rfq_forms import RfqAnswerForm, RfqForm
from .services import rfq as rfq_services

RECENT = 20


def _seconds_left(moment, now) -> int:
    return max(0, int((moment - now).total_seconds()))


def time_left(seconds: int) -> str:
    """A countdown as a reader takes it in: "42 s", "4 min 12 s", "23 h 56 min" (an RFQ may stay open a day)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return gettext("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return gettext("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
    return gettext("%(s)s s") % {"s": secs}


def _answer_label(answer, rfq: RfqRequest, now) -> str:
    """An answer's status as the investor reads it: one released when another was accepted was "Not chosen"; one
    released with its request (cancelled by its investor, or closed by a legal order) was not a choice and not the
    market maker's withdrawal, "Closed with the request"; one released while the request is open (the exchange
    released it) "Withdrawn" (found by a review: a frozen investor's answers read "Not chosen")."""
    if answer.status == answer.Status.RELEASED and rfq.status in (
        RfqRequest.Status.CANCELLED,
        RfqRequest.Status.EXPIRED,
    ):
        return gettext("Closed with the request")
    if answer.status == answer.Status.RELEASED and rfq.status == RfqRequest.Status.OPEN:
        return gettext("Withdrawn")
    return answer.status_label_at(now)


def _request_row(rfq: RfqRequest, user, now) -> dict:
    answers = selectors.rfq_answers_visible(rfq, user)
    firm = [a for a in answers if a.status_at(now) == a.Status.FIRM]
    best = None
    if firm:
        pick = min if rfq.side == "buy" else max
        best = pick(firm, key=lambda a: a.price).pk
    return {
        "id": rfq.pk,
        "security": rfq.security.code,
        "side": rfq.side,
        "side_label": rfq.get_side_display(),
        "quantity": f"{rfq.quantity:,}",
        "status": rfq.status_at(now),
        "status_label": rfq.status_label_at(now),
        "open": rfq.status_at(now) == RfqRequest.Status.OPEN,
        "expires_at": rfq.expires_at,
        "time_left": time_left(_seconds_left(rfq.expires_at, now)),
        "trade": next((a.trade_id for a in answers if a.trade_id), None),
        "answers": [
            {
                "id": a.pk,
                "market_maker": a.account.code,
                "price": amount_text(a.price),
                "value": amount_text(a.price * a.quantity),
                "status": a.status_at(now),
                "status_label": _answer_label(a, rfq, now),
                "firm": a in firm,
                "best": a.pk == best,
                "time_left": time_left(_seconds_left(a.expires_at, now)),
            }
            for a in answers
        ],
    }


def _require_investor(user) -> None:
    if user.role != Role.INVESTOR:
        raise PermissionDenied


@login_required
@never_cache
def rfqs(request):
    """Ask for quotes; the open requests show their answers side by side, refreshing by themselves."""
    _require_investor(request.user)
    account = selectors.account_of(request.user)
    if account is None:
        return render(request, "exchange/no_account.html", {"title": _("Request for quote")})
    securities = [s for s in selectors.securities_listed() if s.mode_rfq]
    if request.method == "POST":
        form = RfqForm(request.POST, securities=securities)
        if form.is_valid():
            try:
                rfq_services.rfq_request(
                    requested_by=request.user,
                    account=account,
                    request=rfq_services.RfqRequestInput(**form.cleaned_data),
                )
            except DomainError as exc:
                form.add_error(None, investor_refusal(exc))
            else:
                messages.success(request, gettext("Request sent to the market makers."))
                return redirect("rfqs")
    else:
        # ``?security=``: the security page and the market watch link here for a security they name.
        initial = {"client_request_id": new_client_order_id(), "security": request.GET.get("security", "")}
        form = RfqForm(initial=initial, securities=securities)
    now = timezone.now()
    rows = [_request_row(r, request.user, now) for r in selectors.rfqs_visible(request.user)[:RECENT]]
    context = {"form": form, "rows": rows, "account": account, "kyc_pending": selectors.kyc_pending(request.user)}
    return render(request, "exchange/rfqs.html", context)


@login_required
@never_cache
def rfqs_data(request):
    """The investor's recent requests, each as its rendered card, polled by the RFQ page."""
    _require_investor(request.user)
    now = timezone.now()
    rows = [_request_row(r, request.user, now) for r in selectors.rfqs_visible(request.user)[:RECENT]]
    return JsonResponse(
        {
            "as_of": now.isoformat(),
            "requests": [
                {
                    "id": row["id"],
                    "status": row["status"],
                    "html": render_to_string("exchange/_rfq_card.html", {"row": row}, request),
                }
                for row in rows
            ],
        }
    )


@login_required
@require_POST
def rfq_accept(request, rfq_id):
    _require_investor(request.user)
    try:
        answer_id = int(request.POST.get("answer", ""))
    except ValueError:
        messages.error(request, gettext("Choose an answer to accept."))
        return redirect("rfqs")
    try:
        result = rfq_services.rfq_accept(actor=request.user, rfq_id=rfq_id, answer_id=answer_id)
    except DomainError as exc:
        messages.error(request, domain_error_message(exc))
    else:
        messages.success(
            request,
            gettext("Accepted: trade %(trade)s, %(quantity)s shares at %(price)s.")
            % {
                "trade": result.trade.pk,
                "quantity": f"{result.trade.quantity:,}",
                "price": amount_text(result.trade.price),
            },
        )
    return redirect("rfqs")


@login_required
@require_POST
def rfq_cancel(request, rfq_id):
    _require_investor(request.user)
    try:
        rfq_services.rfq_cancel(actor=request.user, rfq_id=rfq_id)
    except DomainError as exc:
        messages.error(request, domain_error_message(exc))
    else:
        messages.success(request, gettext("Request cancelled; its answers are released."))
    return redirect("rfqs")


# --------------------------------------------------------------------------
# The market maker's inbox (a section of the quotes page)


def _require_market_maker(user) -> None:
    if user.role != Role.MARKET_MAKER:
        raise PermissionDenied


def inbox_rows(user) -> list[dict]:
    """The open requests a market maker may answer (at most 50), as the inbox's rows: the page draws them, and
    its script then keeps them current (it showed "no open requests" until the script's first poll)."""
    now = timezone.now()
    qs = selectors.rfqs_visible(user).filter(status=RfqRequest.Status.OPEN, expires_at__gt=now)
    # A request whose answer the venue's interval would refuse (409 ``holding_period``) says so in its row instead
    # of offering a form that cannot succeed (found by a review).
    interval = rfq_services.IntervalRefusals(
        Account.objects.filter(owner=user, kind=Account.Kind.MARKET_MAKER).first(), now=now
    )
    return [{**_request_row(r, user, now), "interval": interval.of(r)} for r in qs[:50]]


@login_required
@never_cache
def rfq_inbox_data(request):
    """The open requests a market maker may answer, each as its rendered row, polled by the quotes page."""
    _require_market_maker(request.user)
    now = timezone.now()
    rows = inbox_rows(request.user)
    # A frozen desk answers nothing: its rows say so instead of offering a form that can only refuse.
    desk = Account.objects.filter(owner=request.user, kind=Account.Kind.MARKET_MAKER)
    frozen = desk.filter(frozen=True).exists()
    restricted = desk.filter(trading_restricted=True).exists()  # a trading restriction answers nothing either
    return JsonResponse(
        {
            "as_of": now.isoformat(),
            "requests": [
                {
                    "id": row["id"],
                    "html": render_to_string(
                        "exchange/_rfq_inbox_row.html",
                        {
                            "row": row,
                            "form": RfqAnswerForm(prefix=row["id"]),
                            "frozen": frozen,
                            "restricted": restricted,
                        },
                        request,
                    ),
                    "mine_html": render_to_string("exchange/_rfq_inbox_mine.html", {"row": row}, request),
                }
                for row in rows
            ],
        }
    )


@login_required
@require_POST
def rfq_answer(request, rfq_id):
    _require_market_maker(request.user)
    form = RfqAnswerForm(request.POST, prefix=rfq_id)
    if form.is_valid():
        try:
            answer = rfq_services.rfq_answer(user=request.user, rfq_id=rfq_id, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, domain_error_message(exc))
    if form.errors:
        # The quotes page again, as a 400, the answer as typed in its row beside the reason (lazily imported:
        # the quotes page draws this module's inbox).
        from .views import quotes_with_refused_answer

        return quotes_with_refused_answer(request, form)
    # Rounded, not cut as a countdown is: the milliseconds since the answer was made made an answer typed as firm
    # for 60 seconds read "firm for 59 seconds" (found by a walk-through).
    seconds = max(0, round((answer.expires_at - timezone.now()).total_seconds()))
    done = gettext("Answer to request %(id)s sent: %(price)s, firm for %(seconds)s seconds.") % {
        "id": rfq_id,
        "price": amount_text(answer.price),
        "seconds": seconds,
    }
    if seconds < form.cleaned_data["valid_seconds"] - 1:  # cut to the request's own end, which it cannot outlive
        done += sentence_gap() + gettext("The request ends then, so the answer cannot stay firm longer.")
    messages.success(request, done)
    return redirect("quotes")


# --------------------------------------------------------------------------
# At the broker counter, on a client's behalf


def rfq_counter_page(request, *, account, extra: dict):
    """Broker staff ask, accept and cancel requests for quote for a client (``account``), marked as
    counter-entered in the audit trail by the service's actor; the page posts back to itself."""
    staff = request.user
    securities = [s for s in selectors.securities_listed() if s.mode_rfq]
    form = RfqForm(initial={"client_request_id": new_client_order_id()}, securities=securities)
    if request.method == "POST":
        action = request.POST.get("action", "ask")
        if action in ("accept", "cancel"):
            try:
                rfq_id = int(request.POST.get("rfq", ""))
                answer_id = int(request.POST.get("answer", "0") or 0)
            except ValueError:
                messages.error(request, gettext("Choose a request and an answer."))
                return redirect(request.path)
            if not selectors.rfqs_visible(staff).filter(pk=rfq_id, account=account).exists():
                messages.error(request, gettext("No such request for this client."))
                return redirect(request.path)
            try:
                if action == "accept":
                    result = rfq_services.rfq_accept(actor=staff, rfq_id=rfq_id, answer_id=answer_id)
                    text = gettext("Accepted: trade %(trade)s, %(quantity)s shares at %(price)s.") % {
                        "trade": result.trade.pk,
                        "quantity": f"{result.trade.quantity:,}",
                        "price": amount_text(result.trade.price),
                    }
                else:
                    rfq_services.rfq_cancel(actor=staff, rfq_id=rfq_id)
                    text = gettext("Request cancelled; its answers are released.")
            except DomainError as exc:
                messages.error(request, domain_error_message(exc))
            else:
                messages.success(request, text)
            return redirect(request.path)
        form = RfqForm(request.POST, securities=securities)
        if form.is_valid():
            try:
                rfq_services.rfq_request(
                    requested_by=staff, account=account, request=rfq_services.RfqRequestInput(**form.cleaned_data)
                )
            except DomainError as exc:
                form.add_error(None, domain_error_message(exc))
            else:
                messages.success(request, gettext("Request sent to the market makers."))
                return redirect(request.path)
    now = timezone.now()
    rows = [_request_row(r, staff, now) for r in selectors.rfqs_visible(staff).filter(account=account)[:RECENT]]
    context = {"form": form, "rows": rows, "account": account, "counter_url": request.path, **extra}
    return render(request, "exchange/rfqs_counter.html", context)
