"""One trade's page (``/trades/<id>/``): what it is, the steps it went through — matched, sealed in the
ledger, co-signed by the regulator's witness, settled — and a panel that verifies it in the browser.

It lives here, above the trading and ledger apps, because settling is the last of its steps. Whoever may see
the trade in a list (its parties, their brokers' staff, the supervisors) may open it; others get 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.money import amount_text, shares_text
from core.roles import SUPERVISORS
from exchange import selectors as exchange_selectors
from exchange.models import Order, Trade
from ledger import witnessing
from ledger.models import Block, Cosignature
from registry.models import Security

from . import instructions, net_windows
from .models import Settlement, SettlementAction

# What static/js/verify.js says, in the page's language ({name}, {time}, {msg} are filled in by the script).
VERIFY_TEXTS = {
    "running": _("Checking…"),
    "record_ok": _("The ledger's record is this trade: trade {trade}, {quantity} shares of {security} at {price}."),
    "record_bad": _("The record the exchange sent is NOT this trade: its {field} differs from this page's."),
    "fields": {
        "kind": _("kind of record"),
        "leaf": _("record number"),
        "trade": _("trade number"),
        "security": _("security"),
        "price": _("price"),
        "quantity": _("quantity"),
        "buyer": _("buyer"),
        "seller": _("seller"),
    },
    "leaf_ok": _("The trade's record is in the ledger: its fingerprint matches and leads to the signed root."),
    "leaf_bad": _("The trade's record does NOT match the ledger."),
    "sig_ok": _("Signed by the exchange's key {name}, which you pinned."),
    "sig_bad": _("No signature of a key you pinned verifies on this ledger."),
    "sig_rotated": _(
        "Signed by the exchange's key {name} ({id}), which you have not pinned: the exchange lists the key you "
        "pinned as retired, replaced by this one."
    ),
    "cos_ok": _("Co-signed by the regulator's witness {name} at {time}."),
    "cos_missing": _("Not co-signed yet by a witness you pinned."),
    "cos_bad": _("A witness's co-signature does not verify."),
    "pinned_now": _(
        "First check in this browser: the exchange's and the witnesses' keys were pinned now. Compare them with "
        "the ones the exchange and the regulator publish elsewhere."
    ),
    "keys_changed": _("The exchange now shows keys you have not pinned: only your pinned keys were used."),
    "all_ok": _("Verified: this trade is in the ledger, signed and co-signed, and has not changed."),
    "signed_only": _("Verified as far as the exchange's signature: the record is in the signed ledger."),
    "rotated": _(
        "Not verified with your pinned keys: the exchange changed its signing key after you pinned it. Compare "
        "the new key with the one the exchange and the regulator publish elsewhere, then pin the keys the "
        "exchange shows now."
    ),
    "failed": _("Verification FAILED: do not rely on this page; tell the exchange and the regulator."),
    "no_webcrypto": _("This browser cannot check Ed25519 signatures; use the offline check below."),
    "error": _("The check could not run: {msg}"),
}


def _cosigned(leaf_index: int) -> dict | None:
    """The first co-signed checkpoint that covers the leaf: which witnesses, when, and whether that is final."""
    first = Cosignature.objects.filter(block__tree_size__gt=leaf_index).order_by("block_id").values("block_id").first()
    if first is None:
        return None
    block = Block.objects.get(height=first["block_id"])
    signatures = list(Cosignature.objects.filter(block=block).order_by("witness"))
    return {
        "height": block.height,
        "tree_size": block.tree_size,
        "witnesses": [c.witness for c in signatures],
        "at": max(c.received_at for c in signatures),
        "final": len(signatures) >= max(witnessing.required(), 1),
    }


def _verify_facts(trade: Trade, user) -> dict:
    """What the in-browser check (static/js/verify.js) compares the ledger's record with: this page's trade, and
    each party's account code where the reader may see it (``party_visible``; else ``None``, not compared). Found
    by a probe: the check verified whatever entry the proof carried, so another trade's genuine record passed."""
    return {
        "trade": trade.pk,
        "leaf": trade.leaf_index,
        "security": trade.security.code,
        "price": str(trade.price),
        "quantity": trade.quantity,
        # As the page shows them, for the sentence that names the trade (found by a walk-through: it said "100
        # shares of 830002 at 8.2" under a page that says 8.20, and 1200 shares for 1,200).
        "price_text": amount_text(trade.price),
        "quantity_text": shares_text(trade.quantity),
        "buyer": trade.buyer.code if exchange_selectors.party_visible(trade.buyer, user) else None,
        "seller": trade.seller.code if exchange_selectors.party_visible(trade.seller, user) else None,
    }


@login_required
def trade_page(request, trade_id: int):
    trade = exchange_selectors.trades_visible(request.user).filter(pk=trade_id).first()
    if trade is None:
        raise Http404
    side = exchange_selectors.trade_side_for(trade, request.user)
    status = exchange_selectors.trade_status(trade)
    sealed = trade.leaf_index is not None
    block = Block.objects.filter(height=trade.block_height).only("sealed_at", "height").first() if sealed else None
    cosigned = _cosigned(trade.leaf_index) if sealed else None
    settlement = Settlement.objects.filter(trade=trade).first()
    last_action = (
        SettlementAction.objects.filter(trade=trade)
        .select_related("instruction__created_by")
        .order_by("-at", "-id")
        .first()
    )
    # A standing instruction's hold says whose instruction it is, and its reason only to whom it may be told
    # (instructions.reason_disclosed: not a regulator's to the trade's parties).
    instruction = last_action.instruction if last_action else None
    set_by_role = instruction.set_by_role if instruction else None
    reason_shown = instructions.reason_disclosed(set_by_role, request.user)
    is_party = trade.buyer.owner_id == request.user.pk or trade.seller.owner_id == request.user.pk
    buy_fee, sell_fee = (exchange_selectors.fee_charged(trade, s) for s in ("buy", "sell"))
    # A pending trade of a net-settled security waits for its window; a supervisor also reads why the window cannot
    # settle, if it could not (settlement.net_windows). Its parties do not: the reason names another participant.
    net = trade.security.settlement_mode == Security.SettlementMode.NET and trade.status == Trade.Status.MATCHED
    net_blocked = None
    if net and sealed and request.user.role in SUPERVISORS:
        net_blocked = next(iter(net_windows.windows_blocked({trade.security.code: 0})), None)
    context = {
        "net_window": net,
        "net_blocked": net_blocked,
        "trade": trade,
        "is_party": is_party,
        # A party reads its side and its fee; anyone else (its brokers' staff, the supervisors) both parties, as
        # the exchange-wide trade list shows them (found by a probe: staff read "Side: Buy" of a trade between
        # two of their clients, with no buyer, seller or fee).
        "side": side,
        "side_label": Order.Side(side).label if side in Order.Side.values else "",
        "fee": amount_text(exchange_selectors.fee_charged(trade, side)) if is_party else None,
        "buyer": None if is_party else exchange_selectors.party_shown(trade.buyer, buy_fee, request.user),
        "seller": None if is_party else exchange_selectors.party_shown(trade.seller, sell_fee, request.user),
        "verify_facts": _verify_facts(trade, request.user),
        "price": amount_text(trade.price),
        "value": amount_text(trade.value),
        "quantity": f"{trade.quantity:,}",
        "status": status,
        "status_label": Trade.Status(status).label,
        "notes": exchange_selectors.trade_notes([trade.pk]).get(trade.pk, []),
        "ledger_block": block,
        "block_url": reverse("ledger-block", args=[trade.block_height])
        if sealed and request.user.role in SUPERVISORS
        else None,
        # The trade's own ledger entry, for those who may open the explorer (found by a walk: only its block was).
        "entry_url": reverse("ledger-entry", args=[trade.leaf_index])
        if sealed and request.user.role in SUPERVISORS
        else None,
        "witnesses_configured": bool(witnessing.witnesses()),
        "cosigned": cosigned,
        "settlement": settlement,
        "held": trade.status == Trade.Status.HELD,
        "failed": trade.status == Trade.Status.FAILED,
        "last_action": last_action,
        "action_reason": last_action.reason if last_action and reason_shown else None,
        "held_by_instruction": instructions.instruction_setter(instruction) if instruction else None,
        # Staff who read a regulator's reason are reminded that the parties do not.
        "reason_private": reason_shown and not instructions.reason_disclosed(set_by_role),
        "proof_url": reverse("api-trade-proof", args=[trade.pk]),
        "proof_tree_size": cosigned["tree_size"] if cosigned else "",
        "witness_vkeys": [w.vkey for w in witnessing.witnesses()],
        "verify_texts": VERIFY_TEXTS,
    }
    return render(request, "settlement/trade.html", context)
