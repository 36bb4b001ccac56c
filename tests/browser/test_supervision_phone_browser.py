"""The regulator's lists on a phone (390 px, Chromium), once their rows are on the ledger: a freeze's, a forced
transfer's and a correction's status stand beside the link to their ledger record, inside the card.

Found walking the regulator's pages in English on a phone: once the block holding an approved freeze was sealed,
its status cell read "Active" and "record no. 16" side by side, two items of the card's flex line that did not
wrap, and the link ran 26 px past the screen (the page scrolled sideways); the forced transfers and the
corrections did the same. The tests before it had no sealed block, so no link.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from core.models import Role
from ledger.services import block_seal
from supervision import services as supervision
from supervision.models import Correction, ForcedTransfer, Freeze
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import log_in
from tests.browser.test_phone_browser import PHONE, overflow, shoot, switch_language
from tests.conftest import build_market

pytestmark = pytest.mark.browser


# The status cells' ledger links that end past the phone's right edge (a failure names them). Measured against
# the phone's width, not innerWidth: a mobile browser widens its layout to what runs past (and zooms out), so
# innerWidth grew with the link and the page's own sideways check read 0.
LINKS_OFF_SCREEN = """width => [...document.querySelectorAll('table.cards a.entry-link')]
  .filter(a => a.getBoundingClientRect().right > width + 0.5)
  .map(a => a.textContent.trim())"""


def test_the_regulators_freezes_transfers_and_corrections_keep_their_ledger_links_on_a_phone(phone, live_server):
    from tests.test_supervision import _settled_buy

    page, language = phone
    # given an approved freeze of an investor's shares, a forced transfer of part of them approved, and a settled
    # trade's correction approved, each by a second regulator, all sealed into a block (so each has its record)
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="50000", shares=500)
    receiver = market.investor()
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = supervision.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=300,
        legal_reference="上海金融法院 (2026)沪74执保123号", reason="财产保全",
    )  # fmt: skip
    supervision.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    transfer = supervision.forced_transfer_propose(
        actor=reg1, freeze_id=freeze.pk, receiver=receiver.code, security=market.security.code, quantity=100,
        legal_reference="(2026)沪74执123号", reason="执行",
    )  # fmt: skip
    supervision.forced_transfer_approve(actor=reg2, transfer_id=transfer.pk)
    trade = _settled_buy(market, market.investor(cash="50000"), 100)
    correction = supervision.correction_propose(
        actor=reg1, trade_id=trade.pk, new_price=Decimal("10.05"), new_quantity=100, reason="Fat finger"
    )
    supervision.correction_approve(actor=reg2, correction_id=correction.pk)
    while block_seal() is not None:
        pass
    log_in(page, live_server.url, reg1.username)
    switch_language(page, language)

    for path, row in (
        ("/supervision/", f'tr[data-freeze="{freeze.pk}"]'),
        ("/supervision/", f'tr[data-transfer="{transfer.pk}"]'),
        ("/supervision/freezes/", f'tr[data-freeze="{freeze.pk}"]'),
        ("/supervision/corrections/", f'tr[data-correction="{correction.pk}"]'),
    ):
        # when the regulator opens the console, the freezes and the corrections on a phone
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(f"{row} a.entry-link").first).to_be_visible()
        shoot(page, f"phone-ledger-links-{path.strip('/').replace('/', '-')}-{language}")
        # then every status's ledger link stays on the screen, and nothing scrolls sideways
        assert page.evaluate(LINKS_OFF_SCREEN, PHONE["width"]) == [], (path, language)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        assert overflow(page) <= 0, (path, overflow(page))

    # and nothing was changed by reading: the freeze holds what the transfer left, each decision stands
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity) == (Freeze.Status.ACTIVE, 200)
    assert ForcedTransfer.objects.get(pk=transfer.pk).status == "executed"
    assert Correction.objects.get(pk=correction.pk).status == "executed"


# The times in the freezes' "Decided by" cells that take more than one line (a failure names them).
TIMES_BROKEN = """() => [...document.querySelectorAll('td[data-field="decided"] small.muted')].filter(small => {
  const range = document.createRange();
  range.selectNodeContents(small);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
}).map(small => small.textContent)"""


def test_a_released_freezes_times_stay_on_one_line_on_a_phone(phone, live_server):
    # (found by a walk: at 390 px in English, "Released by regulator 2026-12-07 01:03: court lifted the order" broke
    # the time at its hyphen, "2026-12-" on one line and "07 01:03" on the next)
    page, language = phone
    # given a freeze of an investor's shares approved, then released with a reason
    market = build_market()
    investor = market.investor(shares=500)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = supervision.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=100,
        legal_reference="(2026)沪74执保123号", reason="财产保全",
    )  # fmt: skip
    supervision.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    supervision.freeze_release(actor=reg1, freeze_id=freeze.pk, reason="court lifted the order")
    log_in(page, live_server.url, reg1.username)
    switch_language(page, language)

    # when the regulator reads the freezes on a phone
    page.goto(f"{live_server.url}/supervision/freezes/")
    cell = page.locator(f'tr[data-freeze="{freeze.pk}"] td[data-field="decided"]')
    expect(cell).to_contain_text("court lifted the order")
    shoot(page, f"phone-freeze-times-{language}")

    # then the approval's and the release's times each stay whole on one line
    assert cell.locator("small.muted").count() == 2
    assert page.evaluate(TIMES_BROKEN) == [], language
    # and the freeze is as it was: released, holding nothing
    freeze.refresh_from_db()
    assert (freeze.status, freeze.held_quantity) == (Freeze.Status.RELEASED, 0)


# The dates (YYYY-MM-DD) in the page's main part that are broken across lines (a failure names them).
DATES_BROKEN = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('pre')) continue;
    for (const match of node.textContent.matchAll(/\\d{4}-\\d{2}-\\d{2}/g)) {
      const range = document.createRange();
      range.setStart(node, match.index); range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) found.push(match[0]);
    }
  }
  return found;
}"""


def test_the_lock_ups_and_an_accounts_dates_stay_whole_on_a_phone(phone, live_server):
    # (found by a walk: at 390 px the depository's running lock-ups read "2026-12-" / "10" in their card, and the
    # regulator's account page "opened 2026-" / "12-07" and "assessment valid until 2028-12-" / "06")
    import datetime as dt

    from balances.services import Holding, securities_issue, shanghai_today
    from tests.browser.steps import forget_session

    page, language = phone
    # given an investor holding shares of which 1,000 are locked up for a while
    market = build_market()
    investor = market.investor(cash="1000", shares=500)
    securities_issue(
        actor=market.depository,
        security_code=market.security.code,
        allocations=[Holding(investor, 3000, 1000, shanghai_today() + dt.timedelta(days=3))],
    )
    regulator = market.user(Role.REGULATOR)
    for user, path, shown in (
        (market.depository, "/depository/", "#lockups"),
        (regulator, f"/supervision/accounts/{investor.code}/", "#account-facts"),
    ):
        # when the depository opens its console, and the regulator the investor's account, on a phone
        forget_session(page)
        log_in(page, live_server.url, user.username)
        switch_language(page, language)
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(shown)).to_contain_text("-")
        shoot(page, f"phone-dates-{path.strip('/').replace('/', '-')}-{language}")
        # then no date is broken across lines, and nothing runs past the phone's width
        assert page.evaluate(DATES_BROKEN) == [], (path, language)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
