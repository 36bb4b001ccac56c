"""Who reads the reason of a trade held by a standing settlement instruction: one rule
(``settlement.instructions.reason_disclosed``), asserted here for every role and both setters through each place
that shows a hold's reason or its entry, so that they cannot drift apart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import Role
from core.roles import SUPERVISORS
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.api import may_read_entry
from ledger.services import block_seal
from settlement import instructions, selectors
from settlement.models import SettlementAction
from settlement.services import trade_settle
from tests.conftest import api_for, log_in

REGULATORS, DEPOSITORYS = "调查中 insider case 7", "court enquiry 2026-7"

# role: (sees the trade, reads the regulator's reason, reads the depository's reason)
RULE = {
    "investor party": (True, False, True),
    "investor not party": (False, False, True),
    "broker staff": (True, False, True),
    "exchange operator": (True, False, True),
    "depository": (True, True, True),
    "regulator": (True, True, True),
    "auditor": (True, True, True),
}


@pytest.fixture
def held(market):
    """Two trades of one investor, each held by a standing instruction: one a regulator's, one the depository's;
    and a user of each role of ``RULE``."""
    other = market.new_security(f"X{market.security.code}")
    mm = market.market_maker(cash="1000000", shares=10_000)
    market.issue(mm, 10_000, security=other)
    investor = market.investor(cash="50000")
    trades = {}
    for setter, security, reason in (
        (market.user(Role.REGULATOR), market.security, REGULATORS),
        (market.depository, other, DEPOSITORYS),
    ):
        market.quote(mm, "9.90", "10.10", security=security)
        instructions.instruction_create(
            actor=setter, account_code=investor.code, security_code=security.code, min_amount=None,
            reason=reason, ends_at=timezone.now() + dt.timedelta(days=1),
        )  # fmt: skip
        order_place(
            placed_by=investor.owner,
            account=investor,
            request=OrderRequest(security.code, "buy", 100, Decimal("10.10"), "IOC", f"c{security.code}"),
        )
        trades[reason] = Trade.objects.filter(buyer=investor, security=security).get()
    block_seal()
    assert [trade_settle(trade_id=t.pk) for t in trades.values()] == [False, False]
    users = {
        "investor party": investor.owner,
        "investor not party": market.investor().owner,
        "broker staff": market.staff,
        "exchange operator": market.user(Role.EXCHANGE_OPERATOR),
        "depository": market.user(Role.DEPOSITORY_OPERATOR),
        "regulator": market.user(Role.REGULATOR),
        "auditor": market.user(Role.AUDITOR),
    }
    return trades, users


@pytest.mark.parametrize("role", list(RULE))
@pytest.mark.parametrize("reason", [REGULATORS, DEPOSITORYS], ids=["regulators", "depositorys"])
def test_one_rule_says_who_reads_a_holds_reason_everywhere(held, client, role, reason):
    trades, users = held
    trade, user = trades[reason], users[role]
    sees, reads_regulators, reads_depositorys = RULE[role]
    reads = reads_regulators if reason == REGULATORS else reads_depositorys
    hold = SettlementAction.objects.get(trade=trade)

    # the rule itself
    assert instructions.reason_disclosed(hold.instruction.set_by_role, user) is reads

    # the trade's API and page (their lifecycle and last action): to whoever sees the trade
    response = api_for(user).get(f"/api/v1/trades/{trade.pk}/")
    assert response.status_code == (200 if sees else 404)
    shown = [a["reason"] for a in response.json()["lifecycle"]["actions"]] if sees else []
    assert shown == ([reason if reads else None] if sees else [])
    log_in(client, user)
    page = client.get(f"/trades/{trade.pk}/")
    assert page.status_code == (200 if sees else 404)
    assert (reason in page.content.decode()) is (sees and reads)

    # the settlement monitor's held list (and its refresh): the reason, or a word saying it is withheld
    (row,) = [r for r in selectors.reasons_masked(list(selectors.trades_held()), user) if r.pk == trade.pk]
    assert (row.reason == reason) is reads

    # the hold's ledger entry: the trade's parties and their broker read it where they read its reason (its
    # entry reader); supervisors read every entry, and a regulator's hold's entry carries no reason. (The entry
    # reader alone used to refuse a regulator's hold's entry to those who read instructions too, where the two
    # others showed them its reason; DESIGN.md §6 gives the regulator and auditors the records down to the
    # entries, so the rule decides, which ``may_read_entry`` already granted them as supervisors.)
    assert selectors.settlement_entry_readable(user, hold.entry_id) is (sees and reads)
    assert may_read_entry(user, hold.entry_id) is (user.role in SUPERVISORS or (sees and reads))
    assert (reason.encode() in bytes(hold.entry.canonical)) is (reason == DEPOSITORYS)
