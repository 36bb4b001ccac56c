"""Upgrading an exchange whose alerts were worked before their history was kept (surveillance 0004, 0005): each
step is recovered from the audit trail, with the note it wrote."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("surveillance", "0003_split_view_rule")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_the_upgrade_recovers_each_alerts_history_from_the_audit_trail():
    # given the schema before the history was kept: two regulators worked an alert, as alert_change did then
    # (the alert's note overwritten, each change an audit record); another alert was never worked
    old = _migrate(BEFORE)
    try:
        User, AuditEvent = old.get_model("core", "User"), old.get_model("core", "AuditEvent")
        Rule, Alert = old.get_model("surveillance", "Rule"), old.get_model("surveillance", "Alert")
        first = User.objects.create(username="reg1", role="regulator")
        second = User.objects.create(username="reg2", role="regulator")
        now, (rule, _made) = timezone.now(), Rule.objects.get_or_create(code="wash_trade")  # (gone after a flush)
        worked = Alert.objects.create(rule=rule, block_height=1, key="trade:1", created_at=now, updated_at=now)
        untouched = Alert.objects.create(rule=rule, block_height=1, key="trade:2", created_at=now, updated_at=now)
        for actor, before, after in [
            (first, ("new", ""), ("under_review", "Asked the broker")),
            (second, ("under_review", "Asked the broker"), ("under_review", "Asked the broker")),  # moved nothing
            (second, ("under_review", "Asked the broker"), ("under_review", "Broker: same family")),
            (first, ("under_review", "Broker: same family"), ("closed", "Broker: same family")),  # closed, same note
        ]:
            AuditEvent.objects.create(
                actor=actor,
                actor_username=actor.username,
                action="alert_change",
                target=f"alert:{worked.pk}",
                detail={
                    "before": {"state": before[0], "note": before[1]},
                    "after": {"state": after[0], "note": after[1]},
                },
            )
        Alert.objects.filter(pk=worked.pk).update(state="closed", note="Broker: same family", updated_by=first)
        AuditEvent.objects.create(actor=first, action="alert_change", target=f"alert:{worked.pk}", outcome="refused")
    finally:
        # when the exchange migrates
        new = _migrate(_leaves())

    # then the worked alert's history is its three steps, each with its note, author and time, oldest first
    AlertEvent, AuditEvent = new.get_model("surveillance", "AlertEvent"), new.get_model("core", "AuditEvent")
    steps = list(
        AlertEvent.objects.filter(alert_id=worked.pk)
        .order_by("id")
        .values_list("from_state", "to_state", "note", "by__username")
    )
    assert steps == [
        ("new", "under_review", "Asked the broker", "reg1"),
        ("under_review", "under_review", "Broker: same family", "reg2"),
        ("under_review", "closed", "Broker: same family", "reg1"),
    ]
    times = list(AlertEvent.objects.filter(alert_id=worked.pk).order_by("id").values_list("at", flat=True))
    recorded = list(AuditEvent.objects.filter(target=f"alert:{worked.pk}", outcome="ok").order_by("id"))
    assert times == [recorded[0].at, recorded[2].at, recorded[3].at]  # not the record that moved nothing
    # and the alert nobody worked has none
    assert not AlertEvent.objects.filter(alert_id=untouched.pk).exists()


def test_the_upgrade_counts_every_block_sealed_before_it_as_scanned():
    # given blocks sealed by an exchange before the sweep of lost scans (surveillance 0006)
    from ledger.models import Block
    from ledger.services import block_seal
    from tests.conftest import build_market

    build_market()
    assert block_seal() is not None
    heights = list(Block.objects.order_by("height").values_list("height", flat=True))
    assert heights
    _migrate([("surveillance", "0005_alert_history_from_audit")])
    # when the exchange migrates
    new = _migrate(_leaves())
    # then each of them counts as scanned, with its seal's time, and the sweep has nothing to rescan
    ScannedBlock = new.get_model("surveillance", "ScannedBlock")
    assert list(ScannedBlock.objects.order_by("height").values_list("height", flat=True)) == heights
    sealed = dict(Block.objects.values_list("height", "sealed_at"))
    assert all(row.scanned_at == sealed[row.height] for row in ScannedBlock.objects.all())
