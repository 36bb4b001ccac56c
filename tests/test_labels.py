"""Codes that pages show are labels in the reader's language: ledger entry kinds, audit roles, actions
and outcomes (``core.labels``). The codes stay in data attributes and titles, the API and the exports."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from balances.services import cash_deposit
from core import labels
from core.audit import audit_record
from core.models import AuditEvent, Role
from ledger.models import Block, Entry, EntryKind
from ledger.services import block_seal
from tests.conftest import log_in


def test_every_entry_kind_has_a_label_in_both_languages():
    assert set(labels.ENTRY_KINDS) == set(EntryKind.values)
    with translation.override("zh-hans"):
        chinese = {code: labels.entry_kind_label(code) for code in EntryKind.values}
    assert (chinese["TRADE"], chinese["SETTLEMENT"], chinese["DEPOSIT"]) == ("成交", "交收", "存入")
    assert all(label != code and not label.isascii() for code, label in chinese.items()), chinese
    with translation.override("en"):
        assert labels.entry_kind_label("SETTLEMENT_HOLD") == "Settlement hold"
    assert labels.entry_kind_label("SOMETHING_NEW") == "SOMETHING_NEW"


def test_audit_labels_in_chinese():
    with translation.override("zh-hans"):
        assert labels.audit_action_label("kyc_approve") == "批准"
        assert labels.audit_action_label("login") == "登录"
        assert labels.role_label("broker_staff") == "券商柜台人员"
        assert (labels.outcome_label("ok"), labels.outcome_label("refused")) == ("完成", "已拒绝")
        assert all(not str(label).isascii() for label in labels.AUDIT_ACTIONS.values())


def page(user, language="zh-hans") -> Client:
    client = Client()
    log_in(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_the_audit_trail_shows_roles_actions_and_outcomes_as_words(market):
    # given a refused approval by broker staff
    audit_record(actor=market.staff, action="kyc_approve", outcome="refused", target="kyc 1")
    auditor = market.user(Role.AUDITOR)

    body = page(auditor).get("/audit/", {"action": "kyc_approve"}).content.decode()

    assert '<td title="kyc_approve"><span class="cell-text">批准</span></td>' in body
    assert '<td data-outcome="refused">已拒绝</td>' in body
    assert "<td>券商柜台人员</td>" in body and "<td>broker_staff</td>" not in body


def test_the_ledger_block_page_names_entry_kinds_in_the_readers_language(market):
    # given a sealed block with a deposit
    investor = market.investor()
    cash_deposit(actor=market.staff, account=investor, amount=Decimal("100"))
    block_seal()
    height = Block.objects.order_by("-height").values_list("height", flat=True).first()
    assert Entry.objects.filter(kind=EntryKind.DEPOSIT).exists()
    regulator = market.user(Role.REGULATOR)

    chinese = page(regulator).get(f"/ledger/blocks/{height}/").content.decode()
    english = page(regulator, "en").get(f"/ledger/blocks/{height}/").content.decode()

    assert '<td title="DEPOSIT">存入</td>' in chinese
    assert '<td title="DEPOSIT">Deposit</td>' in english


@pytest.fixture(autouse=True)
def _kyc(kyc_folders):
    return kyc_folders


def test_amount_and_shares_filters_group_by_thousands_in_both_languages():
    from django.template import Context, Template

    template = Template("{% load labels %}{{ v|amount }} / {{ n|shares }} / {{ none|amount }}.")
    for language in ("zh-hans", "en"):
        with translation.override(language):
            rendered = template.render(Context({"v": Decimal("12553137.5"), "n": 1_000_000, "none": None}))
        assert rendered == "12,553,137.50 / 1,000,000 / ."


def test_the_views_text_forms_are_one_set_of_functions():
    from core.money import amount_text, percent_text, shares_text
    from exchange.models import Order

    # given the values a page row holds, then each has one text in every language, and nothing for None
    assert (amount_text(Decimal("1234.5")), amount_text(7), amount_text(None)) == ("1,234.50", "7.00", "")
    assert (shares_text(1_000_000), shares_text(None)) == ("1,000,000", "")
    assert (percent_text(Decimal("10.00")), percent_text(Decimal("2.50")), percent_text(Decimal("5"))) == (
        "10",
        "2.5",
        "5",
    )
    with pytest.raises(TypeError):
        amount_text(1.5)  # a float reaching money code is a bug, on a page too
    # and a choice's label is in the reader's language, an unknown value shown as it is
    with translation.override("zh-hans"):
        assert labels.choice_label(Order.Side, "buy") == "买入"
    with translation.override("en"):
        assert labels.choice_label(Order.Side, "buy") == "Buy"
    assert labels.choice_label(Order.Side, "short") == "short"


def test_the_audit_trail_names_a_corrections_trade_as_the_trade(market):
    # (found by a walk: "Correction approved · 2" read as correction 2; the record names trade 2 by its bare number)
    from supervision import services as sv
    from tests.test_supervision import _settled_buy

    reg1, reg2, auditor = market.user(Role.REGULATOR), market.user(Role.REGULATOR), market.user(Role.AUDITOR)
    market.quote(market.market_maker(), "9.90", "10.10", bid_qty=5000, ask_qty=5000)
    trade = _settled_buy(market, market.investor(cash="50000"))
    # given a correction of the trade proposed and approved
    correction = sv.correction_propose(actor=reg1, trade_id=trade.pk, new_price="10.00", new_quantity=100, reason="x")
    sv.correction_approve(actor=reg2, correction_id=correction.pk)

    # when the auditor reads the trail in English, and one of its records
    body = page(auditor, "en").get("/audit/", {"action": "correction"}).content.decode()
    approve = AuditEvent.objects.get(action="correction_approve")
    record = page(auditor, "en").get(f"/audit/{approve.pk}/").content.decode()

    # then each record's object is the trade, in words, and the raw target stays in its title
    assert body.count(f'<td title="{trade.pk}"><span class="cell-text">Trade {trade.pk}</span></td>') == 2
    assert f'<dd>Trade {trade.pk} <span class="code-light">{trade.pk}</span></dd>' in record
    # and another action's bare number is shown as it is
    assert labels.audit_target_label("2", "cash_deposit") == "2"
