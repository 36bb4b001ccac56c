"""Account opening through the real pages in headless Chromium: an investor registers online, answers the
risk questionnaire, uploads the ID and applies; staff member A submits, staff member B approves; then staff
deposit cash at the counter and the investor buys from a market maker's quote.

``onboard_online`` walks the account opening and returns the approved investor's credentials, for tests that go
on from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from core.models import Account, AuditEvent, Role, User
from exchange.models import Order, Trade
from kyc.models import KycProfile
from kyc.questionnaire import QUESTIONS
from tests.browser import steps
from tests.browser.steps import buy_500_from_the_ask_at_10_10
from tests.conftest import Market, build_market, cash_of

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("kyc_folders")]

STAFF_PASSWORD = "pw-test-2026"
# A whole one-pixel PNG: an upload's structure is checked, not only its first bytes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\xdac\xf8\x0f\x04\x00\t\xfb\x03\xfdh\xfa\x1c\xcc\x00\x00\x00\x00IEND\xaeB`\x82"
)
ANSWERS_C5 = {q["key"]: max(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}


@dataclass(frozen=True)
class InvestorLogin:
    username: str
    password: str
    account: str


def log_in(page: Page, base: str, username: str, password: str) -> None:
    steps.forget_session(page)
    steps.log_in(page, base, username, password)


def register_online(page: Page, base: str, market: Market, *, username: str, password: str) -> None:
    steps.forget_session(page)
    page.goto(f"{base}/login/")
    page.get_by_role("link", name="在线开户").click()
    page.wait_for_url(f"{base}/kyc/register/")
    page.select_option("#id_broker", str(market.broker.pk))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.fill("#id_password2", password)
    page.fill("#id_real_name", "张伟")
    page.select_option("#id_id_type", "resident_id")
    page.fill("#id_id_number", "11010519491231002X")
    page.fill("#id_phone", "13800138000")
    page.fill("#id_address", "北京市朝阳区建国路 88 号")
    page.locator("#register").click()
    page.wait_for_url(f"{base}/kyc/me/")


def complete_and_apply(page: Page, base: str) -> None:
    """On the investor's own KYC page: questionnaire, ID front, application."""
    for key, value in ANSWERS_C5.items():
        page.check(f'#questionnaire-form input[name="{key}"][value="{value}"]')
    page.locator("#questionnaire-save").click()
    page.wait_for_url(f"{base}/kyc/me/")
    expect(page.locator("#risk-level")).to_have_text("C5")

    page.select_option("#id_kind", "id_front")
    page.set_input_files("#id_file", files=[{"name": "id-front.png", "mimeType": "image/png", "buffer": PNG}])
    page.locator("#document-upload").click()
    page.wait_for_url(f"{base}/kyc/me/")
    expect(page.locator("#documents-table tbody tr")).to_have_count(1)
    expect(page.locator("#documents-table")).to_contain_text("id-front.png")

    page.locator("#kyc-apply").click()
    page.wait_for_url(f"{base}/kyc/me/")
    expect(page.locator(".msg-success")).to_have_text("您的申请已提交给券商审核。")


def open_application(page: Page, base: str, username: str) -> None:
    page.get_by_role("link", name="开户审核").click()
    page.wait_for_url(f"{base}/kyc/applications/")
    row = page.locator(f'#queue-table tr[data-username="{username}"]')
    expect(row).to_have_count(1)
    row.locator("a").first.click()
    page.wait_for_url(re.compile(rf"{re.escape(base)}/kyc/applications/\d+/$"))


def onboard_online(page: Page, base: str, market: Market, *, username: str = "zhangwei") -> InvestorLogin:
    """Register online and be approved through the pages: the investor applies, staff A submits, staff B approves."""
    password = "Kyc-pass-2026!"
    staff_a = market.staff
    staff_b = User.objects.create_user(
        username=f"{staff_a.username}-checker", password=STAFF_PASSWORD, role=Role.BROKER_STAFF, broker=market.broker
    )

    register_online(page, base, market, username=username, password=password)
    complete_and_apply(page, base)

    log_in(page, base, staff_a.username, STAFF_PASSWORD)
    open_application(page, base, username)
    page.locator("#kyc-submit").click()
    expect(page.locator(".msg-success")).to_have_text("已提交审批。须由另一名员工批准。")
    expect(page.locator("#kyc-state")).to_have_text("已提交审批")

    log_in(page, base, staff_b.username, STAFF_PASSWORD)
    open_application(page, base, username)
    # the approval asks first, naming the applicant
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator("#kyc-approve").click()
    expect(page.locator(".msg-success")).to_have_text("已批准。投资者可以交易了。")
    assert len(questions) == 1 and username in questions[0], questions

    profile = KycProfile.objects.select_related("user__account").get(user__username=username)
    return InvestorLogin(username=username, password=password, account=profile.user.account.code)


def test_an_investor_registers_online_and_is_approved_by_two_staff_members(page: Page, live_server):
    # given a broker with two staff members
    market = build_market()
    base = live_server.url

    # when the investor registers, completes and applies, staff A submits and staff B approves
    investor = onboard_online(page, base, market)

    # then the investor sees the approval on their page
    log_in(page, base, investor.username, investor.password)
    page.get_by_role("link", name="我的开户").click()
    page.wait_for_url(f"{base}/kyc/me/")
    expect(page.locator("#kyc-state")).to_have_text("已批准")
    expect(page.locator("#kyc-summary")).to_contain_text("投资者等级 C5")
    expect(page.locator("#masked-id")).to_have_text("110***********002X")
    profile = KycProfile.objects.get(user__username=investor.username)
    assert (profile.state, profile.submitted_by_id) == ("approved", market.staff.pk)
    assert profile.reviewed_by.username == f"{market.staff.username}-checker"


def test_retaking_the_questionnaire_of_an_approved_account_asks_first(page: Page, live_server):
    # (found by a tester: a new assessment stopped trading with no question asked)
    # given an approved investor on their account-opening page
    market = build_market()
    investor = market.investor(level=5)
    base = live_server.url
    steps.log_in(page, base, investor.owner.username)
    page.goto(f"{base}/kyc/me/")
    page.locator("#risk summary").click()
    for key, value in ANSWERS_C5.items():
        page.check(f'#questionnaire-form input[name="{key}"][value="{value}"]')

    # when they save the answers and decline the question, then save again and accept it
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.locator("#questionnaire-save").click()
    page.wait_for_timeout(500)
    declined = KycProfile.objects.get(user=investor.owner).state
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator("#questionnaire-save").click()

    # then the first changed nothing, the second stopped trading until the application is sent again
    expect(page.locator("#kyc-apply")).to_be_visible()
    assert declined == "approved"
    assert KycProfile.objects.get(user=investor.owner).state == "draft"
    assert questions == ["保存新的答案？您将立即停止交易，直到您重新提交申请并获批准。"] * 2


def test_the_maker_cannot_approve_in_the_browser(page: Page, live_server):
    market = build_market()
    base = live_server.url
    register_online(page, base, market, username="lina", password="Kyc-pass-2026!")
    complete_and_apply(page, base)

    log_in(page, base, market.staff.username, STAFF_PASSWORD)
    open_application(page, base, "lina")
    expect(page.locator("#kyc-state")).to_have_text("已提交，等待审核")
    page.locator("#kyc-submit").click()

    # the maker is told why, and shown no Approve button they may not use (the server refuses it anyway:
    # tests/test_kyc_views.py posts it)
    expect(page.locator("#maker-hint")).to_be_visible()
    expect(page.locator("#kyc-approve")).to_have_count(0)
    expect(page.locator("#kyc-state")).to_have_text("已提交审批")


def counter_deposit(page: Page, base: str, staff: User, account: str, amount: str) -> None:
    """Staff find the client on the counter pages and deposit cash."""
    log_in(page, base, staff.username, STAFF_PASSWORD)
    page.locator("nav.mainnav").get_by_role("link", name="客户", exact=True).click()
    page.wait_for_url(f"{base}/counter/")
    page.fill("#client-q", account)
    page.get_by_role("button", name="搜索").click()
    rows = page.locator("#clients-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-account", account)
    rows.first.get_by_role("link", name=account).click()
    page.wait_for_url(f"{base}/counter/{account}/")
    expect(page.locator("#cash-total")).to_have_text("0.00")
    page.fill("#id_deposit-amount", amount)
    page.fill("#id_deposit-reference", "bank slip 0001")
    # the deposit asks first, naming the amount and the account
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="存入", exact=True).click()
    page.wait_for_url(f"{base}/counter/{account}/")
    # the amount as the pages write amounts (typed "20000.00", asked "20,000.00")
    assert questions == [f"向 {account} 存入 {Decimal(amount):,.2f} 元？资金将立即入账，并记入账本。"]


def test_the_whole_path_register_approve_deposit_at_the_counter_and_buy(page: Page, live_server):
    # given a market maker asking 10.10 for 2,000 shares (bidding 9.90) in a risk-R3 security
    market = build_market()
    base = live_server.url
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=2000)
    code = market.security.code

    # and an investor who registered online and was approved by two staff members (A submits, B approves)
    investor = onboard_online(page, base, market)
    account = Account.objects.get(code=investor.account)
    assert cash_of(account).total == Decimal("0")

    # when staff member A deposits 20,000.00 for the investor at the counter
    counter_deposit(page, base, market.staff, investor.account, "20000.00")

    # then the counter shows the cash
    expect(page.locator(".msg-success")).to_have_text(
        f"已向 {investor.account} 存入 20,000.00 元；可用资金 20,000.00 元。"
    )
    expect(page.locator("#cash-total")).to_have_text("20,000.00")
    expect(page.locator("#cash-available")).to_have_text("20,000.00")
    expect(page.locator("#cash-reserved")).to_have_text("0.00")

    # when the investor logs in, opens the ticket from the market watch and buys 500 from the ask, IOC
    log_in(page, base, investor.username, investor.password)
    buy_500_from_the_ask_at_10_10(page, base, code, available="20,000.00")

    # then the order is filled against the quote and the trade is listed
    page.get_by_role("link", name="我的成交").click()
    trade_row = page.locator("#trades-table tbody tr")
    expect(trade_row).to_have_count(1)
    expect(trade_row.locator("td").nth(3)).to_have_text("买入")
    expect(trade_row.locator("td").nth(4)).to_have_text("10.10")
    expect(trade_row.locator("td").nth(5)).to_have_text("500")
    expect(trade_row.locator("td").nth(6)).to_have_text("5,050.00")
    expect(trade_row.locator("td").nth(7)).to_have_text("5.00")

    # and the price, the quantity and the minimum fee of 5.00 are reserved until settlement
    page.get_by_role("link", name="资产").click()
    expect(page.locator("#cash-total")).to_have_text("20,000.00")
    expect(page.locator("#cash-reserved")).to_have_text("5,055.00")
    expect(page.locator("#cash-available")).to_have_text("14,945.00")

    # and in the database: one trade between the investor and the market maker, at the quote's price
    trade = Trade.objects.get()
    assert (trade.buyer_id, trade.seller_id, trade.price, trade.quantity) == (
        account.pk,
        mm.pk,
        Decimal("10.10"),
        500,
    )
    order = Order.objects.get(account=account)
    assert (order.placed_by.username, order.status, order.filled_quantity) == (investor.username, "filled", 500)
    cash = cash_of(account)
    assert (cash.total, cash.reserved, cash.available) == (Decimal("20000.00"), Decimal("5055.00"), Decimal("14945.00"))
    deposits = AuditEvent.objects.filter(action="cash_deposit", target=investor.account)
    assert list(deposits.values_list("actor__username", "outcome")) == [(market.staff.username, "ok")]


def test_the_trading_pages_tell_an_investor_not_yet_approved_why_they_cannot_trade_and_the_way_on(
    page: Page, live_server
):
    # given an investor who has just registered online (not approved) and one who is approved
    market = build_market()
    base = live_server.url
    approved = market.investor(cash="50000")
    register_online(page, base, market, username="zhangwei", password="Kyc-pass-2026!")

    # when the new investor opens the order ticket, the requests for quote and the negotiated transfers
    # then each says up front that trading waits for the broker's approval, with a link to their KYC page
    # (found by a walk-through: the ticket said so only once a whole order was typed, with no way on)
    for path in (f"/orders/new/?security={market.security.code}", "/rfqs/", "/negotiated/"):
        page.goto(f"{base}{path}")
        notice = page.locator("#kyc-pending")
        expect(notice).to_be_visible()
        expect(notice.locator("a")).to_have_attribute("href", "/kyc/me/")
    page.locator("#kyc-pending a").click()
    page.wait_for_url(f"{base}/kyc/me/")
    expect(page.locator("#kyc-state")).to_have_text("草稿")

    # and an approved investor's pages say nothing of it; the forms are there for both
    log_in(page, base, approved.owner.username, STAFF_PASSWORD)
    for path in (f"/orders/new/?security={market.security.code}", "/rfqs/", "/negotiated/"):
        page.goto(f"{base}{path}")
        expect(page.locator("main form[method=post]").first).to_be_visible()
        expect(page.locator("#kyc-pending")).to_have_count(0)
    assert KycProfile.objects.get(user__username="zhangwei").state == KycProfile.State.DRAFT
