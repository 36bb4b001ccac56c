"""Surveillance writes: the engine over a sealed block, the regulator's work on alerts and on the rules.

* ``block_scan`` runs every enabled rule over one sealed block and writes what they find as alerts, in one
  transaction under a per-block advisory lock. ``(rule, block_height, key)`` is unique, and a finding whose
  key already has an open alert of the same rule from an earlier block (a holder cap still near its limit)
  adds nothing: running a block twice, or concurrently, writes each alert once. Two blocks scanned at once
  that find one key (a lasting condition, in consecutive blocks) take its rule's lock (``SCAN_KEY_LOCK``, the
  rules in one order) before they look for its open alert: the second finds the first's, and adds nothing.
* ``alert_change`` (regulators): new → under review → closed; closing needs a note; a closed alert stays
  closed until ``alert_reopen`` (regulators, a note required) takes it back to under review; reopening an
  alert that is not closed is refused. ``rule_change`` (regulators): switch a rule, edit its thresholds
  (validated, ``rules.thresholds_checked``); a change that leaves the rule as it is is refused
  (``RuleUnchanged``) and writes nothing.
  Each change is an audit record in the same transaction; each change of an alert is also a step of its
  history (``AlertEvent``, append-only), so an earlier note is never lost when ``Alert.note`` takes the
  latest. A change that changes nothing (the same state, no note) is refused (``AlertUnchanged``) and writes
  nothing, as the alert page refuses an empty save: a caller is told, rather than answered as if it had worked.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core import errors as err
from core.audit import audit_record
from core.models import Role, User
from exchange.models import Trade
from ledger.models import Block, EntryKind, Leaf
from registry.models import Disclosure

from . import rules
from .models import Alert, AlertEvent, Rule, ScannedBlock

NOTE_MAX_LENGTH = 2000

AlertNotFound = err.error_class("AlertNotFound", "alert_not_found", _("No such alert."), 404)
RuleNotFound = err.error_class("RuleNotFound", "rule_not_found", _("No such surveillance rule."), 404)
AlertClosed = err.error_class(
    "AlertClosed", "alert_closed", _("The alert is closed: reopen it, with a note, to work on it again."), 409
)
AlertNotClosed = err.error_class(
    "AlertNotClosed", "alert_not_closed", _("Only a closed alert can be reopened; this one is open."), 409
)
UnknownAlertState = err.error_class(
    "UnknownAlertState", "unknown_alert_state", _("The state is one of new, under_review, closed.")
)
AlertBackwards = err.error_class(
    "AlertBackwards", "alert_backwards", _("An alert moves on only: new, then under review, then closed."), 409
)
# Where an alert may go from each state (itself: a note added, the state kept).
FORWARD = {
    Alert.State.NEW: {Alert.State.NEW, Alert.State.UNDER_REVIEW, Alert.State.CLOSED},
    Alert.State.UNDER_REVIEW: {Alert.State.UNDER_REVIEW, Alert.State.CLOSED},
}
NoteRequired = err.error_class("NoteRequired", "note_required", _("Closing an alert needs a note."))
ReopenNoteRequired = err.error_class(
    "ReopenNoteRequired", "note_required", _("Reopening an alert needs a note saying why.")
)
AlertUnchanged = err.error_class(
    "AlertUnchanged", "alert_unchanged", _("Send a note, or a new state, or both: nothing was changed.")
)
RuleUnchanged = err.error_class(
    "RuleUnchanged",
    "rule_unchanged",
    _("Send enabled, or thresholds, or both, with a value the rule does not have yet: nothing was changed."),
)
NoteTooLong = err.error_class("NoteTooLong", "note_too_long", _("The note is longer than 2000 characters."))

# Advisory lock namespace of the engine (with the block height as the second key).
SCAN_LOCK = 0x5355
# Advisory lock namespace of a rule's findings that another block can find too ("SUK", with the rule's id).
SCAN_KEY_LOCK = 0x53554B


def _require_regulator(actor: User) -> None:
    if actor.role != Role.REGULATOR:
        raise err.PermissionDenied(gettext("Only regulators work on surveillance alerts and rules."))


def _scan_of(block: Block) -> rules.Scan:
    previous = Block.objects.filter(height=block.height - 1).values_list("sealed_at", flat=True).first()
    trades = list(
        Trade.objects.filter(entry__leaf__block_id=block.height)
        .select_related("security", "buyer", "seller")
        .order_by("id")
    )
    disclosures = list(
        Disclosure.objects.filter(entry__leaf__block_id=block.height, entry__kind=EntryKind.DISCLOSURE).order_by("id")
    )
    return rules.Scan(
        height=block.height,
        sealed_at=block.sealed_at,
        previous_sealed_at=previous,
        trades=trades,
        disclosures=disclosures,
    )


def block_scan(*, height: int) -> int:
    """Run the enabled rules over block ``height``; the number of alerts written (0 on a re-run)."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SCAN_LOCK, height])
        block = Block.objects.filter(height=height).first()
        if block is None:
            return 0
        scan = _scan_of(block)
        now = timezone.now()
        written = 0
        found: list[tuple[Rule, rules.Finding]] = []
        for rule in Rule.objects.filter(enabled=True).order_by("id"):
            check = rules.RULES.get(rule.code)
            if check is not None:
                found += [(rule, f) for f in check(scan, rules.thresholds_checked(rule.code, rule.thresholds))]
        # The per-block lock does not keep out the scan of another block finding the same key (a holder cap near
        # its limit in two consecutive blocks, scanned by two workers): each looked for the other's open alert
        # before either had committed, and both raised one (found by forcing the interleaving). So the lock of each
        # rule that found a key another block can find too is taken, in the rules' order, before its open alerts
        # are looked for; a lock held by a scan that committed its alerts is released with them, and the look that
        # follows sees them. A rule's, not a key's: a block of thousands of trades at the band's edge took a lock
        # a trade, and PostgreSQL's shared lock table (64 a connection) ran out for every transaction (found by a
        # review). A trade's key is never another block's (a trade is sealed once): it needs none.
        with connection.cursor() as cur:
            for rule_id in sorted({rule.pk for rule, finding in found if not finding.key.startswith("trade:")}):
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SCAN_KEY_LOCK, rule_id])
        for rule, finding in found:
            open_elsewhere = (
                Alert.objects.filter(rule=rule, key=finding.key)
                .exclude(block_height=height)
                .exclude(state=Alert.State.CLOSED)
                .exists()
            )
            if open_elsewhere:
                continue
            leaves = sorted(
                Leaf.objects.filter(entry__trade__id__in=finding.trade_ids).values_list("leaf_index", flat=True)
            )
            _alert, created = Alert.objects.get_or_create(
                rule=rule,
                block_height=height,
                key=finding.key,
                defaults={
                    "security_id": finding.security_id,
                    "accounts": finding.accounts,
                    "trades": finding.trade_ids,
                    "leaves": leaves,
                    "detail": finding.detail,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            written += created
        ScannedBlock.objects.bulk_create([ScannedBlock(height=height, scanned_at=now)], ignore_conflicts=True)
        return written


# The sweep leaves a block this long to the scan task its seal queued, and looks this far back below the highest
# block scanned: a lost scan is found within a sweep or two, and the look stays one short index range however
# long the ledger (a block missed further back, while the sweep itself did not run, is left: docs/operations.md).
SWEEP_GRACE_SECONDS = 30
SWEEP_WINDOW_BLOCKS = 50_000
SWEEP_BATCH = 100


def missed_scan(*, batch: int = SWEEP_BATCH) -> int:
    """Scan the sealed blocks whose scan was lost (beat's safety net beside the task each seal queues): those
    sealed over ``SWEEP_GRACE_SECONDS`` ago, within ``SWEEP_WINDOW_BLOCKS`` of the highest scanned, with no
    ``ScannedBlock``, lowest first, at most ``batch``. The number of blocks scanned."""
    top = ScannedBlock.objects.order_by("-height").values_list("height", flat=True).first() or 0
    due = timezone.now() - dt.timedelta(seconds=SWEEP_GRACE_SECONDS)
    heights = list(
        Block.objects.filter(height__gte=max(0, top - SWEEP_WINDOW_BLOCKS), sealed_at__lt=due)
        .exclude(height__in=ScannedBlock.objects.filter(height__gte=max(0, top - SWEEP_WINDOW_BLOCKS)).values("height"))
        .order_by("height")
        .values_list("height", flat=True)[:batch]
    )
    for height in heights:
        block_scan(height=height)
    return len(heights)


def _note_checked(note: str | None, *, required: bool, missing: type[err.DomainError] = NoteRequired) -> str:
    note = (note or "").strip()
    if required and not note:
        raise missing()
    if len(note) > NOTE_MAX_LENGTH:
        raise NoteTooLong()
    return note


def _alert_locked(alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise AlertNotFound()
    return alert


def _alert_step(*, alert: Alert, actor: User, action: str, to_state: str, note: str, ip: str | None) -> None:
    """Write one step of ``alert`` (locked): its row, its history event and its audit record, in the caller's
    transaction. ``Alert.note`` keeps the latest note; the event keeps every one."""
    now = timezone.now()
    before = {"state": alert.state, "note": alert.note}
    AlertEvent.objects.create(alert=alert, from_state=alert.state, to_state=to_state, note=note, by=actor, at=now)
    alert.state = to_state
    if note:
        alert.note = note
    alert.updated_at, alert.updated_by = now, actor
    alert.save(update_fields=["state", "note", "updated_at", "updated_by"])
    audit_record(
        actor=actor,
        action=action,
        target=f"alert:{alert.pk}",
        ip=ip,
        detail={"before": before, "after": {"state": alert.state, "note": alert.note}},
    )


def alert_change(
    *, actor: User, alert_id: int, state: str | None, note: str | None = None, ip: str | None = None
) -> Alert:
    """Move an alert on (or add a note): forward only (new → under review → closed); closing needs a note, and a
    closed alert is not changed again (``alert_reopen`` reopens it). The same state and no note: refused
    (``AlertUnchanged``), nothing written."""
    _require_regulator(actor)
    if state is not None and state not in Alert.State.values:
        raise UnknownAlertState()
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.state == Alert.State.CLOSED:
            raise AlertClosed()
        new_state = state or alert.state
        if new_state not in FORWARD[alert.state]:
            raise AlertBackwards()
        text = _note_checked(note, required=new_state == Alert.State.CLOSED)
        if new_state == alert.state and not text:
            raise AlertUnchanged()
        _alert_step(alert=alert, actor=actor, action="alert_change", to_state=new_state, note=text, ip=ip)
        return alert


def alert_reopen(*, actor: User, alert_id: int, note: str | None, ip: str | None = None) -> Alert:
    """Reopen a closed alert, back to under review, with a note saying why (regulators). An alert that is not
    closed is refused (``AlertNotClosed``) and left as it is."""
    _require_regulator(actor)
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.state != Alert.State.CLOSED:
            raise AlertNotClosed()
        text = _note_checked(note, required=True, missing=ReopenNoteRequired)
        _alert_step(
            alert=alert, actor=actor, action="alert_reopen", to_state=Alert.State.UNDER_REVIEW, note=text, ip=ip
        )
        return alert


def rule_change(
    *,
    actor: User,
    code: str,
    enabled: bool | None = None,
    thresholds: dict | None = None,
    ip: str | None = None,
) -> Rule:
    """Switch a rule on or off and/or replace its thresholds (all of them, validated). Nothing to change (neither
    given, or both as the rule has them): refused (``RuleUnchanged``), nothing written."""
    _require_regulator(actor)
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(code=code).first()
        if rule is None:
            raise RuleNotFound()
        checked = rules.thresholds_checked(rule.code, thresholds) if thresholds is not None else rule.thresholds
        before = {"enabled": rule.enabled, "thresholds": rule.thresholds}
        if enabled is not None:
            rule.enabled = enabled
        rule.thresholds = checked
        if {"enabled": rule.enabled, "thresholds": rule.thresholds} == before:
            raise RuleUnchanged()
        rule.updated_at, rule.updated_by = timezone.now(), actor
        rule.save(update_fields=["enabled", "thresholds", "updated_at", "updated_by"])
        audit_record(
            actor=actor,
            action="surveillance_rule_change",
            target=rule.code,
            ip=ip,
            detail={"before": before, "after": {"enabled": rule.enabled, "thresholds": rule.thresholds}},
        )
        return rule


def witness_refused(witness: str, height: int, status: int, split_view: bool) -> None:
    """A ``ledger.hooks.after_witness_refusal`` hook: a witness refused a checkpoint the exchange signed. Only a
    split view (or a fork) is the regulator's business: one alert per witness and block, in the refusal's
    transaction."""
    if not split_view:
        return
    rule = Rule.objects.filter(code=Rule.Code.SPLIT_VIEW, enabled=True).first()
    if rule is None:
        return
    now = timezone.now()
    Alert.objects.get_or_create(
        rule=rule,
        block_height=height,
        key=f"witness:{witness}",
        defaults={"detail": {"witness": witness, "status": status}, "created_at": now, "updated_at": now},
    )


def rules_seed() -> int:
    """Create the rules that are missing, with their default thresholds (after a flush of the tables, as the
    demo does; the data migration seeds them otherwise). The number created."""
    created = 0
    for code in Rule.Code.values:
        _rule, made = Rule.objects.get_or_create(code=code, defaults={"thresholds": rules.DEFAULTS[code]})
        created += made
    return created
