"""A regulator proposes a judicial freeze, a second regulator approves it, the investor's sale on the ticket is
refused with the freeze's reason; the freeze is released and the same sale trades; an auditor finds the
freeze's steps in the audit trail and downloads the account's evidence bundle, which the offline verifier
accepts (headless Chromium)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.models import Role
from ledger.services import block_seal
from supervision.models import Freeze
from tests.browser.steps import log_in
from tests.conftest import api_for, build_market, position_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser


def _sell_300_at_the_bid(page: Page, base: str, code: str) -> None:
    page.goto(f"{base}/orders/new/?security={code}")
    page.locator("#quote-book tr.bid.pick").first.click()  # takes the bid's price, side sell
    expect(page.locator("#id_limit_price")).to_have_value("9.90")
    page.fill("#id_quantity", "300")
    page.get_by_label("立即成交剩余撤销").check()
    page.locator("#review-order").click()
    # The review: refused by the rules (its reasons, no place button), or restated, then placed.
    expect(page.locator("#order-review, .form-errors").first).to_be_visible()
    if page.locator("#place-order").count():
        page.locator("#place-order").click()


def test_two_regulators_freeze_an_investors_shares_the_sale_is_refused_then_release_lets_it_trade(
    page: Page, browser, live_server, tmp_path
):
    # given a quoted security, an investor holding 500 shares, and two regulators in browsers of their own
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=1000)
    investor = market.investor(cash="1000", shares=500)
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    code, base = market.security.code, live_server.url
    first = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    second = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    for desk in (first, second):
        desk.on("dialog", lambda dialog: dialog.accept())  # the confirmation before an irreversible step
    log_in(first, base, reg1.username)
    log_in(second, base, reg2.username)

    # when the first regulator proposes a freeze of 400 shares on the console
    first.get_by_role("link", name="监管", exact=True).click()
    first.fill("#id_freeze-account", investor.code)
    first.locator('input[name="freeze-kind"][value="shares"]').check()
    first.fill("#id_freeze-security", code)
    first.fill("#id_freeze-quantity", "400")
    first.fill("#id_freeze-legal_reference", "(2026)沪74执保88号")
    first.fill("#id_freeze-reason", "Preservation order 88")
    first.get_by_role("button", name="提议冻结").click()
    expect(first.locator(".msg-success")).to_be_visible()
    freeze = Freeze.objects.get()
    row = first.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"]')
    expect(row.locator('[data-action="approve"]')).to_have_count(0)  # not for its proposer

    # and the second regulator approves it
    second.goto(f"{base}/supervision/")
    second.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"] [data-action="approve"]').click()
    expect(second.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"] .status')).to_have_text("有效")
    assert position_of(investor, market.security).frozen == 400

    # then the investor's sale of 300 (only 100 are free) is refused with the freeze's reason, nothing placed
    log_in(page, base, investor.owner.username)
    _sell_300_at_the_bid(page, base, code)
    expect(page.locator("main")).to_contain_text("Preservation order 88")
    page.goto(f"{base}/orders/")
    expect(page.locator("#orders-table tbody tr")).to_have_count(0)

    # when the first regulator releases the freeze, then the same sale trades
    first.goto(f"{base}/supervision/")
    release = first.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"]')
    release.locator('input[name="reason"]').fill("Order lifted")
    release.locator('[data-action="release"]').click()
    expect(release.locator(".status")).to_have_text("已解除")
    _sell_300_at_the_bid(page, base, code)
    page.wait_for_url(f"{base}/orders/")
    expect(page.locator(".msg-success")).to_contain_text("300")
    assert position_of(investor, market.security).frozen == 0
    first.context.close()
    second.context.close()

    # when an auditor looks for the account in the audit trail (the entries sealed meanwhile)
    block_seal()
    auditor = market.user(Role.AUDITOR)
    desk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    audit = desk.new_page()
    log_in(audit, base, auditor.username)
    audit.goto(f"{base}/audit/?target={investor.code}")

    # then the proposal, the approval and the release are there, each by its regulator
    # (each action named in words, its code in the row's data-action)
    for action, label, who in (
        ("freeze_propose", "冻结申请", reg1),
        ("freeze_approve", "冻结批准", reg2),
        ("freeze_release", "解除冻结", reg1),
    ):
        row = audit.locator(f'#audit-table tr[data-action="{action}"]').first
        assert label in row.inner_text() and who.username in row.inner_text()

    # and the account's evidence bundle, downloaded from the page, passes the offline verifier
    audit.fill('#evidence-form input[name="account"]', investor.code)
    with audit.expect_download() as download:
        audit.locator("#evidence-form").get_by_role("button").click()
    download.value.save_as(tmp_path / "bundle.json")
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    assert {"FREEZE", "UNFREEZE", "TRADE"} <= {e.get("kind") for e in bundle["entries"]}
    keys = api_for(auditor).get("/api/v1/ledger/keys/").json()
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    checked = subprocess.run(
        [sys.executable, str(ROOT / "ledger/verifier.py"), "evidence", "bundle.json", "--keys-file", "keys.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    desk.close()


def test_a_double_click_proposes_once_and_approves_once_asking_once_and_a_declined_question_leaves_the_form(
    page: Page, browser, live_server
):
    # given a regulator on the console with a freeze proposal filled in, and a second regulator
    market = build_market()
    investor = market.investor(cash="1000")
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    log_in(page, live_server.url, reg1.username)
    page.goto(f"{live_server.url}/supervision/")
    page.fill("#id_freeze-account", investor.code)
    page.locator('input[name="freeze-kind"][value="cash"]').check()
    page.fill("#id_freeze-amount", "100.00")
    page.fill("#id_freeze-legal_reference", "(2026)沪74执保89号")
    page.fill("#id_freeze-reason", "Preservation order 89")

    # when the proposal is double-clicked
    page.get_by_role("button", name="提议冻结").dblclick()
    expect(page.locator(".msg-success")).to_be_visible()

    # then one freeze is proposed
    assert Freeze.objects.count() == 1
    freeze = Freeze.objects.get()

    # and when the second regulator declines the approval's question, nothing is sent and the form stays to send
    second = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    asked = []
    second.on(
        "dialog", lambda dialog: (asked.append(dialog.message), dialog.accept() if len(asked) > 1 else dialog.dismiss())
    )
    log_in(second, live_server.url, reg2.username)
    second.goto(f"{live_server.url}/supervision/")
    approve = second.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"] [data-action="approve"]')
    approve.click()
    expect(second.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"] [data-action="approve"]')).to_be_visible()
    assert len(asked) == 1
    Freeze.objects.get(pk=freeze.pk, status=Freeze.Status.PROPOSED)

    # and when it double-clicks the approval, the question is asked once and the freeze approved once
    approve.dblclick()
    expect(second.locator(f'#freezes-table tr[data-freeze="{freeze.pk}"] .status')).to_have_text("有效")
    assert len(asked) == 2
    assert Freeze.objects.get(pk=freeze.pk).status == Freeze.Status.ACTIVE
    assert second.locator(".form-errors, .msg-error").count() == 0
