"""Every role's pages, checked by axe-core (the engine of most accessibility audits) against WCAG 2.2 A and AA
and axe's best practices: in Chinese on a laptop and in English on a phone, over the demo market, so that the
pages carry real rows, forms and links.

A violation names the rule, the page and the elements, as axe reports them: contrast below 4.5:1, a control
without a label, a table header without text, a touch target under 24 px, a region that scrolls but cannot be
reached from the keyboard, and so on. The page's HTML is what a user of that role is served (each page
must answer 200)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from playwright.sync_api import expect

from core.models import Account, AuditEvent, Role, User
from exchange.models import Order, Trade
from kyc.models import KycProfile
from ledger.models import Block
from registry.models import Security
from surveillance.models import Alert
from tests.browser.steps import forget_session, log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices (landmarks, one h1, empty headers, …).
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
    "resultTypes": ["violations"],
}
SETTINGS = {"zh-1280": ("zh", {"width": 1280, "height": 900}), "en-390": ("en", {"width": 390, "height": 844})}


def _pages() -> dict[str, list[str]]:
    """The pages of each demo login, with the ids of rows the demo market holds."""
    security = Security.objects.order_by("code").first().code
    trade = Trade.objects.order_by("pk").first()
    client = Account.objects.filter(owner__role=Role.INVESTOR, broker__code__isnull=False).order_by("code").first()
    application = KycProfile.objects.order_by("pk").first()
    event = AuditEvent.objects.order_by("pk").first()
    alert = Alert.objects.order_by("pk").first()
    block = Block.objects.order_by("height").last()
    assert None not in (trade, client, application, event, alert, block), "the demo market lacks a row to show"
    return {
        "investor1": [
            "/",
            f"/securities/{security}/",
            f"/orders/new/?security={security}",
            "/orders/",
            "/trades/",
            "/balances/",
            "/statements/",
            "/notifications/",
            "/rfqs/",
            "/negotiated/",
            "/kyc/me/",
            "/settings/",
            "/settings/password/",
            "/settings/email/",
            "/settings/api-tokens/",
        ],
        "mm1": ["/quotes/", "/settings/"],
        "staff1": [
            "/counter/",
            "/counter/open/",
            f"/counter/{client.code}/",
            f"/counter/{client.code}/orders/new/?security={security}",
            "/counter/cash-requests/",
            "/kyc/applications/",
            f"/kyc/applications/{application.pk}/",
        ],
        "operator": ["/operations/", "/operations/securities/new/", f"/operations/securities/{security}/edit/"],
        "depository": ["/depository/", f"/depository/register/?security={security}", "/settlement/"],
        "regulator": [
            "/supervision/",
            "/supervision/corrections/",
            "/supervision/freezes/",
            "/supervision/accounts/",
            f"/supervision/accounts/{client.code}/",
            "/surveillance/",
            f"/surveillance/alerts/{alert.pk}/",
            "/surveillance/rules/",
            "/kyc/reveal/",
        ],
        "auditor": [
            "/audit/",
            f"/audit/{event.pk}/",
            "/trades/",
            f"/trades/{trade.pk}/",
            "/ledger/",
            f"/ledger/blocks/{block.height}/",
            "/ledger/entries/0/",
            "/ledger/keys/",
            "/ledger/verify/",
        ],
    }


# Ids that an aria-describedby, aria-labelledby or aria-controls names and the page lacks: Django points an
# erroneous field at "<id>_error", which a template must render for a screen reader to read the error out.
DANGLING = """() => Array.from(document.querySelectorAll("[aria-describedby],[aria-labelledby],[aria-controls]"))
  .flatMap(el => ["aria-describedby", "aria-labelledby", "aria-controls"].flatMap(a =>
    (el.getAttribute(a) || "").split(/\\s+/).filter(id => id && !document.getElementById(id))
      .map(id => `${el.id || el.tagName} ${a}="${id}"`)))"""

# Every table, and every scrolling box that holds one (a keyboard stop of its own), has a name a screen reader
# says when it comes to it (WCAG 1.3.1, techniques H39 and ARIA16): its caption, or the heading it is under.
# The chart's own layout table is inside an image (role="img", named), which a screen reader does not enter.
UNNAMED = """() => Array.from(document.querySelectorAll("table, .table-scroll")).filter(el => {
    if (el.closest("[role=img]")) return false;
    const label = (el.getAttribute("aria-label") || "").trim();
    const labelledby = (el.getAttribute("aria-labelledby") || "").split(/\\s+/)
      .map(id => (document.getElementById(id) || {}).textContent || "").join(" ").trim();
    const caption = ((el.querySelector(":scope > caption") || {}).textContent || "").trim();
    return !(label || labelledby || caption);
  }).map(el => el.id || el.outerHTML.slice(0, 120))"""


def _violations(page, where: str) -> list[str]:
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    dangling = [f"{where}: names a missing element: {ref}" for ref in page.evaluate(DANGLING)]
    dangling += [f"{where}: a table or its scrolling box has no name: {ref}" for ref in page.evaluate(UNNAMED)]
    return dangling + [
        f"{where}: {v['id']} ({v['impact']}): {v['help']}: {[n['target'] for n in v['nodes']][:5]}" for v in found
    ]


@pytest.fixture
def demo_market(settings):
    settings.DEMO_MODE = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("demo_data")


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_page_of_every_role_passes_axe(browser, live_server, demo_market, setting):
    # Given the demo market, and a browser in this setting's language and width
    language, viewport = SETTINGS[setting]
    pages = _pages()
    security = Security.objects.order_by("code").first().code
    found: list[str] = []
    context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=viewport["width"] < 500)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # The login page, first as it is and then refusing a wrong password (a form with its error).
        page.goto(f"{live_server.url}/login/")
        if language == "en":
            page.locator(".langswitch button[value='en']").click()
            page.wait_for_load_state()
        found += _violations(page, "/login/")
        page.fill("#id_username", "investor1")
        page.fill("#id_password", "not-the-password")
        page.locator("form[action='/login/'] button.primary").click()
        expect(page.locator(".form-errors")).to_be_visible()
        found += _violations(page, "/login/ (wrong password)")
        page.goto(f"{live_server.url}/password-reset/")
        found += _violations(page, "/password-reset/")
        forget_session(page)

        for username, paths in pages.items():
            # When each demo login visits its pages
            forget_session(page)
            log_in(page, live_server.url, username, DEMO_PASSWORD)
            if language == "en":
                page.locator(".langswitch button[value='en']").click()
                page.wait_for_load_state()
            if username == "investor1":
                # A ticket refused for its quantity: the field's error is what its input describes itself by
                page.goto(f"{live_server.url}/orders/new/?security={security}")
                page.fill("#id_limit_price", "10.00")
                page.fill("#id_quantity", "0")
                page.locator("#review-order").click()
                expect(page.locator("#id_quantity_error")).to_be_visible()
                expect(page.locator("#id_quantity")).to_have_attribute("aria-invalid", "true")
                found += _violations(page, f"{username} ticket with a field error")
            for path in paths:
                response = page.goto(f"{live_server.url}{path}")
                assert response is not None and response.status == 200, (username, path)
                # Then axe finds nothing to report on any of them
                found += _violations(page, f"{username} {path}")
    finally:
        context.close()
    assert not found, f"{len(found)} accessibility violations ({setting}):\n" + "\n".join(found)
    # And the visit changed nothing a user owns: still one demo user a name, and the same logins
    assert User.objects.filter(username__in=list(pages)).count() == len(pages)


def test_a_keyboard_alone_takes_a_quote_and_places_the_order(browser, live_server):
    # Given a market maker's 10.10 ask, and an investor with cash who uses no mouse
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="100000")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url, investor.owner.username)
        page.goto(f"{live_server.url}/orders/new/?security={market.security.code}")
        # When they tab to the ask's button in the quote book and press Enter
        ask = page.locator("#quote-book tr.ask .pick-price").first
        expect(ask).to_have_accessible_name("卖价 10.10: 以此价格买入")  # the visible word first (WCAG 2.5.3)
        page.locator("#id_limit_price").focus()
        for _ in range(40):
            page.keyboard.press("Tab")
            if ask.evaluate("b => b === document.activeElement"):
                break
        else:
            pytest.fail("Tab never reached the ask's button")
        page.keyboard.press("Enter")
        # Then the ticket takes its price and side, and the cursor waits in the quantity
        expect(page.locator("#id_limit_price")).to_have_value("10.10")
        expect(page.locator("#id_quantity")).to_be_focused()
        assert page.locator('input[name="side"][value="buy"]').is_checked()
        # And typing the quantity and Enter reviews the order; Enter on the focused button places it
        page.keyboard.type("100")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/orders/new/")
        expect(page.locator("#review-total")).to_be_visible()
        page.locator("#place-order").focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/orders/")
    finally:
        context.close()
    # And the one order is the one typed, filled against the ask; nothing else was placed
    order = Order.objects.get(account=investor)
    assert (order.side, order.quantity, order.limit_price, order.status) == ("buy", 100, Decimal("10.10"), "filled")
    assert list(Trade.objects.filter(buy_order=order).values_list("price", "quantity")) == [(Decimal("10.10"), 100)]


def test_the_quote_books_redraw_keeps_the_keyboards_place_and_the_skip_link_leads_to_the_content(page, live_server):
    # (found by an accessibility audit: the book's body was replaced whenever the quotes changed, and the focus
    # on an Ask button fell back to the top of the page; and the keyboard passed every link of the navigation
    # before reaching a page's content)
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/orders/new/?security={market.security.code}")
    # the first Tab reaches the skip link, and following it puts the keyboard in the page's content
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    # given the keyboard on the 10.10 ask's button, when the market maker changes its quote's size
    ask = page.locator('#quote-book tr.ask[data-price="10.10"] .pick-price')
    ask.focus()
    market.quote(mm, "9.90", "10.10", ask_qty=2000)
    expect(page.locator("#quote-book tr.ask").first).to_contain_text("2,000", timeout=10_000)
    # then the redrawn book's button for the same price has the focus
    expect(page.locator('#quote-book tr.ask[data-price="10.10"] .pick-price')).to_be_focused()


def test_a_list_drawn_as_cards_on_a_phone_keeps_its_column_headers(browser, live_server):
    # (found by an accessibility audit: "display: none" on the header row took the column names out of the
    # accessibility tree at phone widths; /balances/ had 6 column headers at 1280 px and none at 390 px)
    market = build_market()
    investor = market.investor(cash="100000", shares=100)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in(page, live_server.url, investor.owner.username)
        page.goto(f"{live_server.url}/balances/")
        headers = page.locator("table.cards thead th")
        assert headers.count() > 0
        assert all(h.evaluate("th => getComputedStyle(th.closest('thead')).display") != "none" for h in headers.all())
        assert page.locator("table.cards").first.evaluate("t => t.scrollWidth <= document.documentElement.clientWidth")
    finally:
        context.close()


def test_a_staff_member_is_warned_before_the_session_ends_and_may_stay(page, live_server, settings):
    # (found by an accessibility audit: a staff session ended after 30 minutes idle with no warning, WCAG 2.2.1)
    settings.STAFF_SESSION_IDLE_SECONDS = 8  # warned at half of it: 4 seconds before the end
    market = build_market()
    log_in(page, live_server.url, market.staff.username)
    page.goto(f"{live_server.url}/kyc/applications/")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    # when the time runs down, the page warns and puts the keyboard on "stay signed in"
    expect(warning).to_be_visible(timeout=8_000)
    expect(warning).to_contain_text("您的会话将在 1 分钟后结束")
    stay = warning.get_by_role("button", name="保持登录")
    expect(stay).to_be_focused()
    # and pressing it renews the session: the warning goes, and a page opened after the first end (8 seconds
    # from the page's load) is still served, where it would have sent the member to log in
    page.keyboard.press("Enter")
    expect(warning).to_be_hidden()
    page.wait_for_timeout(5_000)
    response = page.goto(f"{live_server.url}/kyc/applications/")
    assert response.url.endswith("/kyc/applications/"), response.url


def test_a_refused_form_takes_the_keyboard_to_its_first_field_in_error_and_says_so_in_the_title(page, live_server):
    # (found by an accessibility audit: after a refused form the focus was at the top of a page that looked the
    # same, and the title did not change)
    market = build_market()
    market.quote(market.market_maker(), "9.90", "10.10")
    investor = market.investor(cash="100000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/orders/new/?security={market.security.code}")
    page.fill("#id_quantity", "0")
    page.fill("#id_limit_price", "10.10")
    page.locator("#order-form button[type=submit]").first.click()
    expect(page.locator("#id_quantity")).to_be_focused()
    assert page.title().startswith("错误：")
    # and a review takes it to the review's heading
    page.fill("#id_quantity", "100")
    page.locator("#order-form button[type=submit]").first.click()
    expect(page.locator("#order-review h2")).to_be_focused()
    assert page.title().startswith("核对您的委托") or "·" in page.title()


def test_live_updates_can_be_paused_and_resumed(page, live_server):
    # (found by an accessibility audit: quotes and the market watch refreshed every 2 seconds with no way to
    # pause them, WCAG 2.2.2)
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/orders/new/?security={market.security.code}")
    pause = page.locator("#live-pause")
    expect(pause).to_have_text("暂停实时更新")
    # when paused, a change of the quotes is not drawn, and the status line says it is paused
    pause.click()
    expect(pause).to_have_text("恢复实时更新")
    expect(page.locator("#ticket-status")).to_contain_text("实时更新已暂停")
    market.quote(mm, "9.90", "10.10", ask_qty=2000)
    page.wait_for_timeout(4_500)
    expect(page.locator("#quote-book tr.ask").first).not_to_contain_text("2,000")
    # and resuming draws it at once
    pause.click()
    expect(page.locator("#quote-book tr.ask").first).to_contain_text("2,000", timeout=3_000)
    expect(page.locator("#ticket-status")).not_to_contain_text("暂停")
    # and a page with nothing live shows no such button
    page.goto(f"{live_server.url}/kyc/me/")
    expect(page.locator("#live-pause")).to_be_hidden()


def test_the_market_watch_keeps_the_keyboards_row_when_it_reloads_for_a_new_listing(page, live_server):
    # (found by an accessibility audit: the market watch reloads itself when a security is listed or the market
    # opens or closes, and the keyboard started over at the top)
    market = build_market()
    investor = market.investor(cash="100000")
    log_in(page, live_server.url, investor.owner.username)
    page.goto(f"{live_server.url}/")
    link = page.locator(f'#market-table tr[data-code="{market.security.code}"] a').first
    link.focus()
    # when a security is listed, the page reloads with one more row
    market.new_security("S-NEW")
    expect(page.locator('#market-table tr[data-code="S-NEW"]')).to_have_count(1, timeout=10_000)
    # then the keyboard is on the same row's link
    expect(page.locator(f'#market-table tr[data-code="{market.security.code}"] a').first).to_be_focused()


def test_an_order_the_exchange_cancelled_says_why_on_a_phone_in_english(browser, live_server):
    # given an investor's resting buy, cancelled by a whole-account freeze that a regulator reading Chinese approved
    import datetime as dt

    from django.utils import translation

    from exchange.services import OrderRequest, order_place
    from supervision import services as sv

    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("9.00"), "DAY", "resting"),
    )
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    freeze = sv.freeze_propose(
        actor=reg1, account=investor.code, whole_account=True, reason="Court order",
        legal_authority="上海金融法院", legal_document="(2026)沪74执保88号", legal_date=dt.date(2026, 11, 30),
    )  # fmt: skip
    with translation.override("zh-hans"):
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    assert Order.objects.get(account=investor).closed_by == "account_frozen"
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # when the investor opens their orders in English on a phone
        log_in(page, live_server.url, investor.owner.username)
        page.locator(".langswitch button[value='en']").click()
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/orders/")
        # then the cancelled order says, in English, that the freeze cancelled it, within the screen's width
        reason = page.locator("#orders-table .closed-reason")
        expect(reason).to_have_text(f"Cancelled: the account is frozen by a legal order (freeze {freeze.pk}).")
        assert reason.evaluate("el => el.getBoundingClientRect().right <= document.documentElement.clientWidth")
        # and axe finds nothing on the page
        assert _violations(page, "/orders/") == []
    finally:
        context.close()
