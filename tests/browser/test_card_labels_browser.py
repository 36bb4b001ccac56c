"""On a phone a list's row is a card, each value beside (or under) its column's name: the name never runs over the
value. (Found by a walk: on an English phone the negotiated transfers' "Counterparty", one word wider than the 45 %
a name may take, ran over "INV000005".)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.models import NegotiatedTrade
from exchange.services import negotiated as neg
from tests.browser.steps import log_in
from tests.browser.test_phone_browser import switch_language
from tests.conftest import build_market

pytestmark = pytest.mark.browser

# For each card cell with a label: where the label's text would end, written on one line in the label's font, and
# where the value's text begins. A value on the label's line must begin after it; one under it may begin anywhere.
OVERLAPS = """(selector) => [...document.querySelectorAll(selector)].flatMap((td) => {
  if (!td.dataset.label || !td.textContent.trim()) return [];
  const style = getComputedStyle(td, "::before");
  const probe = document.createElement("span");
  probe.textContent = td.dataset.label;
  probe.style.font = style.font;
  probe.style.whiteSpace = "nowrap";
  probe.style.position = "absolute";
  document.body.append(probe);
  const labelWidth = probe.getBoundingClientRect().width;
  probe.remove();
  const cell = td.getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(td);
  const value = [...range.getClientRects()].find((r) => r.width > 0);
  if (!value) return [];
  const sameLine = value.top < cell.top + 4;
  const over = sameLine && value.left < cell.left + labelWidth - 0.5;
  return over ? [`${td.dataset.label}: ${td.textContent.trim()}`] : [];
})"""


def test_card_labels_do_not_run_over_their_values_on_an_english_phone(phone, live_server):
    page, language = phone
    # given two investors and an open negotiated proposal between them, seen by the proposer
    market = build_market()
    seller = market.investor(shares=500)
    buyer = market.investor(cash="50000")
    proposal, _code, _ = neg.negotiated_propose(
        actor=seller.owner,
        account=seller,
        request=neg.NegotiatedRequest(market.security.code, "sell", 100, Decimal("10.00"), buyer.code, "cards-1"),
    )
    base = live_server.url

    # when the proposer reads the negotiated page on a phone
    log_in(page, base, seller.owner.username)
    switch_language(page, language)
    page.goto(f"{base}/negotiated/")
    cells = page.locator("table.cards td[data-label]")
    assert cells.count() > 0

    # then no cell's label runs over its value, and the proposal is still open
    assert page.evaluate(OVERLAPS, "table.cards td") == []
    proposal.refresh_from_db()
    assert proposal.status == NegotiatedTrade.Status.PROPOSED
