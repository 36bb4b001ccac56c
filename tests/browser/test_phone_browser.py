"""Pages on a phone (390 px wide, Chromium) in both languages: nothing scrolls sideways, and the status and
the Cancel button of a resting order are on screen.

Each page is measured (``document.documentElement.scrollWidth <= innerWidth``) and, when
``SCREENSHOT_DIR`` is set, photographed there (see README, "Screenshots").
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from core.models import Role
from exchange.models import Order
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - the browser fixture is the conftest's
from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["zh", "en"])
def phone(request, browser, live_server):
    """A phone's browser in Chinese; the test switches to ``language`` after logging in, as a user would."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page(), request.param
    finally:
        context.close()


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def shoot(page: Page, name: str) -> None:
    if folder := os.environ.get("SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def on_screen(page: Page, locator) -> bool:
    box = locator.bounding_box()
    width = page.evaluate("window.innerWidth")
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
