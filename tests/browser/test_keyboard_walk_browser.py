"""What a keyboard-only walk of the trading pages found (WCAG 2.2 AA), each fixed and kept fixed here: where the
keyboard lands after an order is placed or cancelled, what a screen reader calls a row's action button, and how a
new notification is told without taking the keyboard from what the user is typing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from config.celery import app as celery_app
from exchange.models import Order
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from notifications import listeners
from tests.browser.steps import log_in
from tests.conftest import build_market, cash_of

pytestmark = pytest.mark.browser


def _tab_to(page: Page, locator, presses: int = 60) -> None:
    """Press Tab until the element has the focus, as a keyboard user gets there."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    pytest.fail("Tab never reached the element")


def test_after_an_order_is_placed_and_cancelled_the_keyboard_is_on_what_happened(page: Page, live_server):
    # (found by a keyboard walk: after "place" and after "cancel" the focus was at the top of the page, and the
    # line saying what had happened, a live region already on the page as it loaded, was read by no screen reader)
    # Given an investor with cash, a 10.10 ask in the book, and a ticket typed from the keyboard: buy 100 at 9.50
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="100000")
    base = live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/orders/new/?security={market.security.code}")
    page.locator("#id_quantity").focus()
    page.keyboard.type("100")
    page.keyboard.press("Tab")
    page.keyboard.type("9.50")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/orders/new/")
    expect(page.locator("#order-review h2")).to_be_focused()
    # When Enter on the review's button places it
    _tab_to(page, page.locator("#place-order"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/orders/")
    order = Order.objects.get(account=investor)
    # Then the keyboard is on the message that says what became of the order, which a screen reader reads out
    messages = page.locator("#messages")
    expect(messages).to_be_focused()
    expect(messages).to_have_attribute("role", "status")
    expect(messages).to_contain_text(f"委托 {order.pk}")
    # and the next Tab goes on into the page (its "new order" link), not back through the navigation
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="新委托")).to_be_focused()

    # Given the order's row: its Cancel button says which order it cancels, the visible word first (WCAG 2.5.3)
    cancel = page.locator(f'#orders-table tr[data-order="{order.pk}"] button')
    expect(cancel).to_have_accessible_name(f"撤单 委托号 {order.pk}")
    # When the keyboard reaches it, presses Enter and agrees to the question
    _tab_to(page, cancel)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the keyboard is on the message that says it is cancelled
    expect(messages).to_be_focused()
    expect(messages).to_contain_text(f"委托 {order.pk} 已撤单")
    # And the one order is cancelled, nothing traded, its cash no longer reserved
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("cancelled", 0)
    cash = cash_of(investor)
    assert (cash.total, cash.reserved) == (Decimal("100000.00"), Decimal("0.00"))


def test_a_page_without_a_message_keeps_the_keyboard_at_the_top(page: Page, live_server):
    # Given an investor's orders page opened from the navigation (no outcome to tell)
    market = build_market()
    investor = market.investor(cash="100000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/orders/")
    # Then nothing took the focus, and the first Tab reaches the skip link as before
    expect(page.locator("#messages")).to_have_count(0)
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()


def test_a_market_makers_row_buttons_name_their_security(page: Page, live_server):
    # (found by a keyboard walk: every row of "my quotes" had a "Replace" link and a "Pull" button, and a screen
    # reader listing the page's buttons heard "Pull, Pull, Pull")
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    code = market.security.code
    log_in(page, live_server.url, mm.owner.username)
    page.goto(f"{live_server.url}/quotes/")
    row = page.locator(f'#quotes-table tr[data-code="{code}"]')
    expect(row.get_by_role("link")).to_have_accessible_name(f"替换 {code}")
    expect(row.get_by_role("button")).to_have_accessible_name(f"撤回 {code}")
    # and what is seen is unchanged: the code is said, not shown (it is in the row's first cell already)
    for hidden in row.locator(".card-actions .visually-hidden, td:last-child .visually-hidden").all():
        box = hidden.bounding_box()
        assert box is not None and box["width"] <= 1 and box["height"] <= 1, box


@pytest.fixture
def tasks_in_process(monkeypatch):
    """The Celery tasks the hooks queue after commit run at once, in the process that committed."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def test_a_new_notification_is_said_politely_and_the_typing_goes_on(page: Page, live_server, tasks_in_process):
    # (found by a keyboard walk: the bell's count rose in silence; a screen reader user learnt of a fill only by
    # going to the bell, WCAG 4.1.3)
    # Given an investor's resting buy at 10.00, and the investor typing a quantity on the order ticket
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 300, Decimal("10.00"), "DAY", "resting"),
    )
    base = live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/orders/new/?security={market.security.code}")
    news = page.locator("#notification-news")
    expect(news).to_have_attribute("role", "status")
    expect(news).to_have_text("")  # the unread count the page opened with is not news
    quantity = page.locator("#id_quantity")
    quantity.focus()
    page.keyboard.type("12")
    # When the market maker's new ask fills the order and the trade is sealed
    market.quote(mm, "9.90", "10.00")
    listeners.block_sealed(block_seal().block.height)
    # Then the bell's live region says there are three unread notifications now
    expect(news).to_have_text("通知，3 条未读", timeout=10_000)
    # And the keyboard is still in the quantity, which keeps what was typed and takes the rest
    expect(quantity).to_be_focused()
    page.keyboard.type("00")
    expect(quantity).to_have_value("1200")


def test_a_request_for_quote_asked_and_accepted_from_the_keyboard(page: Page, live_server):
    # (found by a keyboard walk: the RFQ form's "Side" was a label for no field, so a screen reader heard "Buy,
    # radio button" without the question, WCAG 1.3.1; and after sending or accepting, the focus was at the top)
    from exchange.models import RfqRequest, Trade
    from exchange.services import rfq as rfq_services

    # Given a market maker and a funded investor on the RFQ page of a security
    market = build_market()
    mm = market.market_maker()
    investor = market.investor(cash="50000")
    code, base = market.security.code, live_server.url
    log_in(page, base, investor.owner.username)
    page.goto(f"{base}/rfqs/?security={code}")
    # Then the side's buttons are a group named by its question, as on the order ticket
    side = page.get_by_role("group", name="方向")
    expect(side.get_by_role("radio", name="买入")).to_be_checked()
    expect(side.get_by_role("radio", name="卖出")).not_to_be_checked()

    # When the keyboard sends it with no quantity
    page.locator("#id_security").focus()
    page.keyboard.press("Tab")
    expect(side.get_by_role("radio", name="买入")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#id_quantity")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/rfqs/")
    # Then the keyboard is in the quantity, which is marked wrong and described by its error; nothing was asked
    quantity = page.locator("#id_quantity")
    expect(quantity).to_be_focused()
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(quantity).to_have_attribute("aria-describedby", "id_quantity_error")
    expect(page.locator("#id_quantity_error")).to_be_visible()
    assert not RfqRequest.objects.exists()
    # and the side chosen is still "buy", in its named group
    expect(side.get_by_role("radio", name="买入")).to_be_checked()

    # When the quantity is typed and Enter sends it
    page.keyboard.type("300")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rfq = RfqRequest.objects.get()
    assert (rfq.side, rfq.quantity) == ("buy", 300)
    # Then the keyboard is on the message that it was sent
    messages = page.locator("#messages")
    expect(messages).to_be_focused()

    # When the market maker answers 10.05, and the answer appears on the page by itself
    rfq_services.rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=Decimal("10.05"), valid_seconds=60)
    accept = page.locator(f'#rfq-list [data-rfq="{rfq.pk}"] tr[data-answer] button')
    expect(accept).to_have_count(1, timeout=10_000)
    # Then its Accept button names the answer it accepts, the visible word first
    expect(accept).to_have_accessible_name(f"接受 {mm.code} 10.05")
    # When the keyboard goes on from the message to it, presses Enter and agrees
    _tab_to(page, accept)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then it traded, and the keyboard is on the message that says so
    expect(messages).to_be_focused()
    trade = Trade.objects.get()
    assert (trade.price, trade.quantity, trade.buyer_id) == (Decimal("10.05"), 300, investor.pk)


def test_a_disclosure_checked_from_the_keyboard_puts_the_keyboard_on_the_answer(page: Page, live_server, tmp_path):
    # (found by a keyboard walk: after "Check", the page came back with its answer, a status line already there as
    # it loaded, and the focus at the top: a screen reader heard neither "matched" nor "does not match"; and every
    # row's button was called "Check")
    from core.models import Role
    from registry import disclosures

    # Given a published document of a security, and an investor holding the same file
    market = build_market()
    investor = market.investor(cash="1000")
    content = b"Announcement: the annual meeting is on 30 June.\n"
    document = disclosures.disclosure_publish(
        actor=market.user(Role.EXCHANGE_OPERATOR), code=market.security.code, kind="announcement",
        title="Meeting notice", filename="notice.txt", content=content,
    )  # fmt: skip
    held = tmp_path / "notice.txt"
    held.write_bytes(content)
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/securities/{market.security.code}/")
    row = page.locator(f'#disclosures-table tr[data-document="{document.pk}"]')
    # When the keyboard reaches the row's file field, the file is chosen, and Tab and Enter press its button
    _tab_to(page, row.locator('input[type="file"]'))
    row.locator('input[type="file"]').set_input_files(str(held))
    page.keyboard.press("Tab")
    check = row.locator("button[type=submit]")
    expect(check).to_be_focused()
    expect(check).to_have_accessible_name("核对 Meeting notice")  # the button names the document it checks
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the keyboard is on the answer, which says the file matches
    result = page.locator("#check-result")
    expect(result).to_be_focused()
    expect(result).to_have_class("msg msg-success")
    expect(result).to_contain_text(document.sha256)


def test_a_back_links_arrow_is_not_read_out(page: Page, live_server):
    # (found by a keyboard walk: "‹ My settings" was read "single left-pointing angle quotation mark, My settings";
    # the arrow is drawn for the eye and hidden from a screen reader, the link named by its words alone)
    market = build_market()
    investor = market.investor(cash="1000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/settings/password/")
    back = page.get_by_role("link", name="我的设置", exact=True)
    expect(back).to_have_attribute("href", "/settings/")
    expect(back).to_contain_text("‹")  # still drawn


def test_a_statement_shown_from_the_keyboard_takes_it_to_the_statement(page: Page, live_server):
    # (found by a keyboard walk: after "Show", the statement came below the form and the keyboard started over at
    # the top of the page, through the navigation and the form again)
    # Given an investor whose cash was deposited today, on the statements page
    market = build_market()
    investor = market.investor(cash="1000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/statements/")
    expect(page.locator("#statement-title")).to_have_count(0)
    # When the keyboard reaches "Show" and presses Enter
    show = page.locator("#statement-form button[value=html]")
    _tab_to(page, show)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the keyboard is on the statement's heading, and the deposit is in it
    title = page.locator("#statement-title")
    expect(title).to_be_focused()
    expect(page.locator("#statement-summary")).to_contain_text("1,000.00")
    # And the CSV button downloads the file from the keyboard, the keyboard staying on it
    csv = page.locator("#statement-form button[value=csv]")
    _tab_to(page, csv)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".csv")
    expect(csv).to_be_focused()


def test_marking_a_notification_read_keeps_the_keyboard_on_it(page: Page, live_server, tasks_in_process):
    # (found by a keyboard walk: "Mark read" brought the page back with the focus at its top: to mark the next one
    # the keyboard passed the navigation and every notification above again)
    from notifications.models import Notification

    # Given an investor with two unread notifications (the account opening's approval and the cash's deposit)
    market = build_market()
    investor = market.investor(cash="1000")
    unread = list(Notification.objects.filter(user=investor.owner, read_at__isnull=True).order_by("-pk"))
    assert len(unread) == 2
    newer, older = unread
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/notifications/")
    item = page.locator(f'li.notification[data-notification="{older.pk}"]')
    # When the keyboard marks the second one read
    _tab_to(page, item.get_by_role("button"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the page comes back with the keyboard on that notification's link, now read
    expect(item.locator(".notification-head a")).to_be_focused()
    expect(item).not_to_have_class("notification unread")
    # and only it was marked read
    assert Notification.objects.filter(user=investor.owner, read_at__isnull=True).get() == newer
    # and a page opened afterwards is not given the focus (what was kept is used once)
    page.goto(f"{live_server.url}/notifications/")
    assert page.evaluate("document.activeElement === document.body")
