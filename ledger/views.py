"""The ledger explorer: pages for the supervisors of the market (auditors, regulators, operators).

Blocks, their signed checkpoints and entries, the signing keys, and "verify
now", which runs the full ``ledger_verify`` in the request and records who ran
it and what it found in the audit trail. Everyone else gets 403: the entries'
bytes name accounts and amounts. The pages only read; proofs are served by the
ledger API (``ledger.api``), which these pages link to. The list of blocks and a
block's page read the database replica when one is usable (``core.db.replica``):
a sealed block never changes, so a lagging replica shows fewer blocks, never
other ones, and a block it does not hold yet is read on the primary.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.audit import audit_record, client_ip
from core.db.replica import PRIMARY, replica_read
from core.permissions import role_required
from core.roles import SUPERVISORS

from . import selectors, verifier
from .models import SigningKey
from .services import signed_note
from .verification import ledger_verify

PAGE_SIZE = 50
# Shown on the verification page; a broken ledger can have one problem per leaf.
PROBLEMS_SHOWN = 200

KEY_STATUS_LABELS = {
    SigningKey.Status.ACTIVE: _("Active"),
    SigningKey.Status.RETIRING: _("Retiring"),
    SigningKey.Status.RETIRED: _("Retired"),
}


def _hex(data: bytes) -> str:
    return bytes(data).hex()


def _short(data: bytes) -> str:
    return _hex(data)[:12] + "…"


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _key_status(status: str) -> str:
    return str(KEY_STATUS_LABELS.get(status, status))


@role_required(*SUPERVISORS)
def blocks(request):
    return render(request, "ledger/blocks.html", replica_read(lambda alias: _blocks_context(request, alias)))


def _blocks_context(request, alias: str) -> dict:
    """The list of blocks, the head and the entries waiting, all read on ``alias`` (one moment of the ledger)."""
    page = _page(request, selectors.blocks_newest_first(using=alias))
    rows = [
        {
            "height": block.height,
            "tree_size": block.tree_size,
            "first_leaf": block.first_leaf_index,
            "last_leaf": block.tree_size - 1,
            "leaves": block.tree_size - block.first_leaf_index,
            "root": _hex(block.root),
            "root_short": _short(block.root),
            "sealed_at": block.sealed_at,
            "signatures": block.signature_count,
        }
        for block in page
    ]
    head = selectors.head(using=alias)
    return {
        "rows": rows,
        "page": page,
        "head": head,
        "head_note": signed_note(head) if head else "",
        "waiting": selectors.entries_waiting(using=alias),
    }


@role_required(*SUPERVISORS)
def block_detail(request, height: int):
    context = replica_read(lambda alias: _block_context(request, height, alias))
    if context is None:
        raise Http404
    return render(request, "ledger/block.html", context)


def _block_context(request, height: int, alias: str) -> dict | None:
    """Block ``height``'s page read on ``alias``, or on the primary when the replica does not hold it yet (just
    sealed); its signatures, co-signatures and leaves are read where the block was (its related managers)."""
    block = selectors.block_at_height(height, using=alias)
    if block is None and alias != PRIMARY:
        alias, block = PRIMARY, selectors.block_at_height(height)
    if block is None:
        return None
    try:
        signers = json.loads(bytes(block.header)).get("signers", [])
    except (ValueError, AttributeError):  # a rewritten header: "verify now" names it, the page still shows it
        signers = []
    page = _page(request, selectors.block_leaves(block, using=alias))
    entries = [
        {
            "leaf_index": leaf.leaf_index,
            "entry_id": leaf.entry_id,
            "kind": leaf.entry.kind,
            "recorded_at": leaf.entry.recorded_at,
            "leaf_hash": _hex(leaf.entry.leaf_hash),
            "leaf_hash_short": _short(leaf.entry.leaf_hash),
        }
        for leaf in page
    ]
    signatures = [
        {
            "key_id": sig.key_id,
            "name": sig.key.name,
            "status": sig.key.status,
            "status_label": _key_status(sig.key.status),
            "local": sig.key.local,
        }
        for sig in selectors.block_signatures(block)
    ]
    context = {
        # Not "block": inside {% block %} tags Django's template context names the tag itself so.
        "ledger_block": block,
        "signers": signers,
        "root": _hex(block.root),
        "block_hash": _hex(block.block_hash),
        "prev_hash": _hex(block.prev_hash),
        "header": bytes(block.header).decode(errors="replace"),
        "note": signed_note(block),
        "signatures": signatures,
        "cosignatures": [  # (a co-signature that came after the block may show a few seconds late)
            {
                "witness": c.witness,
                "key_hash": bytes(c.key_hash).hex(),
                "at": dt.datetime.fromtimestamp(c.timestamp, dt.UTC),
            }
            for c in block.cosignatures.order_by("witness")
        ],
        "entries": entries,
        "page": page,
        "prev_height": block.height - 1 if block.height > 0 else None,
        "next_height": block.height + 1 if selectors.block_at_height(block.height + 1, using=alias) else None,
        "last_leaf": block.tree_size - 1,
    }
    return context


def _read(canonical: bytes):
    """The entry's document, or None if its bytes are not JSON."""
    try:
        return json.loads(canonical)
    except ValueError:
        return None


def _pretty(canonical: bytes, document) -> str:
    """The entry for reading; the bytes that are hashed are the canonical ones, shown too."""
    if document is None:
        return canonical.decode(errors="replace")
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True)


def _trade_ids(document) -> list[int]:
    """The trades an entry is about (a TRADE, a SETTLEMENT, its hold, release or refusal, a CORRECTION): its
    payload's ``trade_id``, or ``trade_ids`` of a net settlement; none for other kinds or unreadable bytes."""
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        return []
    ids = payload.get("trade_ids") if "trade_ids" in payload else [payload.get("trade_id")]
    if not isinstance(ids, list):
        return []
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]


@role_required(*SUPERVISORS)
def entry_detail(request, leaf_index: int):
    leaf = selectors.leaf_at(leaf_index)
    if leaf is None:
        raise Http404
    canonical = bytes(leaf.entry.canonical)
    document = _read(canonical)
    context = {
        "leaf": leaf,
        "entry": leaf.entry,
        "leaf_hash": _hex(leaf.entry.leaf_hash),
        "pretty": _pretty(canonical, document),
        "canonical": canonical.decode(errors="replace"),
        "size": len(canonical),
        # The trade pages an entry is about, one click away (found by a walk: the way from a trade to its entry
        # existed, not back). A URL by name: the ledger imports nothing of the trading app.
        "trades": [(pk, reverse("trade", args=[pk])) for pk in _trade_ids(document)],
    }
    return render(request, "ledger/entry.html", context)


@role_required(*SUPERVISORS)
def keys(request):
    rows = [
        {
            "key_id": key.key_id,
            "name": key.name,
            "status": key.status,
            "status_label": _key_status(key.status),
            "local": key.local,
            "created_at": key.created_at,
            "retired_at": key.retired_at,
            "retired_in_block": key.retired_in_block,
            "public_key": _hex(key.public_key),
        }
        for key in selectors.signing_keys()
    ]
    return render(request, "ledger/keys.html", {"rows": rows})


@role_required(*SUPERVISORS)
@require_http_methods(["GET", "POST"])
@never_cache
def verify(request):
    """GET explains; POST runs the full verification now, in the request, and shows what it found."""
    context: dict = {"ran": False}
    if request.method == "POST":
        started = time.monotonic()
        report = ledger_verify()
        elapsed = time.monotonic() - started
        first = report.first
        audit_record(
            actor=request.user,
            action="ledger_verify",
            target="ledger",
            outcome="ok" if report.ok else "failed",
            ip=client_ip(request),
            detail={
                "blocks": report.blocks,
                "leaves": report.leaves,
                "signatures": report.signatures,
                "trades": report.trades,
                "external_checkpoints": report.external_checkpoints,
                "problems": len(report.problems),
                "first": str(first) if first else None,
                "seconds": round(elapsed, 3),
            },
        )
        context = {
            "ran": True,
            "report": report,
            "first": first.localized() if first else None,
            "first_block": first.block if first else None,
            "problems": [p.localized() for p in report.problems[:PROBLEMS_SHOWN]],
            "more_problems": max(0, len(report.problems) - PROBLEMS_SHOWN),
            "elapsed": f"{elapsed:.2f}",
        }
    return render(request, "ledger/verify.html", context)


@require_http_methods(["GET", "HEAD"])
def verifier_download(request):
    """The offline verifier (``ledger/verifier.py``), to save as one file and run anywhere with Python and
    ``cryptography``: the same for everyone, as the exchange runs it (found by a probe: the pages told auditors to
    run it, and none offered it)."""
    with open(verifier.__file__, "rb") as source:
        response = HttpResponse(source.read(), content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="verifier.py"'
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
