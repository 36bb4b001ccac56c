"""Reads of the audit trail: filters, the ledger entry an audited action wrote, evidence bundles.

The link from an audit record to its ledger entry is exact when the service put the entry's id in the
record's ``detail["entry"]`` (every service that writes an entry does, in the same transaction; so will the
supervision app's freezes). Records written before that carry no id: for them the entry is *matched*, the
latest entry of the action's kind recorded in the ``MATCH_WINDOW`` before the record whose payload names the
record's target, and shown as matched, not as exact.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from core import errors as err
from core import spreadsheet
from core.api.pagination import moment as _moment
from core.labels import AUDIT_ACTIONS, OUTCOMES
from core.models import Account, AuditEvent, Role
from exchange.models import Trade
from ledger import selectors as ledger_selectors
from ledger import witnessing
from ledger.api import keys_json
from ledger.models import Cosignature, Entry, EntryKind, Leaf
from ledger.services import signed_note
from settlement.models import Settlement, SettlementAction

# Who reads the audit trail: auditors, and regulators (supervision support, JR/T 0184-2020 §15). Exchange
# and depository operators do not: their own privileged actions are what the trail is for.
AUDIT_READERS = frozenset({Role.AUDITOR, Role.REGULATOR})

FILTERS = ("user", "role", "action", "target", "outcome", "since", "until")
# What an evidence package says it is (its "type"), as the API's schema documents it.
EVIDENCE_TYPE = "evidence"
MATCH_WINDOW = dt.timedelta(seconds=10)
MAX_EVIDENCE_ENTRIES = 5000
MAX_CSV_ROWS = 100_000

# action → (entry kinds it writes, the payload key that holds the record's target, how the target reads)
_TARGET_AS_IS = str


def _trade_id(target: str) -> int | None:
    head, _, tail = target.partition(" ")
    return int(tail) if head == "trade" and tail.isascii() and tail.isdigit() else None


ACTION_KINDS: dict[str, tuple[tuple[str, ...], str | None, object]] = {
    "security_halt": ((EntryKind.HALT,), "security", _TARGET_AS_IS),
    "security_resume": ((EntryKind.RESUME,), "security", _TARGET_AS_IS),
    "market_halt": ((EntryKind.HALT,), None, None),
    "market_resume": ((EntryKind.RESUME,), None, None),
    "security_list": ((EntryKind.LISTING,), "security", _TARGET_AS_IS),
    "security_change": ((EntryKind.SECURITY_CHANGE,), "security", _TARGET_AS_IS),
    "security_delist": ((EntryKind.DELISTING,), "security", _TARGET_AS_IS),
    "securities_issue": ((EntryKind.ISSUE,), "security", _TARGET_AS_IS),
    "disclosure_publish": ((EntryKind.DISCLOSURE,), "security", _TARGET_AS_IS),
    "cash_deposit": ((EntryKind.DEPOSIT,), "account", _TARGET_AS_IS),
    "cash_withdraw": ((EntryKind.WITHDRAWAL,), "account", _TARGET_AS_IS),
    "settlement_hold": ((EntryKind.SETTLEMENT_HOLD,), "trade_id", _trade_id),
    "settlement_release": ((EntryKind.SETTLEMENT_RELEASE,), "trade_id", _trade_id),
    "settlement_refuse": ((EntryKind.SETTLEMENT_FAILED,), "trade_id", _trade_id),
    "identity_reveal": ((EntryKind.IDENTITY_REVEAL,), None, None),
    # (A proposal writes no entry: its approval does. Records before approvals named their entry were matched by
    # time alone, so one could show another account's freeze; now the account must be the record's.)
    "freeze_approve": ((EntryKind.FREEZE,), "account", _TARGET_AS_IS),
    "freeze_release": ((EntryKind.UNFREEZE,), "account", _TARGET_AS_IS),
}


class EvidenceTooLarge(err.DomainError):
    code = "evidence_too_large"
    status = 400
    default_message = gettext_lazy("Too many ledger entries for one evidence bundle.")


# --------------------------------------------------------------------------
# The list and its filters


def page_labels() -> dict[str, str]:
    """The filters as the audit trail's page names them, in the reader's language: a filter mistyped in the
    address is named as its field is labelled, not by its parameter."""
    return {
        "user": gettext("User"),
        "role": gettext("Role"),
        "action": gettext("Action"),
        "target": gettext("Object"),
        "outcome": gettext("Outcome"),
        "since": gettext("From"),
        "until": gettext("To"),
    }


def filters_checked(params, labels: dict[str, str] | None = None) -> dict[str, object]:
    """The filters of a query (``user``, ``role``, ``action``, ``target``, ``outcome``, ``since``, ``until``),
    checked: an unknown role or a time that is not one is an ``InvalidInput``, never a 500. Its message names a
    filter by its label in ``labels`` (the page's "From", ``page_labels``), else by its parameter (the API's
    ``since``)."""
    out: dict[str, object] = {}
    labels = labels or {}
    for name in FILTERS:
        raw = params.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        raw = str(raw).strip()
        if len(raw) > 200 or "\x00" in raw:
            raise err.InvalidInput(gettext("%(name)s is too long or not text.") % {"name": labels.get(name, name)})
        if name == "role" and raw not in Role.values:
            raise err.InvalidInput(
                gettext("%(name)s must be one of: %(choices)s.")
                % {"name": labels.get(name, name), "choices": ", ".join(Role.values)}
            )
        if name == "outcome" and raw not in OUTCOMES:
            raise err.InvalidInput(
                gettext("%(name)s must be one of: %(choices)s.")
                % {"name": labels.get(name, name), "choices": ", ".join(OUTCOMES)}
            )
        if name in ("since", "until"):
            out[name] = _moment(labels.get(name, name), raw, end=name == "until")
        elif name == "action":
            out[name] = actions_matching(raw)
        else:
            out[name] = raw
    if "since" in out and "until" in out and out["since"] > out["until"]:
        raise err.InvalidInput(
            gettext("%(since)s must not be after %(until)s.")
            % {"since": labels.get("since", "since"), "until": labels.get("until", "until")}
        )
    return out


def filters_asked(params) -> dict[str, str]:
    """The filters of a query as they were asked (after ``filters_checked`` passed them), for the record of an
    export."""
    return {name: str(params.get(name)).strip() for name in FILTERS if str(params.get(name) or "").strip()}


def events_filtered(filters: dict[str, object]) -> QuerySet[AuditEvent]:
    """Audit records matching every filter, newest first. ``user`` is the actor's user name (also for failed
    logins, which have no actor), ``target`` the object acted on, exactly (or an account code in any case, with the
    records whose detail names that account);
    ``action`` an ``ActionFilter``
    (``actions_matching``): a part of the action's code or of its words."""
    qs = AuditEvent.objects.select_related("actor")
    if "user" in filters:
        qs = qs.filter(actor_username=filters["user"])
    if "role" in filters:
        qs = qs.filter(actor__role=filters["role"])
    if "action" in filters:
        action = filters["action"]
        if not isinstance(action, ActionFilter):
            action = actions_matching(str(action))
        qs = qs.filter(Q(action__icontains=action.text) | Q(action__in=action.codes))
    if "target" in filters:
        # Exactly, or as an account code typed in small letters ("inv000004": codes are capitals, and a filter that
        # found nothing read as "nothing happened", found by a walk); both spellings use the index, if any.
        target = str(filters["target"])
        code = Account.typed_code(target)
        # An account's records also count those that name it in their detail, as its evidence bundle does: an
        # identity reveal's target is the holder's user name, a settlement instruction's its number (found by a
        # walk: an account's "Audit trail" link showed no reveal of its holder).
        qs = qs.filter(Q(target__in={target, code}) | Q(detail__account=code))
    if "outcome" in filters:
        qs = qs.filter(outcome=filters["outcome"])
    if "since" in filters:
        qs = qs.filter(at__gte=filters["since"])
    if "until" in filters:
        qs = qs.filter(at__lt=filters["until"])
    return qs.order_by("-at", "-id")


@dataclass(frozen=True)
class ActionFilter:
    """The action filter: what was typed, and the actions whose words in the reader's language hold it."""

    text: str
    codes: frozenset[str]


def actions_matching(text: str) -> ActionFilter:
    """The actions a filter names: every action whose code holds ``text`` ("freeze": ``freeze_propose``,
    ``freeze_approve``…; "reveal": ``identity_reveal``), or whose words as the trail shows them in the reader's
    language do ("冻结", "Freeze"), case-insensitive. Found by outside testers: only the whole code matched, so
    "freeze" found nothing."""
    wanted = text.casefold()
    codes = frozenset(code for code, label in AUDIT_ACTIONS.items() if wanted in str(label).casefold())
    return ActionFilter(text=text, codes=codes)


def actions_known(*, using: str = "default") -> list[str]:
    return list(AuditEvent.objects.using(using).order_by("action").values_list("action", flat=True).distinct())


def event_json(event: AuditEvent) -> dict:
    entry = event.detail.get("entry") if isinstance(event.detail, dict) else None
    return {
        "id": event.pk,
        "at": event.at.isoformat(),
        "user": event.actor_username,
        "role": event.actor.role if event.actor is not None else "",
        "action": event.action,
        "outcome": event.outcome,
        "target": event.target,
        "ip": event.ip,
        "detail": event.detail,
        "entry_id": entry if isinstance(entry, int) else None,
    }


# --------------------------------------------------------------------------
# CSV


CSV_COLUMNS = ("id", "at", "user", "role", "action", "outcome", "target", "ip", "entry_id", "detail")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text (``core.spreadsheet``): a structure as its JSON."""
    if value is None:
        return ""
    return spreadsheet.text_cell(
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    )


def events_csv(events) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = event_json(event)
        writer.writerow([csv_cell(row[c] if c != "id" else str(row[c])) for c in CSV_COLUMNS])
    return out.getvalue()


# --------------------------------------------------------------------------
# The ledger entry of an audited action


@dataclass(frozen=True)
class EntryLink:
    entry: Entry
    exact: bool  # the record names the entry (detail["entry"]); else matched by kind, target and time
    leaf: Leaf | None  # None while the entry waits for the sealer


def _payload(entry: Entry) -> dict:
    try:
        return json.loads(bytes(entry.canonical)).get("payload") or {}
    except (ValueError, AttributeError):
        return {}


def entry_of(event: AuditEvent) -> EntryLink | None:
    entry_id = event.detail.get("entry") if isinstance(event.detail, dict) else None
    entry = None
    exact = False
    if isinstance(entry_id, int):
        entry = Entry.objects.filter(pk=entry_id).first()
        exact = entry is not None
    elif event.action in ACTION_KINDS and event.outcome == "ok":
        kinds, key, read = ACTION_KINDS[event.action]
        wanted = read(event.target) if key is not None else None
        if key is None or wanted is not None:
            candidates = Entry.objects.filter(
                kind__in=kinds, recorded_at__gte=event.at - MATCH_WINDOW, recorded_at__lte=event.at
            ).order_by("-recorded_at", "-id")[:50]
            for candidate in candidates:
                payload = _payload(candidate)
                if key is None or payload.get(key) == wanted:
                    if event.action.startswith("market_") and payload.get("scope") != "market":
                        continue
                    entry = candidate
                    break
    if entry is None:
        return None
    return EntryLink(entry=entry, exact=exact, leaf=ledger_selectors.leaf_of_entry(entry.pk))


def entry_link_json(link: EntryLink | None) -> dict | None:
    if link is None:
        return None
    leaf = link.leaf
    return {
        "entry_id": link.entry.pk,
        "kind": link.entry.kind,
        "recorded_at": link.entry.recorded_at.isoformat(),
        "exact": link.exact,
        "leaf_index": leaf.leaf_index if leaf else None,
        "block_height": leaf.block_id if leaf else None,
        "proof_url": f"/api/v1/ledger/entries/{leaf.leaf_index}/proof/" if leaf else None,
        "payload": _payload(link.entry),
    }


# --------------------------------------------------------------------------
# Evidence bundles


def _names(value: object, code: str) -> bool:
    """Whether ``code`` is one of the (nested) string values of a payload."""
    if isinstance(value, str):
        return value == code
    if isinstance(value, dict):
        return any(_names(v, code) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, code) for v in value)
    return False


def _entries_naming(needle: bytes) -> QuerySet[Entry]:
    # A substring search over the canonical bytes (a scan: evidence is rare); the caller confirms each hit.
    return Entry.objects.extra(where=["position(%s::bytea in canonical) > 0"], params=[needle])


def _trade_entry_ids(trades: QuerySet[Trade]) -> set[int]:
    ids = set(trades.values_list("entry_id", flat=True))
    ids |= set(Settlement.objects.filter(trade__in=trades).values_list("entry_id", flat=True))
    ids |= set(SettlementAction.objects.filter(trade__in=trades).values_list("entry_id", flat=True))
    return ids


def _audit_entry_ids(events: list[AuditEvent]) -> set[int]:
    return {e.detail["entry"] for e in events if isinstance(e.detail, dict) and isinstance(e.detail.get("entry"), int)}


def _corrections_of(trade_ids: list[int]) -> Q:
    """The records of corrections of these trades: their target is the bare trade number."""
    return Q(action__startswith="correction_", target__in=[str(pk) for pk in trade_ids])


def account_evidence_parts(code: str) -> tuple[list[AuditEvent], list[Entry]]:
    account = Account.objects.select_related("owner").filter(code=code).first()
    if account is None:
        raise err.NotFound(gettext("No such account."))
    trades = Trade.objects.filter(Q(buyer=account) | Q(seller=account))
    trade_ids = list(trades.values_list("pk", flat=True))
    names = [code, *(f"trade {pk}" for pk in trade_ids)]
    if account.owner_id is not None:
        names.append(account.owner.username)
    events = list(
        AuditEvent.objects.select_related("actor")
        .filter(Q(target__in=names) | Q(detail__account=code) | _corrections_of(trade_ids))
        .order_by("at", "id")
    )
    needle = json.dumps(code).encode()
    ids = {e.pk for e in _entries_naming(needle).only("id", "canonical") if _names(_payload(e), code)}
    ids |= _trade_entry_ids(trades)
    ids |= _audit_entry_ids(events)
    return events, _entries(ids)


def trade_evidence_parts(trade_id: int) -> tuple[list[AuditEvent], list[Entry]]:
    trades = Trade.objects.filter(pk=trade_id)
    if not trades.exists():
        raise err.NotFound(gettext("No such trade."))
    events = list(
        AuditEvent.objects.select_related("actor")
        .filter(Q(target=f"trade {trade_id}") | Q(detail__trade=trade_id) | _corrections_of([trade_id]))
        .order_by("at", "id")
    )
    ids = _trade_entry_ids(trades) | _audit_entry_ids(events)
    return events, _entries(ids)


def _entries(ids: set[int]) -> list[Entry]:
    if len(ids) > MAX_EVIDENCE_ENTRIES:
        raise EvidenceTooLarge(
            gettext("%(count)s ledger entries: more than the %(max)s one evidence bundle holds.")
            % {"count": len(ids), "max": MAX_EVIDENCE_ENTRIES}
        )
    return list(Entry.objects.filter(pk__in=ids).order_by("id"))


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode()


# ledger-keys.json: the name the pages' "Download keys" links give the exchange's keys (GET ledger/keys/).
VERIFY_COMMAND = "python ledger/verifier.py evidence bundle.json --keys-file ledger-keys.json"


def verify_command(head) -> str:
    """How to check a bundle offline: with the witnesses that co-signed its checkpoint named, so that a bundle
    whose witness line was removed or changed fails as printed (a checkpoint not co-signed yet names none)."""
    command = VERIFY_COMMAND
    if head is None:
        return command
    cosigned = set(Cosignature.objects.filter(block=head).values_list("witness", flat=True))
    named = [w for w in witnessing.witnesses() if w.name in cosigned]
    for witness in named:
        command += f" --witness {witness.vkey}"
    return command


def evidence_bundle(*, subject: dict, events: list[AuditEvent], entries: list[Entry], by: str) -> dict:
    """One file: the audit records, the sealed entries with inclusion proofs against one signed checkpoint
    (the newest), the entries still waiting for the sealer (bytes, no proof yet), and how to check it."""
    head = ledger_selectors.head()
    leaves = {leaf.entry_id: leaf for leaf in Leaf.objects.filter(entry_id__in=[e.pk for e in entries])}
    proven = [] if head is None else [leaf.leaf_index for leaf in leaves.values() if leaf.leaf_index < head.tree_size]
    proofs = ledger_selectors.inclusion_proofs(proven, head.tree_size) if proven else {}
    sealed, waiting = [], []
    for entry in entries:
        leaf = leaves.get(entry.pk)
        common = {
            "entry_id": entry.pk,
            "kind": entry.kind,
            "recorded_at": entry.recorded_at.isoformat(),
            "canonical": _b64(entry.canonical),
            "leaf_hash": bytes(entry.leaf_hash).hex(),
        }
        if leaf is None or head is None or leaf.leaf_index >= head.tree_size:
            waiting.append(common)
            continue
        proof = proofs[leaf.leaf_index]
        sealed.append({**common, "leaf_index": leaf.leaf_index, "proof": [h.hex() for h in proof]})
    sealed.sort(key=lambda e: e["leaf_index"])
    return {
        "type": EVIDENCE_TYPE,
        "subject": subject,
        "generated_at": timezone.now().isoformat(),
        "generated_by": by,
        "checkpoint": signed_note(head) if head is not None else None,
        "tree_size": head.tree_size if head is not None else 0,
        "keys": keys_json(),
        "entries": sealed,
        "waiting": waiting,
        "audit": [event_json(e) for e in events],
        "command": verify_command(head),
        "note": (
            "ledger-keys.json is a copy of GET /api/v1/ledger/keys/ obtained separately: the verifier never trusts the "
            "keys inside the bundle, and the witnesses' keys in the command are to be compared with the "
            "regulator's own. Entries under 'waiting' are not sealed yet and have no proof; fetch a new "
            "bundle after the next block. Audit records are the operator's copy, not signed; those that name an "
            "entry (detail.entry) are backed by that entry's proof."
        ),
    }
