"""Upgrading an exchange whose standing settlement instructions were set before they went on the ledger (settlement
0005): each gets its entries, written from its row, so that ``ledger_verify`` checks every row alike."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.models import AuditEvent, Role
from ledger.canonical import encode
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from settlement.models import SettlementInstruction
from tests.conftest import build_market

BEFORE = [("settlement", "0004_settlement_instructions")]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kyc_folders")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _leaves():
    """Every app's latest migration: the schema the rest of the suite expects."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _when(moment: dt.datetime) -> str:
    return json.loads(encode(moment))


def test_the_upgrade_writes_the_entries_of_the_instructions_set_before_it():
    # given a market, and the schema before instructions had entries, with two instructions: the depository's on
    # an account and a minimum amount, still active; a regulator's on a security, ended early by a regulator
    market = build_market()
    investor = market.investor()
    regulator = market.user(Role.REGULATOR)
    now = timezone.now()
    old = _migrate(BEFORE)
    try:
        Instruction = old.get_model("settlement", "SettlementInstruction")
        active = Instruction.objects.create(
            account_id=investor.pk,
            min_amount=Decimal("2000.00"),
            reason="court enquiry 2026-7",
            created_by_id=market.depository.pk,
            created_at=now - dt.timedelta(days=2),
            ends_at=now + dt.timedelta(days=30),
        )
        ended = Instruction.objects.create(
            security_id=market.security.pk,
            reason="调查中 case 7",
            created_by_id=regulator.pk,
            created_at=now - dt.timedelta(days=3),
            ends_at=now + dt.timedelta(days=30),
            ended_at=now - dt.timedelta(days=1),
            ended_by_id=regulator.pk,
            end_reason="closed",
        )
        entries_before = Entry.objects.count()
    finally:
        # when the exchange migrates
        upgraded_at = timezone.now()
        _migrate(_leaves())

    # then each instruction has its SETTLEMENT_INSTRUCTION entry, the ended one its SETTLEMENT_INSTRUCTION_END
    # too, recorded at the upgrade and saying what the row says, without its reasons
    active, ended = (SettlementInstruction.objects.get(pk=i.pk) for i in (active, ended))
    assert Entry.objects.count() == entries_before + 3
    assert active.end_entry_id is None

    def written(entry_id: int) -> tuple[str, dict]:
        entry = Entry.objects.get(pk=entry_id)
        assert entry.recorded_at >= upgraded_at
        data = bytes(entry.canonical).decode()
        assert "court enquiry" not in data and "调查中" not in data and "closed" not in data
        return entry.kind, json.loads(data)["payload"]

    assert written(active.entry_id) == (
        "SETTLEMENT_INSTRUCTION",
        {
            "instruction": active.pk,
            "account": investor.code,
            "security": None,
            "min_amount": "2000.00",
            "until": _when(active.ends_at),
            "set_by_role": "depository_operator",
            "at": _when(active.created_at),
        },
    )
    assert written(ended.entry_id) == (
        "SETTLEMENT_INSTRUCTION",
        {
            "instruction": ended.pk,
            "account": None,
            "security": market.security.code,
            "min_amount": None,
            "until": _when(ended.ends_at),
            "set_by_role": "regulator",
            "at": _when(ended.created_at),
        },
    )
    assert written(ended.end_entry_id) == (
        "SETTLEMENT_INSTRUCTION_END",
        {"instruction": ended.pk, "ended_by_role": "regulator", "at": _when(ended.ended_at)},
    )
    # and no audit record was written or changed; the ledger, sealed, verifies
    assert not AuditEvent.objects.filter(action__startswith="settlement_instruction").exists()
    assert block_seal() is not None
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def test_back_and_forth_over_the_upgrade_takes_up_the_entries_already_written():
    # (found by a review: the reversal drops the columns and keeps the entries, and running the upgrade again wrote
    # second entries, leaving the first without their rows: ledger_verify failed for good)
    from settlement import instructions

    market = build_market()
    investor = market.investor()
    kept = instructions.instruction_create(
        actor=market.depository, account_code=investor.code, security_code=None, min_amount=None,
        reason="enquiry", ends_at=timezone.now() + dt.timedelta(days=3),
    )  # fmt: skip
    ended = instructions.instruction_create(
        actor=market.depository, account_code=None, security_code=market.security.code, min_amount=None,
        reason="checking", ends_at=timezone.now() + dt.timedelta(days=3),
    )  # fmt: skip
    instructions.instruction_end(actor=market.depository, instruction_id=ended.pk, reason="done")
    block_seal()
    assert ledger_verify().ok
    entries_before = list(Entry.objects.order_by("id").values_list("id", flat=True))
    # when the upgrade is reversed and run again
    leaves = _leaves()
    try:
        _migrate([("settlement", "0004_settlement_instructions")])
    finally:
        _migrate(leaves)
    # then no entry was written, each row points at its entries again, and the ledger verifies
    assert list(Entry.objects.order_by("id").values_list("id", flat=True)) == entries_before
    assert SettlementInstruction.objects.get(pk=kept.pk).entry_id == kept.entry_id
    assert SettlementInstruction.objects.get(pk=ended.pk).end_entry_id is not None
    block_seal()
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]


def test_the_upgrade_records_the_roles_of_the_entries_not_the_users_roles_now():
    # given instructions set before their rows kept the roles (settlement 0007): a regulator's, ended early by a
    # regulator, and a depository operator's, with their entries (0005 writes them from the rows as they stand)
    market = build_market()
    regulator = market.user(Role.REGULATOR)
    now = timezone.now()
    old = _migrate(BEFORE)
    try:
        Instruction = old.get_model("settlement", "SettlementInstruction")
        common = {"security_id": market.security.pk, "created_at": now - dt.timedelta(days=3)}
        regulators = Instruction.objects.create(
            **common,
            reason="调查中 case 7",
            created_by_id=regulator.pk,
            ends_at=now + dt.timedelta(days=30),
            ended_at=now - dt.timedelta(days=1),
            ended_by_id=regulator.pk,
            end_reason="closed",
        )
        depositorys = Instruction.objects.create(
            **common, reason="r", created_by_id=market.depository.pk, ends_at=now + dt.timedelta(days=30)
        )
        _migrate([("settlement", "0006_settlement_instruction_entry_required")])
        # and the regulator is an auditor now
        type(regulator).objects.filter(pk=regulator.pk).update(role=Role.AUDITOR)
    finally:
        # when the exchange migrates
        _migrate(_leaves())

    # then each row keeps the roles its entries recorded: the regulator's instruction is still a regulator's
    regulators, depositorys = (SettlementInstruction.objects.get(pk=i.pk) for i in (regulators, depositorys))
    assert (regulators.set_by_role, regulators.ended_by_role) == (Role.REGULATOR, Role.REGULATOR)
    assert (depositorys.set_by_role, depositorys.ended_by_role) == (Role.DEPOSITORY_OPERATOR, "")
    # and the ledger, sealed, verifies
    assert block_seal() is not None
    report = ledger_verify()
    assert report.ok, [str(p) for p in report.problems]
