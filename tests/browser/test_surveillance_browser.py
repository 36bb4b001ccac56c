"""A regulator works a surveillance alert on its page: closes it with a note, reopens it with another, and reads
both in its history; the page passes axe at each step, in Chinese on a laptop and in English on a phone
(headless Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.models import AuditEvent, Role
from surveillance.models import Alert
from surveillance.services import rules_seed
from tests.browser.steps import log_in
from tests.browser.test_accessibility_browser import _violations
from tests.conftest import build_market
from tests.test_surveillance import wash_alert

pytestmark = pytest.mark.browser


def test_a_regulator_closes_and_reopens_an_alert_and_reads_its_history(page, live_server):
    # given a wash-trade alert, and a regulator on its page
    market = build_market()
    rules_seed()
    alert = wash_alert(market)
    regulator = market.user(Role.REGULATOR)
    log_in(page, live_server.url, regulator.username)
    page.goto(f"{live_server.url}/surveillance/alerts/{alert.pk}/")
    history = page.locator("#alert-history tbody tr")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("尚无人处理此预警。")
    found = _violations(page, "new alert")

    # when they close it with a note
    page.get_by_label("新状态").select_option("closed")
    page.get_by_label("说明（关闭时必填）").fill("同一家庭，已核实")
    page.get_by_role("button", name="保存").click()

    # then it is closed, its history has the step, and the page offers to reopen it instead of changing it
    expect(page.locator("#alert-state")).to_have_text("已关闭")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("同一家庭，已核实")
    expect(page.locator("#alert-change")).to_have_count(0)
    found += _violations(page, "closed alert")

    # when they reopen it, saying why
    page.get_by_label("重新打开的原因（必填）").fill("同一账户又有新成交")
    page.get_by_role("button", name="重新打开").click()

    # then it is under review again, and the history keeps both notes, oldest first
    expect(page.locator(".msg-success")).to_contain_text("预警已重新打开。")
    expect(page.locator("#alert-state")).to_have_text("核查中")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text("同一家庭，已核实")
    expect(history.nth(1)).to_contain_text("已关闭")
    expect(history.nth(1)).to_contain_text("同一账户又有新成交")
    found += _violations(page, "reopened alert")

    # and in English on a phone the history reads the same, without accessibility faults
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".langswitch button[value='en']").click()
    page.wait_for_load_state()
    expect(page.locator("#alert-history-title")).to_have_text("History")
    expect(history.nth(1)).to_contain_text("Closed")
    found += _violations(page, "reopened alert (en, phone)")
    assert not found, "\n".join(found)

    stored = Alert.objects.get(pk=alert.pk)
    assert (stored.state, stored.note) == ("under_review", "同一账户又有新成交")
    assert AuditEvent.objects.filter(action="alert_reopen", actor=regulator).count() == 1


def test_closing_an_alert_without_a_note_keeps_the_chosen_state_and_says_why_beside_the_note(page, live_server):
    # (found by a walk-through: the page came back with "keep the state" chosen again and the reason only at the top)
    # given a wash-trade alert, and a regulator on its page
    market = build_market()
    rules_seed()
    alert = wash_alert(market)
    events = alert.events.count()
    regulator = market.user(Role.REGULATOR)
    log_in(page, live_server.url, regulator.username)
    page.goto(f"{live_server.url}/surveillance/alerts/{alert.pk}/")

    # when they choose "closed" and save without a note
    page.get_by_label("新状态").select_option("closed")
    page.get_by_role("button", name="保存").click()

    # then the page says why beside the note, which it points to, and "closed" is still chosen
    note = page.get_by_label("说明（关闭时必填）")
    expect(page.locator("#alert-change-error")).to_have_text("关闭预警须填写说明。")
    expect(page.get_by_text("关闭预警须填写说明。")).to_have_count(1)  # once: not above the page again
    expect(note).to_have_attribute("aria-describedby", "alert-change-error")
    expect(note).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("新状态")).to_have_value("closed")
    # and nothing changed
    expect(page.locator("#alert-state")).to_have_text("新建")
    alert.refresh_from_db()
    assert alert.state == "new" and alert.events.count() == events

    # when they write the note and save again, then it is closed
    note.fill("同一家庭，已核实")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#alert-state")).to_have_text("已关闭")
