"""How a notification reads, in the language of whoever reads it (page, API or email).

The row keeps facts only (``Notification.params``); the title and the sentence are made here when shown, so
the same notification reads in English for one session and in Chinese for the next.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext_lazy

from core.labels import sentence_gap
from core.money import amount_text, shares_text
from exchange.models import Order

from .models import Kind, Notification

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _amount(value) -> str:
    # As every page writes an amount, in either language (10,000.00): Django's Chinese format groups no digits.
    return amount_text(Decimal(value))


def _shares(value) -> str:
    return shares_text(int(value))


def _time(value: str | None) -> str:
    """A deadline in Beijing time, saying so: an email has no page footer to say it (found by a probe)."""
    moment = parse_datetime(value) if value else None
    if moment is None:
        return ""
    return gettext("%(time)s (Beijing time)") % {"time": localtime(moment, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")}


def _deal(p: dict) -> str:
    """ "bought 100 DEMO1 at 12.50" from the reader's side of a trade."""
    values = {"quantity": _shares(p["quantity"]), "security": p["security"], "price": _amount(p["price"])}
    if p["side"] == "buy":
        return gettext("bought %(quantity)s %(security)s at %(price)s") % values
    return gettext("sold %(quantity)s %(security)s at %(price)s") % values


def _freeze_what(p: dict) -> str:
    parts = []
    if p.get("cash") and Decimal(p["cash"]):
        parts.append(gettext("%(amount)s CNY") % {"amount": _amount(p["cash"])})
    for code, quantity in sorted((p.get("shares") or {}).items()):
        parts.append(gettext("%(quantity)s shares of %(security)s") % {"quantity": _shares(quantity), "security": code})
    if not parts:
        return gettext("nothing that was free")
    return gettext(", ").join(parts)


def _order_terms(o: dict) -> str:
    """ "12 (buy 300 DEMO1 at 9.95, 100 filled)": an order the exchange cancelled, as placed."""
    values = {"quantity": _shares(o["quantity"]), "security": o["security"], "price": _amount(o["price"])}
    if o["side"] == "buy":
        terms = gettext("buy %(quantity)s %(security)s at %(price)s") % values
    else:
        terms = gettext("sell %(quantity)s %(security)s at %(price)s") % values
    if o.get("filled"):
        terms = gettext("%(terms)s, %(filled)s filled") % {"terms": terms, "filled": _shares(o["filled"])}
    return gettext("%(order)s (%(terms)s)") % {"order": o["order"], "terms": terms}


def _orders_closed(p: dict) -> str:
    orders = p["orders"]
    if len(orders) == 1:
        text = gettext("The exchange cancelled your order %(order)s in account %(account)s.") % {
            "order": _order_terms(orders[0]),
            "account": p["account"],
        }
    else:
        text = gettext("The exchange cancelled %(n)s of your orders in account %(account)s: %(orders)s.") % {
            "n": len(orders),
            "account": p["account"],
            "orders": gettext("; ").join(_order_terms(o) for o in orders),
        }
    # Why, in the words the order's own page uses (the cause and its particulars are kept, not the sentence).
    why = Order(closed_by=p["closed_by"], closed_reason=p["reason"]).closed_reason_text()
    return f"{text} {why}"


def _reference(p: dict) -> str:
    """The legal order's reference as its holder reads it: masked (``core.crypto.mask_reference``), and saying so,
    so that "Sh***5" does not read as nonsense (found by a probe)."""
    return gettext("%(reference)s (reference partly hidden)") % {"reference": p["reference"]}


def _reason_and_ask(p: dict) -> str:
    """Why, and where the holder learns the legal order's details: an investor from their broker, a market maker
    (which has none; ``market_maker`` in the facts) from the regulator."""
    if p.get("market_maker"):
        return gettext("Reason: %(reason)s. Ask the regulator for the order's details.") % {"reason": p["reason"]}
    return gettext("Reason: %(reason)s. Ask your broker for the order's details.") % {"reason": p["reason"]}


# What a freeze's or restriction's approval closed, by the key that counts it in the notice's facts, each said in
# the singular or the plural by its count (``n``).
_CLOSED = (
    ("quotes_pulled", ngettext_lazy("Its quote was pulled.", "Its %(n)s quotes were pulled.", "n")),
    ("orders_cancelled", ngettext_lazy("Its open order was cancelled.", "Its %(n)s open orders were cancelled.", "n")),
    (
        "proposals_withdrawn",
        ngettext_lazy(
            "Its open negotiated transfer proposal was withdrawn.",
            "Its %(n)s open negotiated transfer proposals were withdrawn.",
            "n",
        ),
    ),
    (
        "rfqs_cancelled",
        ngettext_lazy(
            "Its open request for quote was cancelled.", "Its %(n)s open requests for quote were cancelled.", "n"
        ),
    ),
    (
        "answers_released",
        ngettext_lazy(
            "Its firm answer to a request for quote was released.",
            "Its %(n)s firm answers to requests for quote were released.",
            "n",
        ),
    ),
)


def _what_closed(p: dict) -> str:
    """What the approval of a whole-account freeze or a trading restriction closed of the account's trading, each
    kind counted (found by a probe: a restriction's notice counted only the orders); "" when nothing."""

    counts = {key: int(p.get(key) or 0) for key, _said in _CLOSED}
    parts = [said % {"n": counts[key]} for key, said in _CLOSED if counts[key]]
    return "".join(sentence_gap() + part for part in parts)


def _freeze(p: dict) -> str:
    values = {"reference": _reference(p), "what": _freeze_what(p), "account": p["account"], "reason": p["reason"]}
    if p.get("unlock"):
        # Shares out of the freeze's reach under a lock-up, taken the day the lock-up ended.
        return (
            gettext(
                "Legal order %(reference)s froze %(what)s of account %(account)s as their lock-up ended: the freeze "
                "could not hold them while they were locked up."
            )
            % values
            + sentence_gap()
            + _reason_and_ask(p)
        )
    if p.get("scope") == "trading":
        # A trading restriction freezes nothing: say what the account can no longer do, and what it still can.
        text = (
            gettext(
                "A regulator restricted the trading of account %(account)s (legal order %(reference)s): until the "
                "restriction ends it can neither place orders nor quote; its cash and shares stay its own, and "
                "withdrawals and settlement go on."
            )
            % values
        )
        return text + _what_closed(p) + sentence_gap() + _reason_and_ask(p)
    if p.get("scope") != "account":
        if p.get("market_maker"):
            return (
                gettext("Legal order %(reference)s froze %(what)s of account %(account)s.") % values
                + sentence_gap()
                + _reason_and_ask(p)
            )
        return (
            gettext(
                "Legal order %(reference)s froze %(what)s of account %(account)s. Reason: %(reason)s. "
                "Ask your broker for the order's details."
            )
            % values
        )
    # A whole-account freeze holds more than what it froze today: say what the account can no longer do.
    text = (
        gettext(
            "Legal order %(reference)s froze the whole account %(account)s: %(what)s. Until the freeze ends the "
            "account can neither trade nor withdraw."
        )
        % values
    )
    return text + _what_closed(p) + sentence_gap() + _reason_and_ask(p)


def title(n: Notification) -> str:
    p = n.params
    if n.kind == Kind.KYC:
        return (
            gettext("Account opening approved") if p.get("state") == "approved" else gettext("Account opening rejected")
        )
    if n.kind == Kind.UNFREEZE and p.get("event") == "expired":
        return gettext("Freeze expired")
    if n.kind == Kind.FREEZE and p.get("unlock"):
        return gettext("Shares frozen as their lock-up ended")
    if n.kind == Kind.FREEZE and p.get("scope") == "account":
        return gettext("Account frozen")
    if n.kind == Kind.FREEZE and p.get("scope") == "trading":
        return gettext("Trading restricted")
    if n.kind == Kind.UNFREEZE and p.get("scope") == "trading":
        return gettext("Trading restriction ended")
    if n.kind == Kind.ORDERS_CLOSED and len(p["orders"]) == 1:
        return gettext("Order cancelled by the exchange")
    if n.kind == Kind.FILL and p.get("rfq"):
        return gettext("Request for quote traded")
    if n.kind == Kind.FILL and p.get("negotiated"):
        return gettext("Negotiated transfer traded")
    return str(Kind(n.kind).label)


def body(n: Notification) -> str:
    p, kind = n.params, n.kind
    if kind == Kind.FILL:
        values = {"trade": p["trade"], "deal": _deal(p), "rfq": p.get("rfq"), "proposal": p.get("negotiated")}
        if p.get("rfq"):
            return gettext("Your request for quote %(rfq)s traded: trade %(trade)s, you %(deal)s.") % values
        if p.get("negotiated"):
            return gettext("Negotiated transfer %(proposal)s traded: trade %(trade)s, you %(deal)s.") % values
        return gettext("Trade %(trade)s: you %(deal)s.") % values
    if kind == Kind.SETTLED:
        return gettext("Trade %(trade)s (you %(deal)s) has settled: cash and shares have moved.") % {
            "trade": p["trade"],
            "deal": _deal(p),
        }
    if kind == Kind.HELD:
        values = {"trade": p["trade"], "deal": _deal(p), "reason": p.get("reason", "")}
        # A standing instruction's hold says whose; a regulator's comes without its reason (no tipping-off).
        if p.get("held_by") == "regulator":
            return (
                gettext(
                    "Trade %(trade)s (you %(deal)s) is held under a standing settlement instruction of the "
                    "regulator and waits before settling."
                )
                % values
            )
        if p.get("held_by") == "depository":
            return (
                gettext(
                    "Trade %(trade)s (you %(deal)s) is held under a standing settlement instruction of the "
                    "depository and waits before settling. Reason: %(reason)s"
                )
                % values
            )
        return gettext("Trade %(trade)s (you %(deal)s) is held and waits before settling. Reason: %(reason)s") % values
    if kind == Kind.RELEASED:
        if p.get("market_halted"):
            return gettext(
                "The hold on trade %(trade)s (you %(deal)s) is released; the market is halted, so it settles once "
                "the market resumes. Reason: %(reason)s"
            ) % {"trade": p["trade"], "deal": _deal(p), "reason": p["reason"]}
        return gettext(
            "The hold on trade %(trade)s (you %(deal)s) is released; it settles next. Reason: %(reason)s"
        ) % {
            "trade": p["trade"],
            "deal": _deal(p),
            "reason": p["reason"],
        }
    if kind == Kind.REFUSED:
        return gettext(
            "Trade %(trade)s (you %(deal)s) was refused and will not settle; what it reserved is free again. "
            "Reason: %(reason)s"
        ) % {"trade": p["trade"], "deal": _deal(p), "reason": p["reason"]}
    if kind == Kind.KYC:
        if p.get("state") == "approved":
            return gettext("Your account opening was approved: you may trade now.")
        return gettext("Your account opening was rejected. Reason: %(reason)s") % {"reason": p.get("reason", "")}
    if kind == Kind.FREEZE:
        return _freeze(p)
    if kind == Kind.ORDERS_CLOSED:
        return _orders_closed(p)
    if kind == Kind.UNFREEZE:
        if p.get("scope") == "trading":
            return gettext(
                "The trading restriction by legal order %(reference)s on account %(account)s has ended; the account "
                "may trade again."
            ) % {"reference": _reference(p), "account": p["account"]}
        if p.get("event") == "expired":
            return gettext(
                "The freeze by legal order %(reference)s on account %(account)s expired; its assets are free again."
            ) % {
                "reference": _reference(p),
                "account": p["account"],
            }
        return gettext(
            "The freeze by legal order %(reference)s on account %(account)s was released; its assets are free again."
        ) % {
            "reference": _reference(p),
            "account": p["account"],
        }
    if kind == Kind.RFQ_ANSWER:
        values = {
            "price": _amount(p["price"]),
            "quantity": _shares(p["quantity"]),
            "security": p["security"],
            "until": _time(p.get("expires_at")),
        }
        if p["side"] == "buy":
            return (
                gettext(
                    "A market maker offers to sell you %(quantity)s shares of %(security)s at %(price)s, firm until "
                    "%(until)s."
                )
                % values
            )
        return (
            gettext(
                "A market maker offers to buy your %(quantity)s shares of %(security)s at %(price)s, firm until "
                "%(until)s."
            )
            % values
        )
    if kind == Kind.NEGOTIATED:
        values = {
            "proposer": p["proposer"],
            "price": _amount(p["price"]),
            "quantity": _shares(p["quantity"]),
            "security": p["security"],
            "until": _time(p.get("expires_at")),
        }
        if p["side"] == "buy":
            return (
                gettext(
                    "%(proposer)s proposes that you buy %(quantity)s %(security)s at %(price)s. Confirm with the code "
                    "they give you before %(until)s."
                )
                % values
            )
        return (
            gettext(
                "%(proposer)s proposes that you sell %(quantity)s %(security)s at %(price)s. Confirm with the code "
                "they give you before %(until)s."
            )
            % values
        )
    if kind == Kind.NEGOTIATED_ENDED:
        values = {
            "proposal": p["proposal"],
            "quantity": _shares(p["quantity"]),
            "security": p["security"],
            "price": _amount(p["price"]),
        }
        why = {
            "expired": gettext("it expired before it was confirmed"),
            "wrong_codes": gettext("five wrong confirmation codes were entered"),
            "account_frozen": gettext(
                "it was withdrawn because your account is frozen by a legal order; what it reserved is frozen with "
                "the rest"
            ),
        }.get(p["why"], gettext("it was withdrawn"))
        text = gettext("Proposal %(proposal)s (%(quantity)s %(security)s at %(price)s) has ended: %(why)s.") % {
            **values,
            "why": why,
        }
        if p.get("proposer") and p["why"] != "account_frozen":
            text += sentence_gap() + gettext("What it reserved is released; propose again to trade.")
        return text
    if kind == Kind.FORCED_TRANSFER:
        if p.get("security"):
            what = gettext("%(quantity)s shares of %(security)s") % {
                "quantity": _shares(p["quantity"]),
                "security": p["security"],
            }
        else:
            what = gettext("%(amount)s CNY") % {"amount": _amount(p["amount"])}
        values = {"reference": _reference(p), "what": what, "sender": p["sender"], "receiver": p["receiver"]}
        if p.get("direction") == "in":
            return (
                gettext(
                    "By legal order %(reference)s, %(what)s were moved from account %(sender)s to your account "
                    "%(receiver)s, where they are free."
                )
                % values
            )
        if p.get("market_maker"):
            return (
                gettext(
                    "By legal order %(reference)s, %(what)s frozen in your account %(sender)s were moved to account "
                    "%(receiver)s."
                )
                % values
                + sentence_gap()
                + gettext("Ask the regulator for the order's details.")
            )
        return (
            gettext(
                "By legal order %(reference)s, %(what)s frozen in your account %(sender)s were moved to account "
                "%(receiver)s. Ask your broker for the order's details."
            )
            % values
        )
    if kind == Kind.CORRECTION:
        if int(p["new_quantity"]) == 0:
            return gettext(
                "Trade %(trade)s (you %(deal)s) was reversed by a supervisory correction: cash, shares and fees "
                "went back."
            ) % {"trade": p["trade"], "deal": _deal(p)}
        return gettext(
            "Trade %(trade)s (you %(deal)s) was corrected to %(quantity)s at %(price)s: the difference, fees "
            "included, has moved."
        ) % {
            "trade": p["trade"],
            "deal": _deal(p),
            "quantity": _shares(p["new_quantity"]),
            "price": _amount(p["new_price"]),
        }
    if kind == Kind.ISSUANCE:
        values = {
            "issuance": p["issuance"],
            "what": gettext("%(quantity)s shares of %(security)s")
            % {"quantity": _shares(p["quantity"]), "security": p["security"]},
            "account": p["account"],
        }
        text = gettext("Issuance %(issuance)s credited %(what)s to your account %(account)s.") % values
        if p.get("locked_quantity"):
            text += sentence_gap() + gettext(
                "%(locked)s of them are locked up until %(until)s: they cannot be sold before."
            ) % {
                "locked": _shares(p["locked_quantity"]),
                "until": p["locked_until"],
            }
        return text
    if kind == Kind.DEPOSIT:
        return gettext("%(amount)s CNY was deposited to your account %(account)s.") % {
            "amount": _amount(p["amount"]),
            "account": p["account"],
        }
    if kind == Kind.WITHDRAWAL:
        return gettext("%(amount)s CNY was withdrawn from your account %(account)s.") % {
            "amount": _amount(p["amount"]),
            "account": p["account"],
        }
    return ""  # pragma: no cover - the kinds are checked by the database


def link(n: Notification) -> str:
    """The page where the investor acts on or reads more about the notification."""
    kind = n.kind
    if kind in (Kind.FILL, Kind.SETTLED, Kind.HELD, Kind.RELEASED, Kind.REFUSED):
        return reverse("trades")
    if kind == Kind.KYC:
        return reverse("kyc-me")
    if kind in (Kind.FREEZE, Kind.UNFREEZE):
        return reverse("supervision-freezes")
    if kind == Kind.RFQ_ANSWER:
        return reverse("rfqs")
    if kind in (Kind.FORCED_TRANSFER, Kind.ISSUANCE, Kind.DEPOSIT, Kind.WITHDRAWAL):
        return reverse("balances")
    if kind == Kind.CORRECTION:
        return reverse("trade", args=[n.params["trade"]])
    if kind == Kind.ORDERS_CLOSED:
        return reverse("orders")
    return reverse("negotiated")
