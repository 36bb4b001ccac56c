"""Standing settlement instructions (issue 11 item 5): an instruction holds the trades it matches, and no others,
before they settle; the held trade waits for release or refusal; PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from balances.replay import replay_check
from core import errors as err
from core.models import Account, AuditEvent, Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.api import may_read_entry
from ledger.canonical import encode
from ledger.models import Entry
from ledger.services import block_seal, entry_append
from ledger.verification import ledger_verify
from registry.models import Security
from settlement import instructions
from settlement.models import Settlement, SettlementAction, SettlementInstruction
from settlement.services import net_settle, trade_refuse, trade_release, trade_settle
from settlement.tasks import settle_trades, sweep
from tests.conftest import api_for, cash_of, log_in, position_of, snapshot

D = Decimal


def later(**kwargs) -> dt.datetime:
    return timezone.now() + dt.timedelta(**(kwargs or {"days": 1}))


def buy(market, investor, coid, *, security=None, quantity=100, price="10.10") -> Trade:
    order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest((security or market.security).code, "buy", quantity, D(price), "IOC", coid),
    )
    return Trade.objects.filter(buyer=investor).order_by("-id").first()


def instruct(actor, *, account=None, security=None, min_amount=None, reason="court enquiry 2026-7", ends_at=None):
    return instructions.instruction_create(
        actor=actor,
        account_code=account.code if account is not None else None,
        security_code=security.code if security is not None else None,
        min_amount=None if min_amount is None else D(min_amount),
        reason=reason,
        ends_at=ends_at or later(),
    )


def status(trade: Trade) -> str:
    return Trade.objects.get(pk=trade.pk).status


def hold_payloads() -> list[dict]:
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind="SETTLEMENT_HOLD").order_by("id").values_list("canonical", flat=True)
    ]


@pytest.fixture
def two_books(market):
    """A market maker quoting 9.90 / 10.10 in two securities, and two funded investors."""
    other = market.new_security(f"X{market.security.code}")
    mm = market.market_maker(cash="1000000", shares=10_000)
    market.issue(mm, 10_000, security=other)
    market.quote(mm, "9.90", "10.10")
    market.quote(mm, "9.90", "10.10", security=other)
    a = market.investor(cash="50000")
    b = market.investor(cash="50000")
    return market, other, mm, a, b


def settle_all(*trades) -> list[bool]:
    block_seal()
    return [trade_settle(trade_id=t.pk) for t in trades]


# --------------------------------------------------------------------------
# Each scope holds what it matches and not its twin


def test_an_account_instruction_holds_that_accounts_trades_and_not_another_accounts(two_books):
    market, other, _mm, a, b = two_books
    # given an instruction on a's account
    instruction = instruct(market.depository, account=a, reason="court enquiry 2026-7")
    ta, ta2, tb = buy(market, a, "a1"), buy(market, a, "a2", security=other), buy(market, b, "b1")

    # when the block settles
    assert settle_all(ta, ta2, tb) == [False, False, True]

    # then both of a's trades are held (any security), b's settled
    assert [status(t) for t in (ta, ta2, tb)] == ["held", "held", "settled"]
    assert hold_payloads() == [
        {
            "trade_id": t.pk,
            "security": s,
            "reason": "court enquiry 2026-7",
            "instruction": instruction.pk,
            "at": p["at"],
        }
        for t, s, p in zip((ta, ta2), (market.security.code, other.code), hold_payloads(), strict=True)
    ]
    actions = SettlementAction.objects.filter(instruction=instruction)
    assert sorted(actions.values_list("trade_id", flat=True)) == [ta.pk, ta2.pk]
    assert {a.actor_id for a in actions} == {market.depository.pk}
    # nothing moved for the held trades: a still has its cash reserved and no shares
    assert cash_of(a).reserved == D("2030.00") and position_of(a, market.security) is None


def test_a_regulators_instruction_holds_with_no_reason_on_the_ledger(two_books):
    # (found by a review: the hold's entry carried the regulator's reason, which the ledger's readers beyond the
    # instruction's (the exchange operator, replicas, the regulatory feed) may read)
    market, _other, _mm, a, _b = two_books
    instruction = instruct(market.user(Role.REGULATOR), account=a, reason="调查中 case 7")
    trade = buy(market, a, "a1")
    assert settle_all(trade) == [False]
    (payload,) = hold_payloads()
    assert payload == {
        "trade_id": trade.pk, "security": market.security.code, "reason": "", "instruction": instruction.pk,
        "at": payload["at"],
    }  # fmt: skip
    assert all("调查中".encode() not in bytes(c) for c in Entry.objects.values_list("canonical", flat=True))
    # and the action row keeps the reason, for those who read instructions
    assert SettlementAction.objects.get(instruction=instruction).reason == "调查中 case 7"


def test_an_account_instruction_on_the_seller_holds_its_sales_too(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    seller = market.investor(shares=1000)
    order_place(
        placed_by=seller.owner,
        account=seller,
        request=OrderRequest(market.security.code, "sell", 100, D("9.90"), "IOC", "s"),
    )
    instruct(market.depository, account=seller)
    trade = Trade.objects.get()
    assert settle_all(trade) == [False]
    assert status(trade) == "held"


def test_a_security_instruction_holds_that_securitys_trades_and_not_another_securitys(two_books):
    market, other, _mm, a, b = two_books
    instruct(market.depository, security=other)
    t1, t2, t3 = buy(market, a, "a1"), buy(market, a, "a2", security=other), buy(market, b, "b2", security=other)
    assert settle_all(t1, t2, t3) == [True, False, False]
    assert [status(t) for t in (t1, t2, t3)] == ["settled", "held", "held"]


@pytest.mark.parametrize(("min_amount", "held"), [("1010.00", True), ("1010.01", False), ("5.00", True)])
def test_an_amount_instruction_holds_trades_worth_at_least_its_amount(two_books, min_amount, held):
    market, _other, _mm, a, _b = two_books
    # given an instruction for trades worth at least min_amount, and a trade worth exactly 1010.00
    instruct(market.user(Role.REGULATOR), min_amount=min_amount)
    trade = buy(market, a, "a")
    # then it is held exactly when 1010.00 ≥ min_amount
    assert settle_all(trade) == [not held]
    assert status(trade) == ("held" if held else "settled")


def test_criteria_combine_with_and(two_books):
    market, other, _mm, a, b = two_books
    # given an instruction on a's trades in ``other`` worth at least 2000
    instruct(market.depository, account=a, security=other, min_amount="2000.00")
    small = buy(market, a, "small", security=other)  # 1010.00: too small
    big = buy(market, a, "big", security=other, quantity=200)  # 2020.00
    wrong_security = buy(market, a, "ws", quantity=200)
    wrong_account = buy(market, b, "wa", security=other, quantity=200)
    assert settle_all(small, big, wrong_security, wrong_account) == [True, False, True, True]
    assert SettlementAction.objects.get().trade_id == big.pk


def test_an_ended_or_expired_instruction_holds_nothing(two_books):
    market, _other, _mm, a, _b = two_books
    ended = instruct(market.depository, account=a)
    instructions.instruction_end(actor=market.user(Role.REGULATOR), instruction_id=ended.pk, reason="order lifted")
    expired = instruct(market.depository, account=a)
    past = timezone.now() - dt.timedelta(hours=2)
    SettlementInstruction.objects.filter(pk=expired.pk).update(created_at=past, ends_at=past + dt.timedelta(hours=1))
    trade = buy(market, a, "a")
    assert settle_all(trade) == [True]
    assert not SettlementAction.objects.exists()
    assert instructions.instruction_status(SettlementInstruction.objects.get(pk=ended.pk)) == "ended"
    assert instructions.instruction_status(SettlementInstruction.objects.get(pk=expired.pk)) == "expired"
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "settlement_instruction_create",
        "settlement_instruction_end",
    }


def test_a_settled_trade_is_never_touched(two_books):
    market, _other, _mm, a, _b = two_books
    trade = buy(market, a, "a")
    assert settle_all(trade) == [True]
    instruct(market.depository, account=a)
    before = snapshot()
    assert trade_settle(trade_id=trade.pk) is False
    assert snapshot() == before and not SettlementAction.objects.exists()


# --------------------------------------------------------------------------
# A held trade waits for release or refusal; retries change nothing


def test_a_held_trade_released_settles_once_and_is_not_held_again(two_books):
    market, _other, _mm, a, _b = two_books
    instruct(market.depository, account=a)
    trade = buy(market, a, "a")
    assert settle_all(trade) == [False]

    # retries (the task, the sweep, a second delivery) hold it once
    before = snapshot()
    assert settle_trades([trade.pk]) == 0
    assert sweep() == 0
    assert trade_settle(trade_id=trade.pk) is False
    assert snapshot() == before
    assert Entry.objects.filter(kind="SETTLEMENT_HOLD").count() == 1

    # when the depository releases it while the instruction is still active
    trade_release(actor=market.depository, trade_id=trade.pk, reason="checked: not the account in the order")

    # then it settles, once
    assert trade_settle(trade_id=trade.pk) is True
    assert trade_settle(trade_id=trade.pk) is False
    assert status(trade) == "settled"
    assert Settlement.objects.filter(trade=trade).count() == 1
    kinds = list(Entry.objects.filter(kind__startswith="SETTLEMENT").order_by("id").values_list("kind", flat=True))
    assert kinds == ["SETTLEMENT_INSTRUCTION", "SETTLEMENT_HOLD", "SETTLEMENT_RELEASE", "SETTLEMENT"]
    assert position_of(a, market.security).total == 100
    block_seal()
    assert ledger_verify().ok
    assert replay_check() == []
    call_command("ledger_replay", "--check")


def test_a_held_trade_refused_unwinds_both_sides(two_books):
    market, _other, mm, a, _b = two_books
    a_available = cash_of(a).available
    mm_reserved = position_of(mm, market.security).reserved
    instruct(market.depository, account=a)
    trade = buy(market, a, "a")
    settle_all(trade)

    trade_refuse(actor=market.depository, trade_id=trade.pk, reason="court order: refuse")

    assert status(trade) == "failed"
    assert cash_of(a).available == a_available and cash_of(a).reserved == 0
    # the market maker's 100 shares are free again (the quote itself was consumed by the fill)
    assert position_of(mm, market.security).reserved == mm_reserved - 100
    assert trade_settle(trade_id=trade.pk) is False
    block_seal()
    assert ledger_verify().ok
    assert replay_check() == []
    call_command("ledger_replay", "--check")


def test_the_database_refuses_a_second_instruction_hold_of_one_trade(two_books):
    market, _other, _mm, a, _b = two_books
    instruction = instruct(market.depository, account=a)
    trade = buy(market, a, "a")
    settle_all(trade)
    first = SettlementAction.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementAction.objects.create(
            trade=trade,
            action="hold",
            reason="again",
            actor=market.depository,
            entry=Trade.objects.get(pk=trade.pk).entry,
            at=timezone.now(),
            instruction=instruction,
        )
    assert list(SettlementAction.objects.all()) == [first]


# --------------------------------------------------------------------------
# Net mode: the held trade leaves the batch, the rest settle


def test_a_net_batch_settles_without_the_trade_an_instruction_holds(two_books):
    market, _other, mm, a, b = two_books
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    instruct(market.depository, account=a)
    ta, tb1, tb2 = buy(market, a, "a"), buy(market, b, "b1"), buy(market, b, "b2")
    block_seal()
    mm_cash = cash_of(mm).total

    result = net_settle(security_code=market.security.code)

    assert result.trades == 2
    assert [status(t) for t in (ta, tb1, tb2)] == ["held", "settled", "settled"]
    assert sorted(result.batch.settlements.values_list("trade_id", flat=True)) == [tb1.pk, tb2.pk]
    assert cash_of(mm).total == mm_cash + D("2020.00")
    assert cash_of(a).reserved == D("1015.00") and position_of(a, market.security) is None
    assert position_of(b, market.security).total == 200
    # a second window holds nothing more and settles nothing
    assert net_settle(security_code=market.security.code).trades == 0
    assert Entry.objects.filter(kind="SETTLEMENT_HOLD").count() == 1
    # released, the held trade settles in the next window
    trade_release(actor=market.depository, trade_id=ta.pk, reason="released")
    assert net_settle(security_code=market.security.code).trades == 1
    assert status(ta) == "settled"
    block_seal()
    assert ledger_verify().ok
    assert replay_check() == []


def test_a_net_window_of_held_trades_only_holds_them_and_writes_no_batch(two_books):
    market, _other, _mm, a, _b = two_books
    Security.objects.filter(pk=market.security.pk).update(settlement_mode=Security.SettlementMode.NET)
    instruct(market.depository, security=market.security)
    trade = buy(market, a, "a")
    block_seal()
    result = net_settle(security_code=market.security.code)
    assert (result.batch, result.trades) == (None, 0)
    assert status(trade) == "held" and not Entry.objects.filter(kind="SETTLEMENT").exists()


# --------------------------------------------------------------------------
# On the ledger: setting and ending an instruction each write one entry, of ids, codes and roles


def entries_of(kind: str) -> list[Entry]:
    return list(Entry.objects.filter(kind=kind).order_by("id"))


def payload_of(entry: Entry) -> dict:
    return json.loads(bytes(entry.canonical))["payload"]


def when(moment: dt.datetime) -> str:
    """A time as the ledger writes it."""
    return json.loads(encode(moment))


def test_setting_an_instruction_writes_one_entry_of_its_scope_and_role_and_not_its_reason(two_books):
    market, _other, _mm, a, _b = two_books
    regulator = market.user(Role.REGULATOR)
    ends_at = dt.datetime(2031, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    entries_before = Entry.objects.count()

    # when a regulator sets an instruction on a's trades in the security worth at least 2000 (the account code
    # typed as a person would), with a reason the investor must not learn
    instruction = instructions.instruction_create(
        actor=regulator,
        account_code=f" {a.code.lower()} ",
        security_code=market.security.code,
        min_amount=D("2000"),
        reason="调查中：疑似内幕交易 case 7",
        ends_at=ends_at,
    )

    # then one entry is written, SETTLEMENT_INSTRUCTION, which the row and the audit record name
    assert Entry.objects.count() == entries_before + 1
    [entry] = entries_of("SETTLEMENT_INSTRUCTION")
    instruction.refresh_from_db()
    assert (instruction.entry_id, instruction.end_entry_id) == (entry.pk, None)
    assert entry.recorded_at == instruction.created_at
    # and it says which instruction, its scope (codes, the amount in yuan and fen), its end and the role that set
    # it: no user name, no reason
    assert payload_of(entry) == {
        "instruction": instruction.pk,
        "account": a.code,
        "security": market.security.code,
        "min_amount": "2000.00",
        "until": "2031-03-01T01:30:00.000000Z",
        "set_by_role": "regulator",
        "at": when(instruction.created_at),
    }
    data = bytes(entry.canonical).decode()
    assert "调查中" not in data and "case 7" not in data and regulator.username not in data
    record = AuditEvent.objects.get(action="settlement_instruction_create")
    assert (record.target, record.detail["entry"], record.detail["account"]) == (
        f"instruction {instruction.pk}",
        entry.pk,
        a.code,
    )
    assert record.detail["reason"] == "调查中：疑似内幕交易 case 7"  # the audit trail keeps it
    # and the investor may not read the entry (its inclusion only), a supervisor may
    assert not may_read_entry(a.owner, entry.pk)
    assert may_read_entry(market.depository, entry.pk)


def test_ending_an_instruction_writes_one_entry_of_the_role_that_ended_it_and_not_its_reason(two_books):
    market, _other, _mm, a, _b = two_books
    instruction = instruct(market.depository, account=a)
    regulator = market.user(Role.REGULATOR)
    entries_before = Entry.objects.count()
    (set_entry,) = entries_of("SETTLEMENT_INSTRUCTION")
    set_bytes = bytes(set_entry.canonical)

    # when a regulator ends the depository's instruction early
    instructions.instruction_end(actor=regulator, instruction_id=instruction.pk, reason="court order 19 lifted")

    # then one entry is written, SETTLEMENT_INSTRUCTION_END, naming the instruction, the role and the time only
    assert Entry.objects.count() == entries_before + 1
    [entry] = entries_of("SETTLEMENT_INSTRUCTION_END")
    instruction.refresh_from_db()
    assert (instruction.entry_id, instruction.end_entry_id) == (set_entry.pk, entry.pk)
    assert payload_of(entry) == {
        "instruction": instruction.pk,
        "ended_by_role": "regulator",
        "at": when(instruction.ended_at),
    }
    assert "court order" not in bytes(entry.canonical).decode()
    assert AuditEvent.objects.get(action="settlement_instruction_end").detail == {
        "reason": "court order 19 lifted",
        "entry": entry.pk,
    }
    # and the instruction's first entry is as it was
    assert bytes(Entry.objects.get(pk=set_entry.pk).canonical) == set_bytes


def test_a_refused_instruction_or_end_writes_no_entry(two_books):
    market, _other, _mm, a, _b = two_books
    regulators = instruct(market.user(Role.REGULATOR), account=a)
    ended = instruct(market.depository, account=a)
    instructions.instruction_end(actor=market.depository, instruction_id=ended.pk, reason="lifted")
    before = (snapshot(), list(SettlementInstruction.objects.values()), AuditEvent.objects.count())

    fee_account = Account.objects.filter(kind=Account.Kind.FEE).first()  # never a party to a trade
    # when an instruction is set by a role that may not, or with bad input (a fee account, found by a walk: it was
    # set and held nothing), or ended by one that may not, twice, or not there at all
    refused = [
        (err.PermissionDenied, lambda: instruct(market.user(Role.EXCHANGE_OPERATOR), account=a)),
        (err.PermissionDenied, lambda: instruct(a.owner, account=a)),
        (instructions.InstructionNoCriterion, lambda: instruct(market.depository)),
        (instructions.InstructionEndNotFuture, lambda: instruct(market.depository, account=a, ends_at=later(days=-1))),
        (instructions.InstructionAmountNotPositive, lambda: instruct(market.depository, min_amount="0")),
        (
            instructions.UnknownAccount,
            lambda: instructions.instruction_create(
                actor=market.depository,
                account_code="INV999999",
                security_code=None,
                min_amount=None,
                reason="r",
                ends_at=later(),
            ),
        ),
        (
            instructions.InstructionFeeAccount,
            lambda: instructions.instruction_create(
                actor=market.depository,
                account_code=fee_account.code.lower(),
                security_code=None,
                min_amount=None,
                reason="r",
                ends_at=later(),
            ),
        ),
        (
            err.PermissionDenied,
            lambda: instructions.instruction_end(actor=market.depository, instruction_id=regulators.pk, reason="r"),
        ),
        (
            instructions.InstructionNotActive,
            lambda: instructions.instruction_end(actor=market.depository, instruction_id=ended.pk, reason="r"),
        ),
        (err.NotFound, lambda: instructions.instruction_end(actor=market.depository, instruction_id=0, reason="r")),
    ]
    for error, attempt in refused:
        with pytest.raises(error):
            attempt()

    # then no entry is written, and no instruction, audit record or balance changed
    assert (snapshot(), list(SettlementInstruction.objects.values()), AuditEvent.objects.count()) == before
    assert [len(entries_of(k)) for k in ("SETTLEMENT_INSTRUCTION", "SETTLEMENT_INSTRUCTION_END")] == [2, 1]


# --------------------------------------------------------------------------
# ledger_verify compares every instruction with its entries


def test_the_database_refuses_an_instruction_on_a_fee_account_whatever_writes_it(market):
    # given an instruction of the depository on an investor's account (the service refuses a fee account's)
    investor = market.investor()
    instruction = instruct(market.depository, account=investor)
    fee = Account.objects.get(kind=Account.Kind.FEE, broker=investor.broker)
    before = (SettlementInstruction.objects.filter(pk=instruction.pk).values().get(), snapshot())

    # when a raw update moves it to the broker's fee account, or a raw insert names one
    with pytest.raises(IntegrityError) as moved, transaction.atomic():
        SettlementInstruction.objects.filter(pk=instruction.pk).update(account=fee)
    row = SettlementInstruction.objects.filter(pk=instruction.pk).values().get()
    del row["id"], row["entry_id"]
    with pytest.raises(IntegrityError) as inserted, transaction.atomic():
        SettlementInstruction.objects.create(**(row | {"account_id": fee.pk, "entry": Entry.objects.last()}))

    # then PostgreSQL refuses both, naming the rule, and the instruction and the balances are as they were
    assert [e.value.__cause__.diag.constraint_name for e in (moved, inserted)] == ["instruction_no_fee_account"] * 2
    assert (SettlementInstruction.objects.filter(pk=instruction.pk).values().get(), snapshot()) == before
    assert SettlementInstruction.objects.count() == 1


@pytest.fixture
def instructed(two_books, monkeypatch):
    """Three instructions, sealed: one of the depository on a's account, one of a regulator on the other security
    worth at least 2000, and one ended early; the ledger verifies, by the fast pass alone."""
    from ledger import verification

    market, other, _mm, a, b = two_books
    on_a = instruct(market.depository, account=a)
    on_other = instruct(market.user(Role.REGULATOR), security=other, min_amount="2000.00")
    ended = instructions.instruction_end(
        actor=market.depository, instruction_id=instruct(market.depository, account=b).pk, reason="lifted"
    )
    block_seal()
    with monkeypatch.context() as m:
        m.setattr(verification, "verify_chain", lambda *a, **k: pytest.fail("the full walk ran on a sound ledger"))
        report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
    return market, other, a, b, on_a, on_other, ended


def _changed(instruction: SettlementInstruction, **fields) -> None:
    """A row rewritten behind the services' back (the database's own constraints still hold)."""
    SettlementInstruction.objects.filter(pk=instruction.pk).update(**fields)


@pytest.mark.parametrize(
    ("which", "change", "fields"),
    [
        ("on_a", lambda ctx: {"account": ctx["b"]}, "account"),
        ("on_a", lambda ctx: {"security": ctx["other"]}, "security"),
        ("on_other", lambda ctx: {"min_amount": D("20000.00")}, "min_amount"),
        ("on_other", lambda ctx: {"ends_at": later(days=3650)}, "until"),
        ("on_a", lambda ctx: {"set_by_role": Role.REGULATOR}, "set_by_role"),
        ("on_a", lambda ctx: {"created_at": timezone.now() - dt.timedelta(days=1)}, "at"),
    ],
    ids=["account", "security", "min_amount", "until", "set_by_role", "at"],
)
def test_an_instruction_row_that_disagrees_with_its_entry_is_named(instructed, which, change, fields):
    market, other, a, b, on_a, on_other, ended = instructed
    instruction = {"on_a": on_a, "on_other": on_other}[which]
    ctx = {"b": b, "other": other, "regulator": market.user(Role.REGULATOR)}

    # when a row is rewritten
    _changed(instruction, **change(ctx))

    # then verification names the instruction and its entry, for the field that differs
    report = ledger_verify()
    assert [(p.entry_id, p.message) for p in report.problems] == [
        (instruction.entry_id, f"settlement instruction {instruction.pk} differs from its entry in {fields}")
    ]
    assert report.first.block is not None


def test_an_ended_instruction_made_active_again_is_named_by_its_end_entry(instructed):
    _market, _other, _a, _b, _on_a, _on_other, ended = instructed

    # when the end of an instruction is wiped from its row (end entry and all: the constraints hold), so that it
    # would hold trades again
    _changed(ended, ended_at=None, ended_by=None, ended_by_role="", end_reason="", end_entry=None)

    # then verification names the end entry left without its row
    report = ledger_verify()
    assert [(p.entry_id, p.message) for p in report.problems] == [
        (ended.end_entry_id, "SETTLEMENT_INSTRUCTION_END entry without its ended instruction row")
    ]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (lambda ctx: {"ended_by_role": Role.REGULATOR}, "ended_by_role"),
        (lambda ctx: {"ended_at": timezone.now() + dt.timedelta(hours=1)}, "at"),
    ],
    ids=["ended_by_role", "at"],
)
def test_an_instruction_whose_end_disagrees_with_its_end_entry_is_named(instructed, change, fields):
    market, *_rest, ended = instructed

    # when the end of an instruction is rewritten
    _changed(ended, **change({"regulator": market.user(Role.REGULATOR)}))

    # then verification names its end entry, for the field that differs
    assert [(p.entry_id, p.message) for p in ledger_verify().problems] == [
        (ended.end_entry_id, f"the end of settlement instruction {ended.pk} differs from its entry in {fields}")
    ]


def test_an_instruction_written_without_the_service_is_named(instructed):
    market, _other, a, *_rest = instructed
    deposit = Entry.objects.filter(kind="DEPOSIT").order_by("id").first()

    # when an instruction row is written straight into the table, pointed at an entry of another kind (every row
    # must have one), and holds a's trades
    forged = SettlementInstruction.objects.create(
        account=a,
        reason="r",
        created_by=market.depository,
        set_by_role=Role.DEPOSITORY_OPERATOR,
        created_at=timezone.now(),
        ends_at=later(),
        entry=deposit,
    )
    assert settle_all(buy(market, a, "forged")) == [False]

    # then verification names it and the entry it points at
    assert [(p.entry_id, p.message) for p in ledger_verify().problems] == [
        (deposit.pk, f"settlement instruction {forged.pk} has no sealed SETTLEMENT_INSTRUCTION entry")
    ]


@pytest.mark.django_db(transaction=True)
def test_processes_reading_chunks_in_parallel_verify_the_instructions_and_name_a_rewritten_one(monkeypatch):
    from ledger import fast_verification, verification
    from tests.conftest import build_market

    # given committed instructions, one set and one ended, sealed, read in chunks of two leaves by three processes
    market = build_market()
    on_a = instruct(market.depository, account=market.investor())
    instructions.instruction_end(
        actor=market.user(Role.REGULATOR),
        instruction_id=instruct(market.depository, security=market.security).pk,
        reason="lifted",
    )
    while block_seal() is not None:
        pass
    monkeypatch.setattr(fast_verification, "MIN_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "MAX_LEVEL", 1)
    monkeypatch.setattr(fast_verification, "_cores", lambda: 3)

    # when the command's verification runs with the full walk forbidden, then the fast pass alone says OK
    with monkeypatch.context() as forbidden:
        forbidden.setattr(verification, "verify_chain", lambda *a, **k: pytest.fail("the full walk ran"))
        report = ledger_verify(parallel=True)
    assert report.ok, [str(p) for p in report.problems]

    # and once an instruction's end is moved ten years on, it is named
    _changed(on_a, ends_at=later(days=3650))
    assert [(p.entry_id, p.message) for p in ledger_verify(parallel=True).problems] == [
        (on_a.entry_id, f"settlement instruction {on_a.pk} differs from its entry in until")
    ]


# --------------------------------------------------------------------------
# API: roles, inputs, list


def body(**over) -> dict:
    return {"min_amount": "1000.00", "reason": "surveillance case 12", "ends_at": later().isoformat(), **over}


def _user(market, role):
    return market.depository if role == Role.DEPOSITORY_OPERATOR else market.user(role)


@pytest.mark.parametrize("role", sorted(Role.values))
def test_only_depository_operators_and_regulators_set_and_end_instructions(market, role):
    existing = instruct(market.depository, security=market.security)
    client = api_for(_user(market, role))
    before = (snapshot(), list(SettlementInstruction.objects.values()))

    created = client.post("/api/v1/settlement-instructions/", body(), format="json")
    ended = client.post(f"/api/v1/settlement-instructions/{existing.pk}/end/", {"reason": "done"}, format="json")
    listed = client.get("/api/v1/settlement-instructions/")

    if role in (Role.DEPOSITORY_OPERATOR, Role.REGULATOR):
        assert created.status_code == 201 and created.json()["status"] == "active"
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
    else:
        for response in (created, ended):
            assert response.status_code == 403 and response.json()["code"] == "permission_denied"
        assert (snapshot(), list(SettlementInstruction.objects.values())) == before
    if role in (Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR):
        assert listed.status_code == 200
    else:
        assert listed.status_code == 403 and listed.json()["code"] == "permission_denied"


def test_an_auditor_ending_an_instruction_is_told_who_ends_them_not_who_sets_them(market):
    # (found by a probe: the refusal of an end said "only depository operators and regulators set settlement
    # instructions")
    existing = instruct(market.depository, security=market.security)
    before = (snapshot(), list(SettlementInstruction.objects.values()))

    ended = api_for(market.user(Role.AUDITOR)).post(
        f"/api/v1/settlement-instructions/{existing.pk}/end/",
        {"reason": "done"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert ended.status_code == 403 and ended.json() == {
        "code": "permission_denied",
        "message": "Only depository operators and regulators end settlement instructions.",
    }
    assert (snapshot(), list(SettlementInstruction.objects.values())) == before


@pytest.mark.parametrize(
    ("over", "status_code", "code"),
    [
        ({"min_amount": None}, 400, "instruction_no_criterion"),
        ({"min_amount": "", "account": "", "security": ""}, 400, "invalid_input"),
        ({"ends_at": "2020-01-01T00:00:00+08:00"}, 400, "instruction_end_not_future"),
        ({"ends_at": "tomorrow"}, 400, "invalid_input"),
        ({"account": "NOPE-1"}, 404, "unknown_account"),
        ({"security": "NOPE"}, 404, "unknown_security"),
        ({"min_amount": "-5.00"}, 400, "invalid_input"),
        ({"min_amount": "0"}, 400, "invalid_input"),
        ({"min_amount": 1000.5}, 400, "invalid_input"),
        ({"min_amount": "1" * 30}, 400, "invalid_input"),
        ({"reason": "x" * 501}, 400, "invalid_input"),
        ({"reason": "   "}, 400, "invalid_input"),
        ({"amount": "5.00"}, 400, "invalid_input"),
    ],
)
def test_bad_instructions_are_4xx_and_change_nothing(market, over, status_code, code):
    client = api_for(market.depository)
    before = (snapshot(), AuditEvent.objects.exclude(outcome="refused").count())
    response = client.post("/api/v1/settlement-instructions/", body(**over), format="json")
    assert response.status_code == status_code, response.content
    assert response.json()["code"] == code and response.json()["message"]
    # nothing changed; only the refusal is on the audit trail (core.audit.refusal_audited)
    assert (snapshot(), AuditEvent.objects.exclude(outcome="refused").count()) == before
    assert not SettlementInstruction.objects.exists()


def test_the_service_refuses_what_the_api_would(market):
    csd = market.depository
    with pytest.raises(instructions.InstructionNoCriterion):
        instruct(csd)
    with pytest.raises(instructions.InstructionAmountNotPositive):
        instruct(csd, min_amount="-1")
    with pytest.raises(instructions.InstructionEndNotFuture):
        instruct(csd, security=market.security, ends_at=timezone.now())
    with pytest.raises(err.ReasonTooLong):
        instruct(csd, security=market.security, reason="x" * 501)
    with pytest.raises(err.PermissionDenied):
        instruct(market.user(Role.EXCHANGE_OPERATOR), security=market.security)
    assert not SettlementInstruction.objects.exists()


def test_the_database_refuses_an_instruction_without_a_criterion_or_ending_before_it_starts(market):
    now = timezone.now()
    entry = entry_append(kind="SETTLEMENT_INSTRUCTION", payload={})
    common = {
        "reason": "r",
        "created_by": market.depository,
        "set_by_role": Role.DEPOSITORY_OPERATOR,
        "created_at": now,
        "entry": entry,
    }
    for fields in ({"ends_at": later()}, {"security": market.security, "ends_at": now}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SettlementInstruction.objects.create(**common, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementInstruction.objects.create(**common, ends_at=later(), min_amount=D("-1"))
    # nor one without its entry, nor one ended without its end entry (or with one, not ended)
    end_entry = entry_append(kind="SETTLEMENT_INSTRUCTION_END", payload={})
    ended = {"ended_at": now, "ended_by": market.depository, "ended_by_role": Role.DEPOSITORY_OPERATOR}
    for fields in (
        {**common, "entry": None},
        {**common, **ended, "end_reason": "lifted"},
        {**common, "end_entry": end_entry},
        # nor one set, or ended, by a role that sets none, or ended with no role recorded
        {**common, "set_by_role": Role.EXCHANGE_OPERATOR},
        {**common, **ended, "end_reason": "lifted", "end_entry": end_entry, "ended_by_role": Role.AUDITOR},
        {**common, **ended, "end_reason": "lifted", "end_entry": end_entry, "ended_by_role": ""},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            SettlementInstruction.objects.create(**fields, security=market.security, ends_at=later())
    assert not SettlementInstruction.objects.exists()


def test_ending_twice_or_an_unknown_instruction_is_refused(market):
    client = api_for(market.depository)
    instruction = instruct(market.depository, security=market.security)
    assert client.post(f"/api/v1/settlement-instructions/{instruction.pk}/end/", {}, format="json").status_code == 400
    ok = client.post(f"/api/v1/settlement-instructions/{instruction.pk}/end/", {"reason": "lifted"}, format="json")
    assert ok.status_code == 200
    again = client.post(f"/api/v1/settlement-instructions/{instruction.pk}/end/", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "instruction_not_active"
    missing = client.post("/api/v1/settlement-instructions/999999/end/", {"reason": "x"}, format="json")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    ended = SettlementInstruction.objects.get()
    assert (ended.end_reason, ended.ended_by_id) == ("lifted", market.depository.pk)


def _instruction_state() -> tuple:
    """What ending an instruction would change: the instructions, the audit trail (but for the record of a refused
    attempt, ``core.audit.refusal_audited``), the business tables."""
    done = AuditEvent.objects.exclude(outcome="refused").count()
    return list(SettlementInstruction.objects.order_by("id").values()), done, snapshot()


def test_a_depository_operator_cannot_end_a_regulators_instruction_by_the_api(two_books):
    market, _other, _mm, a, _b = two_books
    # given a regulator's instruction holding a's trades
    regulator = market.user(Role.REGULATOR)
    instruction = instruct(regulator, account=a, reason="调查中 hold investor4")
    before = _instruction_state()

    # when a depository operator ends it
    response = api_for(market.depository).post(
        f"/api/v1/settlement-instructions/{instruction.pk}/end/",
        {"reason": "looks fine"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    # then it is refused, saying who may end it, and nothing changed: the instruction still holds a's trades
    assert response.status_code == 403, response.content
    assert response.json() == {
        "code": "permission_denied",
        "message": f"A regulator set settlement instruction {instruction.pk}: only a regulator may end it.",
    }
    assert _instruction_state() == before
    # (the attempt is on the audit trail as refused)
    refused = AuditEvent.objects.get(outcome="refused")
    assert (refused.actor_id, refused.detail["code"]) == (market.depository.pk, "permission_denied")
    trade = buy(market, a, "a1")
    assert settle_all(trade) == [False] and status(trade) == "held"
    # and the service refuses it too
    with pytest.raises(err.PermissionDenied):
        instructions.instruction_end(actor=market.depository, instruction_id=instruction.pk, reason="r")


def test_the_role_that_set_an_instruction_ends_it_and_a_regulator_ends_any(market):
    regulator, other_regulator = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    other_csd = market.user(Role.DEPOSITORY_OPERATOR)
    by_csd = [instruct(market.depository, security=market.security) for _ in range(2)]
    by_regulator = instruct(regulator, security=market.security)

    # another depository operator ends the depository's; a regulator ends the depository's and another
    # regulator's
    ended = [
        api_for(user).post(f"/api/v1/settlement-instructions/{i.pk}/end/", {"reason": "lifted"}, format="json")
        for user, i in ((other_csd, by_csd[0]), (regulator, by_csd[1]), (other_regulator, by_regulator))
    ]

    assert [(r.status_code, r.json()["status"], r.json()["ended_by_role"]) for r in ended] == [
        (200, "ended", "depository_operator"),
        (200, "ended", "regulator"),
        (200, "ended", "regulator"),
    ]
    assert [r.json()["set_by_role"] for r in ended] == ["depository_operator", "depository_operator", "regulator"]


def test_an_instruction_stays_whose_it_was_when_its_setter_changes_role(two_books):
    # (found by a review: whose instruction it was, and so who reads its reason and who ends it, was read from the
    # setter's role now, though its entry records the role they set it in)
    market, _other, _mm, a, _b = two_books
    regulator = market.user(Role.REGULATOR)
    instruction = instruct(regulator, account=a, reason="调查中 case 7")
    ended = instructions.instruction_end(
        actor=regulator, instruction_id=instruct(regulator, account=a).pk, reason="lifted"
    )
    trade = buy(market, a, "a1")
    assert settle_all(trade) == [False]

    # when the regulator becomes a depository operator
    type(regulator).objects.filter(pk=regulator.pk).update(role=Role.DEPOSITORY_OPERATOR)

    # then the instruction is still the regulator's: its parties are not told its reason, in the API and on its
    # hold; the list says who set and ended it in the roles they had; a depository operator may not end it
    instruction = instructions.instructions_listed().get(pk=instruction.pk)
    assert instructions.instruction_setter(instruction) == "regulator"
    assert not instructions.instruction_may_end(market.depository, instruction)
    detail = api_for(a.owner).get(f"/api/v1/trades/{trade.pk}/").json()
    assert [(x["reason"], x["standing_instruction_by"]) for x in detail["lifecycle"]["actions"]] == [
        (None, "regulator")
    ]
    rows = {r["id"]: r for r in api_for(market.depository).get("/api/v1/settlement-instructions/").json()["results"]}
    assert [(rows[i.pk]["set_by_role"], rows[i.pk]["ended_by_role"]) for i in (instruction, ended)] == [
        ("regulator", None),
        ("regulator", "regulator"),
    ]
    # and the ledger, sealed, still verifies: the rows agree with the roles their entries recorded
    block_seal()
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def test_the_list_shows_active_and_ended_instructions_with_the_trades_each_held(two_books):
    market, _other, _mm, a, b = two_books
    client = api_for(market.user(Role.AUDITOR))
    regulator = market.user(Role.REGULATOR)
    response = api_for(regulator).post(
        "/api/v1/settlement-instructions/", body(account=a.code, min_amount=None), format="json"
    )
    held_by = response.json()["id"]
    other = instruct(market.depository, account=b)
    settle_all(buy(market, a, "a1"), buy(market, a, "a2", quantity=200))
    instructions.instruction_end(actor=market.depository, instruction_id=other.pk, reason="lifted")

    page = client.get("/api/v1/settlement-instructions/").json()

    assert page["count"] == 2
    rows = {r["id"]: r for r in page["results"]}
    assert rows[held_by] | {"created_at": None, "ends_at": None} == {
        "id": held_by,
        "account": a.code,
        "security": None,
        "min_amount": None,
        "reason": "surveillance case 12",
        "status": "active",
        "created_by": regulator.username,
        "set_by_role": "regulator",
        "created_at": None,
        "ends_at": None,
        "ended_at": None,
        "ended_by": None,
        "ended_by_role": None,
        "end_reason": "",
        "held_trades": 2,
    }
    assert (rows[other.pk]["status"], rows[other.pk]["held_trades"]) == ("ended", 0)
    assert rows[other.pk]["ended_by"] == market.depository.username


# --------------------------------------------------------------------------
# The settlement monitor page


def test_the_depository_sets_and_ends_an_instruction_on_the_monitor(client, two_books):
    market, _other, _mm, a, _b = two_books
    log_in(client, market.depository)
    page = client.get("/settlement/")
    assert page.status_code == 200 and b'id="instruction-form"' in page.content

    response = client.post(
        "/settlement/instructions/",
        {"account": a.code, "security": "", "min_amount": "", "reason": "court 9", "ends_at": "2099-01-01T09:30"},
    )
    assert response.status_code == 302
    instruction = SettlementInstruction.objects.get()
    assert instruction.account == a
    assert instruction.ends_at == dt.datetime(2099, 1, 1, 1, 30, tzinfo=dt.UTC)  # 09:30 Beijing time
    page = client.get("/settlement/")
    assert f'data-instruction="{instruction.pk}"'.encode() in page.content

    response = client.post(f"/settlement/instructions/{instruction.pk}/end/", {"reason": "lifted"})
    assert response.status_code == 302
    assert instructions.instruction_status(SettlementInstruction.objects.get()) == "ended"


def test_a_depository_operator_cannot_end_a_regulators_instruction_on_the_monitor(client, market):
    # given a regulator's instruction and one of the depository's
    mine = instruct(market.depository, security=market.security)
    theirs = instruct(market.user(Role.REGULATOR), security=market.security, reason="调查中 hold investor4")
    log_in(client, market.depository)

    # the monitor offers the depository operator to end its own, not the regulator's
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'action="/settlement/instructions/{mine.pk}/end/"' in page
    assert f'action="/settlement/instructions/{theirs.pk}/end/"' not in page
    assert "Set by a regulator: only a regulator ends it." in page

    # when the depository operator posts the end of the regulator's anyway
    before = _instruction_state()
    url = f"/settlement/instructions/{theirs.pk}/end/"
    english = client.post(url, {"reason": "looks fine"}, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.post(url, {"reason": "looks fine"}, HTTP_ACCEPT_LANGUAGE="zh-hans")

    # then it is a 403 page saying why, in the page's language, and nothing changed
    assert (english.status_code, chinese.status_code) == (403, 403)
    assert f"A regulator set settlement instruction {theirs.pk}: only a regulator may end it." in (
        english.content.decode()
    )
    assert f"交收指令 {theirs.pk} 由监管人员设置：只有监管人员可以结束它。" in chinese.content.decode()
    assert _instruction_state() == before
    assert instructions.instruction_status(SettlementInstruction.objects.get(pk=theirs.pk)) == "active"


END_REASON_MISSING = {"en": "Give a reason for ending it.", "zh-hans": "请填写结束原因。"}
END_REASON_TOO_LONG = {"en": "The reason is longer than 500 characters.", "zh-hans": "原因不能超过 500 个字符。"}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    ("body", "says"),
    [({}, END_REASON_MISSING), ({"reason": "   "}, END_REASON_MISSING), ({"reason": "x" * 501}, END_REASON_TOO_LONG)],
    ids=["no reason field", "blank", "too long"],
)
def test_ending_an_instruction_without_a_reason_on_the_monitor_names_the_field(client, market, language, body, says):
    # (found by a probe: with the browser's required check removed, the monitor said "This field is required.",
    # naming no field)
    instruction = instruct(market.depository, security=market.security)
    log_in(client, market.depository)
    before = _instruction_state()

    # when the depository operator posts the end of its instruction without a reason
    response = client.post(f"/settlement/instructions/{instruction.pk}/end/", body, HTTP_ACCEPT_LANGUAGE=language)

    # then the monitor comes back (400) saying the reason for ending it is missing, next to that row's reason field
    # and above, in the page's language
    assert response.status_code == 400
    page = response.content.decode()
    missing = says[language]
    row = _row(page, "data-instruction", instruction.pk)
    field = row[row.index('<input name="reason"') : row.index("</form>")]
    assert 'aria-invalid="true"' in field and f'aria-describedby="end-reason-{instruction.pk}-error"' in field
    assert f'<div class="field-errors" id="end-reason-{instruction.pk}-error"><p class="error">{missing}</p>' in field
    top = {"en": f"Instruction {instruction.pk}: {missing}", "zh-hans": f"指令 {instruction.pk}：{missing}"}
    assert top[language] in page and "This field" not in page and "该字段" not in page and "Ensure" not in page
    # and nothing changed: the instruction is still active
    assert _instruction_state() == before
    assert instructions.instruction_status(SettlementInstruction.objects.get(pk=instruction.pk)) == "active"
    # and only the row whose end was refused shows the error
    other = instruct(market.depository, account=market.investor(cash="1"))
    response = client.post(f"/settlement/instructions/{other.pk}/end/", body, HTTP_ACCEPT_LANGUAGE=language)
    page = response.content.decode()
    assert "field-errors" in _row(page, "data-instruction", other.pk)
    assert "field-errors" not in _row(page, "data-instruction", instruction.pk)


def test_the_monitors_form_addresses_lead_to_the_monitor_when_reloaded(client, market):
    # (a refused end or instruction comes back at its POST address: the language switch reloads it with a GET,
    # which was a 405)
    instruction = instruct(market.depository, security=market.security)
    log_in(client, market.depository)
    before = _instruction_state()
    for path in (f"/settlement/instructions/{instruction.pk}/end/", "/settlement/instructions/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/settlement/")
    assert _instruction_state() == before
    # and for a role that sets no instructions, still refused
    log_in(client, market.investor(cash="1").owner)
    assert client.get("/settlement/instructions/").status_code in (302, 403)


@pytest.mark.parametrize(
    ("language", "message"), [("en", "reason: This field is required."), ("zh-hans", "reason: 该字段是必填项。")]
)
def test_ending_an_instruction_without_a_reason_by_the_api_names_the_field(market, language, message):
    instruction = instruct(market.depository, security=market.security)
    before = _instruction_state()

    response = api_for(market.depository).post(
        f"/api/v1/settlement-instructions/{instruction.pk}/end/", {}, format="json", HTTP_ACCEPT_LANGUAGE=language
    )

    assert (response.status_code, response.json()["code"], response.json()["message"]) == (
        400,
        "invalid_input",
        message,
    )
    assert list(response.json()["fields"]) == ["reason"]
    assert _instruction_state() == before


@pytest.mark.parametrize(
    ("role", "says"),
    [
        (Role.DEPOSITORY_OPERATOR, "Shown to the investors whose trades it holds"),
        (Role.REGULATOR, "Not shown to the investors whose trades it holds"),
    ],
)
def test_the_instruction_form_says_whether_the_investors_are_shown_its_reason(client, market, role, says):
    log_in(client, _user(market, role))
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    form = page[page.index('id="instruction-form"') : page.index("</form>", page.index('id="instruction-form"'))]
    assert says in form and 'aria-describedby="id_reason_helptext"' in form
    assert "a regulator's reason is not shown to them." in page


def _rows(page: str, attribute: str) -> list[int]:
    return [int(n) for n in re.findall(rf'{attribute}="(\d+)"', page)]


def _row(page: str, attribute: str, pk: int) -> str:
    start = page.index(f'{attribute}="{pk}"')
    return page[start : page.index("</tr>", start)]


def _beijing(moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def test_the_monitor_shows_the_recently_ended_instructions_with_who_set_and_ended_them(client, market):
    regulator = market.user(Role.REGULATOR)
    # given an instruction of the depository that a regulator ended, one of a regulator that expired an hour
    # ago, one ended eight days ago, and one still active
    ended = instruct(market.depository, security=market.security, reason="court 9")
    ended = instructions.instruction_end(actor=regulator, instruction_id=ended.pk, reason="order lifted")
    expired = instruct(regulator, security=market.security, reason="调查中 case 4")
    past = timezone.now() - dt.timedelta(hours=2)
    SettlementInstruction.objects.filter(pk=expired.pk).update(created_at=past, ends_at=past + dt.timedelta(hours=1))
    old = instruct(market.depository, security=market.security, reason="old case")
    instructions.instruction_end(actor=market.depository, instruction_id=old.pk, reason="long done")
    long_ago = timezone.now() - dt.timedelta(days=8)
    SettlementInstruction.objects.filter(pk=old.pk).update(created_at=long_ago, ended_at=long_ago)
    active = instruct(market.depository, security=market.security)
    log_in(client, market.user(Role.AUDITOR))
    before = _instruction_state()

    # when an auditor opens the monitor
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # then the active one is in the active table, and the two that ended recently, latest first, in a section of
    # their own with who set them, who ended them (nobody, for the expired one), when and why
    assert _rows(page, "data-instruction") == [active.pk]
    assert _rows(page, "data-ended-instruction") == [ended.pk, expired.pk]
    assert "Ended in the last 7 days" in page
    row = _row(page, "data-ended-instruction", ended.pk)
    for text in (
        "court 9",
        f'{market.depository.username} <span class="muted">(Depository operator)</span>',
        f'{regulator.username} <span class="muted">(Regulator)</span>',
        _beijing(ended.ended_at),
        "order lifted",
    ):
        assert text in row, text
    row = _row(page, "data-ended-instruction", expired.pk)
    for text in (
        "调查中 case 4",
        f"{regulator.username} <span",
        _beijing(past + dt.timedelta(hours=1)),
        "Nobody: it expired",
    ):
        assert text in row, text
    # and reading the page changed nothing
    assert _instruction_state() == before


@pytest.mark.parametrize(
    "over",
    [
        {"account": "", "min_amount": ""},
        {"ends_at": "2001-01-01T09:30"},
        {"account": "NOPE-1"},
        {"min_amount": "-3"},
        {"reason": "x" * 501},
    ],
)
def test_a_bad_instruction_form_shows_its_error_and_changes_nothing(client, market, over):
    log_in(client, market.depository)
    form = {"account": "", "security": "", "min_amount": "500", "reason": "r", "ends_at": "2099-01-01T09:30"}
    before = snapshot()
    response = client.post("/settlement/instructions/", {**form, **over})
    assert response.status_code == 400
    # the error beside its field, or above the form when it is about the whole instruction
    assert b'class="field-errors"' in response.content or b'class="form-errors"' in response.content
    assert snapshot() == before and not SettlementInstruction.objects.exists()


@pytest.mark.parametrize("role", [Role.EXCHANGE_OPERATOR, Role.AUDITOR, Role.BROKER_STAFF])
def test_others_cannot_set_instructions_on_the_page(client, market, role):
    log_in(client, market.user(role, broker=market.broker) if role == Role.BROKER_STAFF else market.user(role))
    form = {"security": market.security.code, "reason": "r", "ends_at": "2099-01-01T09:30"}
    assert client.post("/settlement/instructions/", form).status_code == 403
    assert not SettlementInstruction.objects.exists()


def test_the_monitor_data_carries_the_pending_and_held_lists(client, two_books):
    market, _other, _mm, a, b = two_books
    instruct(market.depository, account=a)
    held, pending = buy(market, a, "a"), buy(market, b, "b")
    settle_all(held)
    log_in(client, market.depository)
    data = client.get("/settlement/data/").json()
    assert f'data-trade="{held.pk}"' in data["held_html"]
    assert f'data-trade="{pending.pk}"' in data["pending_html"]
    assert data["held"] == 1 and data["pending_key"].startswith(f"{pending.pk}:")


def _settle_queries(trade) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert trade_settle(trade_id=trade.pk) is True
    return len(queries)


def test_instructions_cost_a_gross_settlement_no_extra_query(two_books):
    market, other, _mm, a, b = two_books
    # given a trade settled with no instruction at all, and its twin settled beside three that do not match it
    t1, t2 = buy(market, a, "a"), buy(market, b, "b")
    block_seal()
    without = _settle_queries(t1)
    instruct(market.depository, account=a)
    instruct(market.depository, security=other)
    instruct(market.depository, min_amount="5000.00")
    # then the instructions are checked inside the statement that locks the trade
    assert _settle_queries(t2) == without


def test_the_monitor_writes_an_instructions_minimum_trade_value_as_every_amount(client, market):
    # (found by a walk-through: the minimum read "1000000.00" where every other amount reads "1,000,000.00")
    # given an instruction with a minimum trade value, active, and another ended
    active = instruct(market.depository, min_amount="1000000")
    ended = instruct(market.depository, min_amount="250000.5")
    instructions.instruction_end(actor=market.depository, instruction_id=ended.pk, reason="done")
    log_in(client, market.depository)
    before = _instruction_state()

    # when the depository opens the monitor
    page = client.get("/settlement/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # then both minimums are written with thousands separators and two decimals, and nothing changed
    assert "1,000,000.00" in _row(page, "data-instruction", active.pk)
    assert "1000000.00" not in _row(page, "data-instruction", active.pk)
    assert "250,000.50" in _row(page, "data-ended-instruction", ended.pk)
    assert _instruction_state() == before


def test_an_unknown_account_is_named_in_the_refusal(market):
    # (found by a walk: "No account has that code." here, where a freeze's or a transfer's form names the code)
    before = snapshot()
    response = api_for(market.depository).post(
        "/api/v1/settlement-instructions/", body(account="inv999999"), format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert (response.status_code, response.json()) == (
        404,
        {"code": "unknown_account", "message": "No such account: INV999999."},
    )
    assert snapshot() == before and not SettlementInstruction.objects.exists()
