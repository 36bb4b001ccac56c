"""Pages on a phone (390 px wide, Chromium) in both languages: nothing scrolls sideways, and the status and
the Cancel button of a resting order are on screen.

Each page is measured (``document.documentElement.scrollWidth <= innerWidth``) and, when
``SCREENSHOT_DIR`` is set, photographed there (see README, "Screenshots").
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from core.audit import audit_record
from core.models import Role
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from settlement import instructions
from settlement.services import trade_settle
from tests.browser.conftest import CHROMIUM_ARGS, PHONE  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import forget_session, log_in
from tests.browser.test_accessibility_browser import _violations
from tests.conftest import build_market

pytestmark = pytest.mark.browser


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling). Against the phone's width, not
    innerWidth: a mobile browser widens its layout to what runs past (and zooms out), so innerWidth grew with the
    page and this read 0 whatever ran past."""
    return page.evaluate("document.documentElement.scrollWidth") - page.viewport_size["width"]


def shoot(page: Page, name: str) -> None:
    if folder := os.environ.get("SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def on_screen(page: Page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]  # the phone's, not innerWidth (widened with what runs past)
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def switch_language(page: Page, language: str) -> None:
    if language == "en":
        page.locator(".langswitch button[value='en']").click()
        page.wait_for_load_state()


def test_my_orders_on_a_phone_show_status_and_cancel_without_sideways_scrolling(phone, live_server):
    page, language = phone
    # given an investor with a resting buy order below the market
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000", shares=300)
    order, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.50"), "DAY", "phone-1"),
    )
    assert order.status == Order.Status.OPEN
    # and a trade sealed into a block (its ledger reference, block · leaf · proof · steps, is the widest cell)
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "phone-2"),
    )
    block_seal()
    base = live_server.url
    today = timezone.localdate()
    log_in(page, base, investor.owner.username)
    switch_language(page, language)

    # when they open "My orders" on a 390 px screen
    page.goto(f"{base}/orders/")
    row = page.locator(f'#orders-table tr[data-order="{order.pk}"]')

    # then nothing scrolls sideways, and the status and the Cancel button are on screen
    assert overflow(page) <= 0
    cancel = row.get_by_role("button", name="撤单" if language == "zh" else "Cancel")
    expect(cancel).to_be_visible()
    assert on_screen(page, cancel)
    assert on_screen(page, row.locator(".status"))
    # the navigation shows the current page, not cut off
    current = page.locator('nav.mainnav a[aria-current="page"]')
    expect(current).to_be_visible()
    assert on_screen(page, current)
    shoot(page, f"phone-orders-{language}")

    # and the investor's other pages fit the screen too, the market watch's ask included with a long name
    market.security.name = "华兴科技 HuaXing Technology Holdings"
    market.security.save(update_fields=["name"])
    for name, path in [
        ("market", "/"),
        ("balances", "/balances/"),
        ("trades", "/trades/"),
        ("statements", f"/statements/?start={today.replace(month=1, day=1)}&end={today}"),
        ("rfqs", "/rfqs/"),
        ("negotiated", "/negotiated/"),
    ]:
        page.goto(f"{base}{path}")
        assert overflow(page) <= 0, (name, overflow(page))
        current = page.locator('nav.mainnav a[aria-current="page"]')
        if current.count():
            assert on_screen(page, current), name
        shoot(page, f"phone-{name}-{language}")
        if name == "market":
            assert on_screen(page, page.locator('#market-table [data-field="ask"]').first)
    # the cards name each value: the holding's row on the balance page, the deposit on the statement
    page.goto(f"{base}/balances/")
    total = page.locator(f'#positions-table tr[data-security="{market.security.code}"] td').nth(1)
    expect(total).to_have_attribute("data-label", "总额" if language == "zh" else "Total")
    assert on_screen(page, total)

    # and the time-in-force switch keeps its segments side by side, of one height, when a label wraps
    page.goto(f"{base}/orders/new/?security={market.security.code}")
    segments = page.locator("#id_time_in_force, .segmented").last.locator("label.seg")
    boxes = [segments.nth(i).bounding_box() for i in range(segments.count())]
    assert len(boxes) == 2 and boxes[0]["y"] == boxes[1]["y"] and boxes[0]["height"] == boxes[1]["height"], boxes
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] + 1
    # each segment's coloured face fills its whole segment, the one with the shorter label too
    faces = [segments.nth(i).locator("span").bounding_box() for i in range(2)]
    assert [round(f["height"]) for f in faces] == [round(b["height"]) for b in boxes], (faces, boxes)
    shoot(page, f"phone-ticket-{language}")

    # and Cancel works from the card
    page.goto(f"{base}/orders/")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="撤单" if language == "zh" else "Cancel").click()
    page.wait_for_url(f"{base}/orders/")
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_the_counter_on_a_phone_has_no_sideways_scrolling(phone, live_server):
    page, language = phone
    # given broker staff with a client who has a resting order
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    client = market.investor(cash="50000")
    order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.50"), "DAY", "phone-2"),
    )
    base = live_server.url
    log_in(page, base, market.staff.username)
    switch_language(page, language)
    # when they open the client list, the client and the client's orders, then nothing scrolls sideways
    for name, path in [
        ("counter-clients", "/counter/"),
        ("counter-client", f"/counter/{client.code}/"),
        ("counter-orders", f"/counter/{client.code}/orders/"),
    ]:
        page.goto(f"{base}{path}")
        assert overflow(page) <= 0, (name, overflow(page))
        shoot(page, f"phone-{name}-{language}")
    cancel = page.locator(".orders-table").get_by_role("button", name="撤单" if language == "zh" else "Cancel")
    expect(cancel).to_be_visible()
    assert on_screen(page, cancel)


# Where each audit filter's name (the label's text) and its field are: [text, left, bottom, field left, right, top].
FILTER_LAYOUT = """() => [...document.querySelectorAll('#audit-filters > label')].map(label => {
  const range = document.createRange(); range.selectNodeContents(label.firstChild);
  const text = range.getBoundingClientRect(), field = label.querySelector('input, select').getBoundingClientRect();
  return [label.firstChild.textContent.trim(), text.left, text.bottom, field.left, field.right, field.top];
})"""

SUPERVISOR_PAGES = {
    Role.REGULATOR: [
        ("supervision", "/supervision/"),
        ("freezes", "/supervision/freezes/"),
        ("corrections", "/supervision/corrections/"),
        ("surveillance", "/surveillance/"),
        ("audit", "/audit/"),
        ("ledger", "/ledger/"),
        ("kyc-reveal", "/kyc/reveal/"),
    ],
    Role.DEPOSITORY_OPERATOR: [("settlement", "/settlement/"), ("depository", "/depository/")],
    Role.EXCHANGE_OPERATOR: [("operations", "/operations/"), ("all-orders", "/orders/")],
}


@pytest.mark.parametrize("role", list(SUPERVISOR_PAGES))
def test_the_back_office_pages_fit_a_phone(phone, live_server, role):
    page, language = phone
    # given a market with a trade that settled and a deposit, so that the lists have rows
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "phone-3"),
    )
    block_seal()
    user = market.user(role)
    base = live_server.url
    log_in(page, base, user.username)
    switch_language(page, language)
    pages = list(SUPERVISOR_PAGES[role])
    if role == Role.REGULATOR:
        # an audit record whose detail holds a long unbroken value (found by a walk-through: it widened the page)
        from core.audit import audit_record

        event = audit_record(actor=user, action="identity_reveal", detail={"reason": "法院协查函" + "A1" * 120})
        pages.append(("audit-record", f"/audit/{event.pk}/"))
    # when each page of the role opens on a phone, then nothing scrolls sideways
    for name, path in pages:
        page.goto(f"{base}{path}")
        assert overflow(page) <= 0, (name, overflow(page))
        shoot(page, f"phone-{name}-{language}")
        if name == "settlement":
            # the summary's last figure too (it was a wide table, cut at the right)
            assert on_screen(page, page.locator('#settlement-summary [data-k="latency_p99_s"]'))
        if name == "audit":
            # and each filter's name stands above its own field, wherever the fields wrap
            for text, text_left, text_bottom, field_left, field_right, field_top in page.evaluate(FILTER_LAYOUT):
                assert text_bottom <= field_top + 1 and field_left - 2 <= text_left < field_right, text


# The texts of the page's content that reach past the screen's right edge (a failure names them).
PAST_THE_EDGE = """width => {
  const found = [], walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const range = document.createRange(); range.selectNodeContents(node);
    const right = range.getBoundingClientRect().right;
    if (right > width + 1) found.push(`${node.parentElement.tagName} ${Math.round(right)} ${node.textContent.trim()}`);
  }
  return found.slice(0, 12);
}"""
LONG_REASON = "Suspected insider dealing, case 2026-17"
# What each role reads of the held trade's reason on the monitor: the operator may not read a regulator's.
LONG_TEXT = {
    Role.DEPOSITORY_OPERATOR: LONG_REASON,
    Role.REGULATOR: LONG_REASON,
    Role.AUDITOR: LONG_REASON,
    Role.EXCHANGE_OPERATOR: "(the regulator's reason is not shown)",
}


@pytest.mark.parametrize(
    "role", [Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR, Role.EXCHANGE_OPERATOR], ids=str
)
def test_the_settlement_monitor_and_audit_trail_with_long_content_fit_a_phone_in_english(browser, live_server, role):
    # (found by a probe: at 390 px in English the monitor was 420 px wide, "(Depository operator)", "(Regulator)"
    # and a long reason running out of their cards, 421 px for the operator from "(the regulator's reason is not
    # shown)"; the audit trail 464 px from the object "/supervision/freeze/2/release/")
    # given a sealed trade held by a regulator's instruction, and an instruction of the depository, both with a
    # long reason
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    buyer = market.investor(cash="50000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "phone-4"),
    )
    block_seal()
    regulator = market.user(Role.REGULATOR)
    ends_at = timezone.now() + dt.timedelta(days=1)
    for setter in (regulator, market.depository):
        instructions.instruction_create(
            actor=setter, account_code=buyer.code, security_code=None, min_amount=None, reason=LONG_REASON,
            ends_at=ends_at,
        )  # fmt: skip
    trade = Trade.objects.get()
    assert trade_settle(trade_id=trade.pk) is False
    # and a refused release of a freeze in the audit trail, whose object is the page's path
    refused = audit_record(
        actor=regulator, action="supervision-decide", target="/supervision/freeze/2/release/", outcome="refused"
    )
    user = {Role.DEPOSITORY_OPERATOR: market.depository, Role.REGULATOR: regulator}.get(role) or market.user(role)
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url, user.username)
        switch_language(page, "en")
        # when they open the monitor (and a regulator the audit trail and that record) on a phone in English
        pages = ["/settlement/"] + (["/audit/", f"/audit/{refused.pk}/"] if role == Role.REGULATOR else [])
        for path in pages:
            page.goto(f"{live_server.url}{path}")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            # then the long content is there and nothing is wider than the screen (the page's scrolling width)
            expect(page.locator("main")).to_contain_text(LONG_TEXT[role] if path == "/settlement/" else "/release/")
            width = page.evaluate("document.documentElement.scrollWidth")
            shoot(page, f"phone-long-{path.strip('/').replace('/', '-')}-{role}")
            assert width <= PHONE["width"], (path, width, page.evaluate(PAST_THE_EDGE, PHONE["width"]))
            # and the cells' new wrappers leave the page as accessible as it was
            assert _violations(page, path) == []
    finally:
        context.close()


# Texts of the page's cards broken a few characters a line (three lines or more, none 48 px wide): a cell
# whose parts sat side by side as flex items, each squeezed to a sliver (a failure names them).
SLIVERS = """() => {
  const found = [];
  for (const cell of document.querySelectorAll('table.cards td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(node);
      const lines = [...range.getClientRects()].filter(r => r.width > 0);
      if (lines.length >= 3 && Math.max(...lines.map(r => r.width)) < 48) found.push(node.textContent.trim());
    }
  }
  return found;
}"""


def test_a_released_freeze_and_the_securities_registry_read_in_lines_on_a_phone(phone, live_server):
    # (found by a walk-through: on a phone, the freezes list's "Decided by" of a released freeze stood its two
    # times a character a line, and the depository's registry broke "HuaXing Tech" as "HuaXi / ng / Tech")
    from registry.models import Security
    from supervision import services as supervision

    page, language = phone
    # given a security with a long name, an investor holding it, and a freeze of its shares approved and released
    market = build_market()
    Security.objects.filter(pk=market.security.pk).update(code="830001", name="华兴科技 HuaXing Tech")
    market.security.refresh_from_db()
    investor = market.investor(shares=500)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = supervision.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=100,
        legal_reference="上海金融法院 (2026)沪74执保123号", reason="财产保全",
    )  # fmt: skip
    supervision.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    supervision.freeze_release(actor=reg2, freeze_id=freeze.pk, reason="court lifted")
    base = live_server.url
    for user, path, shown in (
        (reg1, "/supervision/freezes/", "court lifted"),
        (market.depository, "/depository/", "HuaXing Tech"),
    ):
        # when the regulator opens the freezes, and the depository its registry, on a phone
        forget_session(page)
        log_in(page, base, user.username)
        switch_language(page, language)
        page.goto(f"{base}{path}")
        expect(page.locator("main table.cards").first).to_contain_text(shown)
        shoot(page, f"phone-lines-{path.strip('/').replace('/', '-')}-{language}")
        # then no text of a card is broken a few characters a line, and nothing scrolls sideways
        assert page.evaluate(SLIVERS) == [], path
        assert overflow(page) <= 0, (path, overflow(page))
    # and the freeze is as it was: released, holding nothing
    freeze.refresh_from_db()
    assert freeze.status == "released" and freeze.held_quantity == 0


# Words of the cards' texts broken across lines (a failure names them): each word of each text is measured alone.
BROKEN_WORDS = """selector => {
  const found = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index); range.setEnd(node, match.index + match[0].length);
        if ([...range.getClientRects()].filter(r => r.width > 0).length > 1) found.push(match[0]);
      }
    }
  }
  return found;
}"""


def test_who_set_and_who_ended_an_instruction_keep_their_words_whole_on_a_phone(phone, live_server):
    # (found by a walk-through: at 390 px in English an ended instruction's "Ended by" read "depositor / y /
    # (Deposito / ry / operator)", the name and its role cut inside the words in half the card's width)
    from core.models import User

    page, language = phone
    # given a depository operator with a name as long as the demo's, whose instruction was set and ended
    market = build_market()
    depository = market.depository
    User.objects.filter(pk=depository.pk).update(username="depository2")
    depository.refresh_from_db()
    ends_at = timezone.now() + dt.timedelta(days=1)
    instruction = instructions.instruction_create(
        actor=depository, account_code=None, security_code=market.security.code, min_amount=None,
        reason="walk instr", ends_at=ends_at,
    )  # fmt: skip
    instructions.instruction_end(actor=depository, instruction_id=instruction.pk, reason="walk end")
    instructions.instruction_create(
        actor=depository, account_code=None, security_code=market.security.code, min_amount=None,
        reason="walk instr", ends_at=ends_at,
    )  # fmt: skip
    log_in(page, live_server.url, depository.username)
    switch_language(page, language)

    # when they open the settlement monitor on a phone
    page.goto(f"{live_server.url}/settlement/")
    expect(page.locator("#ended-instructions-table")).to_contain_text("depository2")
    expect(page.locator("#instructions-table")).to_contain_text("depository2")
    shoot(page, f"phone-instructions-{language}")

    # then no word of who set and who ended them is cut across lines, and nothing scrolls sideways
    assert page.evaluate(BROKEN_WORDS, "#instructions-table td, #ended-instructions-table td") == []
    assert overflow(page) <= 0


# How many lines each cell's own content (not its column's name) takes, by the distinct tops of its boxes.
CELL_LINES = """selector => [...document.querySelectorAll(selector)].map(cell => {
  const range = document.createRange(); range.selectNodeContents(cell);
  const tops = [];
  for (const r of range.getClientRects()) {
    if (r.width > 0 && !tops.some(t => Math.abs(t - r.top) < 6)) tops.push(r.top);
  }
  return [cell.textContent.trim(), tops.length];
})"""


def test_a_correction_reads_its_trade_and_what_it_is_corrected_to_on_one_line_each_on_a_phone(phone, live_server):
    # (found by a walk-through: at 390 px the trade read "2 | 830001 | 100 / @ / 12.55", a figure a line)
    from supervision import services as supervision

    page, language = phone
    # given a settled trade and a correction of its price, proposed by the depository
    from tests.test_supervision import _settled_buy

    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    trade = _settled_buy(market, market.investor(cash="50000"), 100)
    correction = supervision.correction_propose(
        actor=market.depository, trade_id=trade.pk, new_price=Decimal("10.05"), new_quantity=100, reason="Fat finger"
    )
    auditor = market.user(Role.AUDITOR)
    log_in(page, live_server.url, auditor.username)
    switch_language(page, language)

    # when an auditor reads the corrections on a phone
    page.goto(f"{live_server.url}/supervision/corrections/")
    row = page.locator(f'#corrections-table tr[data-correction="{correction.pk}"]')
    expect(row).to_contain_text("10.10")

    # then the trade and what it is corrected to take one line each, and nothing scrolls sideways
    cells = page.evaluate(CELL_LINES, f'tr[data-correction="{correction.pk}"] td:nth-child(2), '
                                      f'tr[data-correction="{correction.pk}"] td:nth-child(3)')  # fmt: skip
    assert [lines for _text, lines in cells] == [1, 1], cells
    assert overflow(page) <= 0
    # and the correction is still only proposed
    correction.refresh_from_db()
    assert correction.status == "proposed"


def test_a_regulator_looks_an_account_up_on_a_phone_and_follows_its_trade_to_the_counterparty(phone, live_server):
    from supervision import services as supervision

    page, language = phone
    # given an investor who sold to a market maker (sealed, settled) and has shares frozen
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000", shares=500)
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "sell", 200, Decimal("9.90"), "IOC", "phone-acct"),
    )
    block_seal()
    trade = Trade.objects.get(seller=investor)
    trade_settle(trade_id=trade.pk)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = supervision.freeze_propose(
        actor=reg1, account=investor.code, security=market.security.code, quantity=100,
        legal_reference="上海金融法院 (2026)沪74执保7号", reason="财产保全",
    )  # fmt: skip
    supervision.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    base = live_server.url
    log_in(page, base, reg1.username)
    switch_language(page, language)

    # when the regulator types the account's code in small letters into the look-up, from the menu
    page.locator(".mainnav a[href='/supervision/accounts/']").click()
    page.locator("#id_code").fill(investor.code.lower())
    page.locator("#account-lookup button[type=submit]").click()

    # then the account's page shows its holdings with the frozen shares, the freeze and the trade, on a phone's
    # width without sideways scrolling
    expect(page).to_have_url(f"{base}/supervision/accounts/{investor.code}/")
    expect(page.locator("#positions-table")).to_contain_text("300")
    expect(page.locator("#freezes-table")).to_contain_text("财产保全")
    shoot(page, f"phone-supervision-account-{language}")
    assert overflow(page) <= 0, overflow(page)
    assert page.evaluate(SLIVERS) == []
    assert _violations(page, "account") == []
    # and the trade's counterparty leads to the market maker's account
    page.locator(f"#account-trades-table tr[data-trade='{trade.pk}'] [data-field='counterparty'] a").click()
    expect(page).to_have_url(f"{base}/supervision/accounts/{mm.code}/")
    expect(page.locator("#account-trades-table")).to_contain_text(str(trade.pk))
