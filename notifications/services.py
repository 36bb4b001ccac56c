"""Writes of notifications: turning an event into rows, marking them read, a recipient's preferences.

``event_notify`` is what the Celery task runs. It reads the event's rows (trades, settlement actions, RFQ answers,
proposals, freezes, orders the exchange cancelled, approved issuances, cash deposits and withdrawals), names the
recipients — the investor owning each account concerned (``Account.kind`` investor, with an owner) and, for what
happens to its account rather than each of its trades, the market maker owning one (``_holder``: a freeze or
trading restriction and its end, a forced transfer, a correction, a settlement held, released or refused; not its
fills and settlements, which its own systems tell it, nor requests for quote, which its quotes page lists as they
come); fee accounts get none — and writes one row per recipient and event unless the recipient
switched the kind off. ``(user, key)`` is unique, so a duplicate delivery, a retry or a second worker writes
nothing more and sends no second email. An event whose rows are gone (a test database emptied since) writes
nothing.

Email is optional per recipient (``Preference.email``), sent through Django's email backend after the rows
commit, in both languages, for rows written now only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy

from balances.models import IssuanceProposal
from core import errors as err
from core import events
from core.crypto import mask_reference
from core.models import Account, Role, User
from exchange.models import NegotiatedTrade, Order, Quote, RfqAnswer, RfqRequest, Trade
from kyc.models import KycProfile
from ledger.models import Entry
from registry.services import market_is_halted
from settlement import instructions
from settlement.models import SettlementAction
from supervision.models import Correction, ForcedTransfer, Freeze

from . import messages
from .models import RECIPIENTS, Kind, Notification, Outbox, Preference

logger = logging.getLogger(__name__)

log = logging.getLogger(__name__)


class NotificationNotFound(err.NotFound):
    code = "notification_not_found"
    default_message = gettext_lazy("No such notification.")


class UnknownKind(err.InvalidInput):
    code = "unknown_notification_kind"
    default_message = gettext_lazy("No such kind of notification.")


@dataclass(frozen=True)
class Draft:
    user_id: int
    kind: str
    key: str
    params: dict


def _investor(account: Account | None) -> int | None:
    """The user to tell about ``account``: its owner if it is an investor's account."""
    if account is None or account.kind != Account.Kind.INVESTOR or account.owner_id is None:
        return None
    return account.owner_id


def _holder(account: Account | None) -> int | None:
    """The user to tell about what happens to ``account`` itself (a freeze, a forced transfer, a correction, a
    settlement held, released or refused): its owner if it is an investor's or a market maker's account."""
    if account is None or account.kind == Account.Kind.FEE or account.owner_id is None:
        return None
    return account.owner_id


def _market_maker(account: Account) -> dict:
    """``{"market_maker": True}`` for a market maker's account (its notice sends it to the regulator for a legal
    order's details, not to a broker it does not have); nothing for an investor's, whose facts stay as they were."""
    return {"market_maker": True} if account.kind == Account.Kind.MARKET_MAKER else {}


def _trade_facts(trade: Trade, side: str) -> dict:
    return {
        "trade": trade.pk,
        "security": trade.security.code,
        "side": side,
        "quantity": trade.quantity,
        "price": str(trade.price),
    }


def _trade_parties(trade: Trade, *, market_makers: bool = False) -> Iterable[tuple[int, str]]:
    """Who to tell of the trade, with their side: its investors; with ``market_makers``, its market makers too."""
    recipient = _holder if market_makers else _investor
    for account, side in ((trade.buyer, "buy"), (trade.seller, "sell")):
        user_id = recipient(account)
        if user_id is not None:
            yield user_id, side


def _trades(**where) -> list[Trade]:
    return list(Trade.objects.select_related("security", "buyer", "seller").filter(**where).order_by("id"))


def _on_block_sealed(*, height: int) -> list[Draft]:
    """The fills of the trades sealed in block ``height`` (whatever their mode: each trade has its TRADE entry).
    A request for quote's or a negotiated transfer's trade names its request (``rfq``) or proposal
    (``negotiated``), and is told as theirs: no order of the investor's filled (found by a walk-through: an
    accepted answer was told as "Order filled")."""
    trades = _trades(entry__leaf__block_id=height)
    made_by = {
        **{t: {"rfq": r} for t, r in RfqAnswer.objects.filter(trade__in=trades).values_list("trade_id", "request_id")},
        **{
            t: {"negotiated": p}
            for t, p in NegotiatedTrade.objects.filter(trade__in=trades).values_list("trade_id", "pk")
        },
    }
    return [
        Draft(user_id, Kind.FILL, f"fill:{t.pk}", {**_trade_facts(t, side), **made_by.get(t.pk, {})})
        for t in trades
        for user_id, side in _trade_parties(t)
    ]


def _on_trades_settled(*, trade_ids: list[int]) -> list[Draft]:
    return [
        Draft(user_id, Kind.SETTLED, f"settled:{t.pk}", _trade_facts(t, side))
        for t in _trades(pk__in=trade_ids)
        if t.status == Trade.Status.SETTLED
        for user_id, side in _trade_parties(t)
    ]


ACTION_KINDS = {
    SettlementAction.Action.HOLD: Kind.HELD,
    SettlementAction.Action.RELEASE: Kind.RELEASED,
    SettlementAction.Action.REFUSE: Kind.REFUSED,
}


def _action_facts(action: SettlementAction) -> dict:
    """Why the trade was held, released or refused, as its parties may be told. A standing instruction's hold
    names whose instruction it is (``held_by``: depository or regulator) and carries the depository's reason
    only: a regulator's would tip off the investor (``settlement.instructions.reason_disclosed``). A release
    while the whole market is halted says so (``market_halted``): the trade waits for the market to resume."""
    if action.action == SettlementAction.Action.RELEASE and market_is_halted():
        # Settlement is paused while the whole market is halted: the released trade settles once it resumes.
        return {"reason": action.reason, "market_halted": True}
    if action.instruction is None:
        return {"reason": action.reason}
    facts = {"held_by": instructions.instruction_setter(action.instruction)}
    if instructions.reason_disclosed(action.instruction.set_by_role):
        facts["reason"] = action.reason
    return facts


def _on_settlement_acted(*, action_id: int) -> list[Draft]:
    action = (
        SettlementAction.objects.select_related(
            "trade__security", "trade__buyer", "trade__seller", "instruction__created_by"
        )
        .filter(pk=action_id)
        .first()
    )
    if action is None:
        return []
    return [
        Draft(
            user_id,
            ACTION_KINDS[action.action],
            f"settlement:{action.pk}",
            {**_trade_facts(action.trade, side), **_action_facts(action)},
        )
        for user_id, side in _trade_parties(action.trade, market_makers=True)
    ]


def _on_kyc_decided(*, profile_id: int, state: str, reason: str, at: str) -> list[Draft]:
    profile = KycProfile.objects.select_related("user").filter(pk=profile_id).first()
    if profile is None or profile.user.role != Role.INVESTOR:
        return []
    return [Draft(profile.user_id, Kind.KYC, f"kyc:{profile_id}:{at}", {"state": state, "reason": reason})]


def _on_freeze_changed(
    *, freeze_id: int, event: str, security: str | None = None, quantity: int | None = None, at: str | None = None
) -> list[Draft]:
    freeze = Freeze.objects.select_related("account", "security").filter(pk=freeze_id).first()
    if freeze is None:
        return []
    user_id = _holder(freeze.account)
    if user_id is None:
        return []
    facts = {
        "freeze": freeze.pk,
        "account": freeze.account.code,
        "scope": freeze.kind,
        "reference": mask_reference(freeze.legal_reference),
        "event": event,
        **_market_maker(freeze.account),
    }
    if event == "unlock_taken":
        # Shares whose lock-up ended, taken by the freeze at once: what, and why it could not take them before.
        facts.update(reason=freeze.reason, cash="0", shares={security: quantity}, unlock=True)
        return [Draft(user_id, Kind.FREEZE, f"freeze:{freeze.pk}:unlock:{security}:{at}", facts)]
    if event == "frozen":
        shares = dict(freeze.parts or {})
        if freeze.kind == Freeze.Kind.SHARES and freeze.held_quantity:
            shares[freeze.security.code] = freeze.held_quantity
        facts.update(reason=freeze.reason, cash=str(freeze.held_amount), shares=shares)
        if freeze.kind in (Freeze.Kind.ACCOUNT, Freeze.Kind.TRADING):
            # The approval cancelled the account's open orders (each told in an ``orders_closed`` of its own): the
            # freeze says how many, with the rest of what a whole-account freeze means. Those of its moment only:
            # an order made in the approval's last instant, which the beat cancels later, is told on its own.
            facts["orders_cancelled"] = Order.objects.filter(
                account=freeze.account,
                closed_by=(
                    Order.ClosedBy.TRADE_RESTRICTED
                    if freeze.kind == Freeze.Kind.TRADING
                    else Order.ClosedBy.ACCOUNT_FROZEN
                ),
                closed_reason=str(freeze.pk),
                updated_at=freeze.decided_at,
            ).count()
            # And the negotiated proposals it made, which the approval withdrew (found by a probe: the notice
            # counted only the orders), and its requests for quote and firm answers, closed at the approval's
            # moment once it committed (before this notice was queued). The proposals made to it are the beat's to
            # close, a minute later: not counted here.
            facts["proposals_withdrawn"] = NegotiatedTrade.objects.filter(
                proposer=freeze.account,
                status=NegotiatedTrade.Status.WITHDRAWN,
                closed_by__isnull=True,
                closed_at=freeze.decided_at,
            ).count()
            # A market maker's quotes, pulled by the approval (found by a probe: its notice did not say so).
            facts["quotes_pulled"] = Quote.objects.filter(
                account=freeze.account, status=Quote.Status.PULLED, updated_at=freeze.decided_at
            ).count()
            facts["rfqs_cancelled"] = RfqRequest.objects.filter(
                account=freeze.account, status=RfqRequest.Status.CANCELLED, closed_at=freeze.decided_at
            ).count()
            facts["answers_released"] = RfqAnswer.objects.filter(
                account=freeze.account, status=RfqAnswer.Status.RELEASED, closed_at=freeze.decided_at
            ).count()
        return [Draft(user_id, Kind.FREEZE, f"freeze:{freeze.pk}", facts)]
    return [Draft(user_id, Kind.UNFREEZE, f"unfreeze:{freeze.pk}", facts)]


def _on_rfq_answered(*, answer_id: int) -> list[Draft]:
    answer = RfqAnswer.objects.select_related("request__account", "request__security").filter(pk=answer_id).first()
    if answer is None:
        return []
    rfq = answer.request
    user_id = _investor(rfq.account)
    if user_id is None:
        return []
    facts = {
        "rfq": rfq.pk,
        "answer": answer.pk,
        "security": rfq.security.code,
        "side": rfq.side,
        "quantity": answer.quantity,
        "price": str(answer.price),
        "expires_at": answer.expires_at.isoformat(),
    }
    return [Draft(user_id, Kind.RFQ_ANSWER, f"rfq_answer:{answer.pk}", facts)]


def _on_negotiated_proposed(*, proposal_id: int) -> list[Draft]:
    p = NegotiatedTrade.objects.select_related("proposer", "counterparty", "security").filter(pk=proposal_id).first()
    if p is None:
        return []
    user_id = _holder(p.counterparty)  # an investor or a market maker: either may be proposed to
    if user_id is None:
        return []
    facts = {
        "proposal": p.pk,
        "proposer": p.proposer.code,
        "security": p.security.code,
        # the counterparty's side: the other one
        "side": "sell" if p.side == NegotiatedTrade.Side.BUY else "buy",
        "quantity": p.quantity,
        "price": str(p.price),
        "expires_at": p.expires_at.isoformat(),
    }
    return [Draft(user_id, Kind.NEGOTIATED, f"negotiated:{p.pk}", facts)]


def _on_negotiated_ended(*, proposal_id: int) -> list[Draft]:
    """An open proposal ended without a trade: each party (an investor or a market maker) is told, but one who
    ended it themselves (what the proposer had reserved is released)."""
    p = (
        NegotiatedTrade.objects.select_related("proposer", "counterparty", "security", "closed_by")
        .filter(pk=proposal_id)
        .first()
    )
    if p is None or p.status not in (NegotiatedTrade.Status.WITHDRAWN, NegotiatedTrade.Status.EXPIRED):
        return []
    # Withdrawn by no one: after too many wrong codes, or because a party's whole account was frozen (found by a
    # review: the freeze's withdrawal was told as five wrong codes). A frozen proposer is told so; the other party
    # only that it was withdrawn: the freeze is not theirs to learn.
    by_system = p.status == NegotiatedTrade.Status.WITHDRAWN and p.closed_by_id is None
    if p.status == NegotiatedTrade.Status.EXPIRED:
        why = "expired"
    elif by_system and p.wrong_codes >= NegotiatedTrade.MAX_WRONG_CODES:
        why = "wrong_codes"
    else:
        why = "withdrawn"
    frozen = by_system and why == "withdrawn" and p.proposer.frozen
    facts = {
        "proposal": p.pk,
        "security": p.security.code,
        "quantity": p.quantity,
        "price": str(p.price),
        "why": why,
        "by": p.closed_by.username if p.closed_by else "",
    }
    drafts = []
    for account in (p.proposer, p.counterparty):
        user_id = _holder(account)
        if user_id is None or user_id == p.closed_by_id:
            continue
        proposer = account == p.proposer
        told = {**facts, "proposer": proposer, **({"why": "account_frozen"} if frozen and proposer else {})}
        drafts.append(Draft(user_id, Kind.NEGOTIATED_ENDED, f"negotiated_end:{p.pk}", told))
    return drafts


def _on_assets_moved(*, what: str, pk: int) -> list[Draft]:
    """A forced transfer tells the holder it took from and the one it gave to (the legal order's reference
    masked, as for a freeze); a correction tells each party to the trade, with the new terms (an investor or a
    market maker: ``_holder``)."""
    if what == "transfer":
        t = ForcedTransfer.objects.select_related("freeze__account", "receiver", "security").filter(pk=pk).first()
        if t is None:
            return []
        facts = {
            "transfer": t.pk,
            "sender": t.freeze.account.code,
            "receiver": t.receiver.code,
            "security": t.security.code if t.security else None,
            "quantity": t.quantity,
            "amount": str(t.amount) if t.amount is not None else None,
            "reference": mask_reference(t.legal_reference),
        }
        return [
            Draft(
                user_id,
                Kind.FORCED_TRANSFER,
                f"transfer:{t.pk}",
                {**facts, "direction": direction, **_market_maker(account)},
            )
            for account, direction in ((t.freeze.account, "out"), (t.receiver, "in"))
            if (user_id := _holder(account)) is not None
        ]
    c = Correction.objects.select_related("trade__security", "trade__buyer", "trade__seller").filter(pk=pk).first()
    if c is None:
        return []
    return [
        Draft(
            user_id,
            Kind.CORRECTION,
            f"correction:{c.pk}",
            {**_trade_facts(c.trade, side), "new_price": str(c.new_price), "new_quantity": c.new_quantity},
        )
        for user_id, side in _trade_parties(c.trade, market_makers=True)
    ]


def _on_issuance_approved(*, issuance_id: int) -> list[Draft]:
    """An approved issuance tells each investor it credited, per account: how many shares of which security, and
    how many of them are locked up until when (the proposal's allocations, as its ISSUE entry has them)."""
    p = IssuanceProposal.objects.select_related("security").filter(pk=issuance_id).first()
    if p is None or p.status != IssuanceProposal.Status.APPROVED:
        return []
    accounts = {a.code: a for a in Account.objects.filter(code__in=[a["account"] for a in p.allocations])}
    return [
        Draft(
            user_id,
            Kind.ISSUANCE,
            f"issuance:{p.pk}:{a['account']}",  # one a holder's account: an investor may hold two
            {
                "issuance": p.pk,
                "security": p.security.code,
                "account": a["account"],
                "quantity": a["quantity"],
                "locked_quantity": a["locked_quantity"],
                "locked_until": a["locked_until"],
            },
        )
        for a in p.allocations
        if (user_id := _investor(accounts.get(a["account"]))) is not None
    ]


def _cash_moved(kind: str, *, entry_id: int, account_id: int, amount: str) -> list[Draft]:
    """Cash credited or paid out at the counter tells the investor whose account it is, as an issuance's shares do
    (found by walk-throughs: a deposit made for a client came without a word, then a withdrawal, money leaving the
    account, which its holder most needs to hear of should it not be theirs). Its DEPOSIT or WITHDRAWAL entry names
    the event."""
    account = Account.objects.filter(pk=account_id).first()
    user_id = _investor(account)
    if user_id is None or not Entry.objects.filter(pk=entry_id).exists():
        return []
    return [Draft(user_id, kind, f"{kind}:{entry_id}", {"account": account.code, "amount": amount})]


def _on_cash_deposited(**facts) -> list[Draft]:
    return _cash_moved(Kind.DEPOSIT, **facts)


def _on_cash_withdrawn(**facts) -> list[Draft]:
    return _cash_moved(Kind.WITHDRAWAL, **facts)


def _on_orders_closed(*, order_ids: list[int]) -> list[Draft]:
    """Open orders the exchange cancelled (a security's change or delisting, a whole-account freeze): one
    notification per account and cancel, listing its orders, with the cause and its particulars
    (``Order.closed_by``, ``closed_reason``) worded when read (``Order.closed_reason_text``).

    A cancel is every order its transaction closed for the same account, cause and particulars at the same moment
    (the ``now`` its books share), whichever security's book announced it: a freeze that cancels orders in three
    securities fires once per book, and each delivery finds the same three orders and the same key (the first
    order's), so the investor reads one message and a repeat writes nothing."""
    announced = (
        Order.objects.filter(pk__in=order_ids)
        .exclude(closed_by="")
        .values_list("account_id", "closed_by", "closed_reason", "updated_at")
        .order_by()
        .distinct()
    )
    cancels = set(announced)
    if not cancels:
        return []
    # Each cancel's orders, found by its account, cause and moment (indexed, one list of each however many
    # accounts a security's change touched) and kept when the particulars are the cancel's too: one OR branch a
    # cancel made a statement as long as the accounts, which PostgreSQL planned branch by branch.
    accounts, causes, moments = (sorted({c[i] for c in cancels}) for i in (0, 1, 3))
    batches: dict[tuple, list[Order]] = {}
    for o in (
        Order.objects.select_related("account", "security")
        .filter(account_id__in=accounts, closed_by__in=causes, updated_at__in=moments)
        .order_by("id")
    ):
        if (key := (o.account_id, o.closed_by, o.closed_reason, o.updated_at)) in cancels:
            batches.setdefault(key, []).append(o)
    drafts = []
    for (_account, closed_by, reason, _at), orders in batches.items():
        user_id = _investor(orders[0].account)
        if user_id is None:
            continue
        facts = {
            "account": orders[0].account.code,
            "closed_by": closed_by,
            "reason": reason,
            "orders": [
                {
                    "order": o.pk,
                    "security": o.security.code,
                    "side": o.side,
                    "quantity": o.quantity,
                    "filled": o.filled_quantity,
                    "price": str(o.limit_price),
                }
                for o in orders
            ],
        }
        drafts.append(Draft(user_id, Kind.ORDERS_CLOSED, f"orders_closed:{orders[0].pk}", facts))
    return drafts


EVENTS: dict[str, Callable[..., list[Draft]]] = {
    "block_sealed": _on_block_sealed,
    "trades_settled": _on_trades_settled,
    "settlement_acted": _on_settlement_acted,
    "kyc_decided": _on_kyc_decided,
    "freeze_changed": _on_freeze_changed,
    "rfq_answered": _on_rfq_answered,
    "negotiated_proposed": _on_negotiated_proposed,
    "negotiated_ended": _on_negotiated_ended,
    "assets_moved": _on_assets_moved,
    "orders_closed": _on_orders_closed,
    "issuance_approved": _on_issuance_approved,
    "cash_deposited": _on_cash_deposited,
    "cash_withdrawn": _on_cash_withdrawn,
}


def event_notify(*, event: str, facts: dict) -> list[Notification]:
    """Write the notifications of one event (``EVENTS``); return those written now (none on a repeat)."""
    drafts = EVENTS[event](**facts)
    if not drafts:
        return []
    prefs = {p.user_id: p for p in Preference.objects.filter(user_id__in={d.user_id for d in drafts})}
    written: list[Notification] = []
    now = timezone.now()
    with transaction.atomic():
        for d in drafts:
            pref = prefs.get(d.user_id)
            if pref is not None and d.kind in pref.muted:
                continue
            try:
                with transaction.atomic():  # a savepoint: a duplicate key leaves the rest of the event alone
                    n = Notification.objects.create(
                        user_id=d.user_id, kind=d.kind, key=d.key, params=d.params, created_at=now
                    )
            except IntegrityError:
                continue  # already written by an earlier delivery of this event
            written.append(n)
        # The bell of each open page hears the new count at once (core.events; it polls as the fallback).
        users = sorted({n.user_id for n in written})
        unread = dict(
            Notification.objects.filter(user_id__in=users, read_at__isnull=True)
            .values_list("user_id")
            .annotate(n=Count("id"))
        )
        events.publish_many_on_commit(
            [(events.user_channel(u), "notification", {"unread": unread.get(u, 0)}) for u in users]
        )
        emailed = [n for n in written if prefs.get(n.user_id) is not None and prefs[n.user_id].email]
        if emailed:
            ids = [n.pk for n in emailed]
            transaction.on_commit(lambda: _emails_queue(ids), robust=True)
    return written


# The transactional outbox (models.Outbox): an event is recorded in its own change's transaction and delivered
# after it, by the task its commit queues or by beat's sweep when that message was lost.
OUTBOX_MAX_ATTEMPTS = 5


# The sweep takes only records older than this: younger ones are their own tasks' (a sweep that took every record
# ran as long as a sustained load kept recording, holding a worker process the seals needed: p99 of match →
# settled 3.3 s in the bench, where it is 0.2 s).
OUTBOX_SWEEP_AGE = dt.timedelta(seconds=10)


def outbox_record(*, event: str, facts: dict) -> None:
    """Record ``event`` in the current transaction, to be delivered once it commits (nothing if it rolls back)."""
    row = Outbox.objects.create(event=event, facts=facts)
    transaction.on_commit(lambda: _outbox_deliver_soon(row.pk), robust=True)


def _outbox_deliver_soon(pk: int) -> None:
    from .tasks import notify_pending  # (the tasks module imports this one)

    notify_pending.delay([pk])


def outbox_deliver(*, ids: list[int] | None = None, limit: int = 1000) -> int:
    """Deliver the recorded events ``ids`` (a commit's own), or else, as beat's sweep, up to ``limit`` of those
    recorded over ``OUTBOX_SWEEP_AGE`` ago, oldest first; each in a transaction of its own that writes its
    notifications and deletes it: two deliverers never take the same one (``SKIP LOCKED``), and one interrupted
    leaves it recorded. An event that fails on its own (not on the database, which the task retries) is counted
    and left for the next sweep, set aside after ``OUTBOX_MAX_ATTEMPTS``. Returns how many were delivered."""
    delivered = 0
    skip: list[int] = []
    if ids is not None:
        which = Outbox.objects.filter(pk__in=ids)
    else:
        which = Outbox.objects.filter(created_at__lt=timezone.now() - OUTBOX_SWEEP_AGE)
    while delivered + len(skip) < limit:
        with transaction.atomic():
            row = (
                which.select_for_update(skip_locked=True)
                .filter(attempts__lt=OUTBOX_MAX_ATTEMPTS)
                .exclude(pk__in=skip)
                .order_by("pk")
                .first()
            )
            if row is None:
                break
            try:
                with transaction.atomic():
                    if row.event in EVENTS:  # else from another version of the code: nothing to write
                        event_notify(event=row.event, facts=row.facts)
            except DatabaseError:
                raise
            except Exception:
                row.attempts += 1
                row.save(update_fields=["attempts"])
                skip.append(row.pk)
                level = logging.ERROR if row.attempts >= OUTBOX_MAX_ATTEMPTS else logging.WARNING
                logger.log(
                    level,
                    "notifications of %s %s failed (attempt %d of %d)",
                    row.event,
                    row.facts,
                    row.attempts,
                    OUTBOX_MAX_ATTEMPTS,
                    exc_info=True,
                )
                continue
            row.delete()
            delivered += 1
    return delivered


def _emails_queue(notification_ids: list[int]) -> None:
    from .tasks import notification_email  # (the tasks module imports this one)

    for pk in notification_ids:
        notification_email.delay(pk)


# Two deliveries of one notification's email task take turns on this lock (PostgreSQL's advisory lock, the
# notification's id its second key), so that the second finds it sent; the row itself stays free to be read.
_EMAIL_LOCK = 0x4E4D  # "NM"


def notification_email_send(notification_id: int) -> bool:
    """Email one notification to its recipient's address (the worker's ``notification_email`` task), once: a
    second delivery, or a retry after it was sent, sends nothing. A mail server's error (an ``OSError``) rolls back
    and propagates, for the task to retry; the notification is then not marked emailed (found by a review: one
    failure lost every email of the batch, with no retry). Returns whether it sent."""
    with transaction.atomic():
        with connection.cursor() as cur:
            # The two-key form takes two int4s and ids are bigints: folded (found by a review: past 2^31 - 1 every
            # email failed for good); two ids folded alike only take turns.
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, (%s::bigint %% 2147483647)::int)", [_EMAIL_LOCK, notification_id]
            )
        n = Notification.objects.filter(pk=notification_id).first()
        if n is None or n.emailed_at is not None:
            return False
        user = User.objects.filter(pk=n.user_id).exclude(email="").first()
        if user is None:  # the address was removed meanwhile
            return False
        subject, text = email_render(n)
        send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
        Notification.objects.filter(pk=n.pk).update(emailed_at=timezone.now())
        return True


def email_render(n: Notification) -> tuple[str, str]:
    """Subject and text of a notification's email: Chinese first, then English."""
    parts = []
    for language in ("zh-hans", "en"):
        with translation.override(language):
            parts.append((messages.title(n), messages.body(n)))
    subject = " / ".join(t for t, _ in parts)
    text = "\n\n".join(f"{t}\n{b}" for t, b in parts)
    return subject, text


# --------------------------------------------------------------------------
# The recipient's own actions (an investor's or a market maker's)


def _require_recipient(user: User) -> None:
    if not user.is_authenticated or user.role not in RECIPIENTS:
        raise err.PermissionDenied(gettext("Notifications are for investors and market makers."))


def notification_read(*, user: User, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (again: nothing changes). Another user's is a 404."""
    _require_recipient(user)
    with transaction.atomic():
        n = Notification.objects.select_for_update().filter(pk=notification_id, user=user).first()
        if n is None:
            raise NotificationNotFound()
        if n.read_at is None:
            n.read_at = timezone.now()
            n.save(update_fields=["read_at"])
        return n


def notifications_read_all(*, user: User) -> int:
    """Mark every unread notification of the user read; the number marked."""
    _require_recipient(user)
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def kinds_checked(kinds: Iterable[object]) -> list[str]:
    checked = []
    for kind in kinds:
        if not isinstance(kind, str) or kind not in Kind.values:
            raise UnknownKind(gettext("No such kind of notification: %(kind)s.") % {"kind": str(kind)[:40]})
        if kind not in checked:
            checked.append(kind)
    return sorted(checked, key=Kind.values.index)


def preference_of(user: User) -> Preference:
    """The user's preferences (every kind on, no email, unless they chose otherwise); not saved."""
    return Preference.objects.filter(user=user).first() or Preference(user=user, muted=[], email=False)


def preference_set(*, user: User, muted: Iterable[object], email: bool) -> Preference:
    """Replace the user's preferences: the kinds switched off, and whether to email. Email needs an address."""
    _require_recipient(user)
    muted = kinds_checked(muted)
    if not isinstance(email, bool):
        raise err.InvalidInput(gettext("email is true or false."))
    if email and not user.email:
        raise err.InvalidInput(gettext("Your account has no email address: add one in your settings first."))
    pref, _ = Preference.objects.update_or_create(user=user, defaults={"muted": muted, "email": email})
    return pref
