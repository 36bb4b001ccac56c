"""The exchange asks its witnesses to co-sign its checkpoints (C2SP tlog-witness, the client's side).

After each seal, ``ledger.tasks.cosign`` calls ``cosign_head``: for every configured witness
(``settings.LEDGER_WITNESSES``) that has not co-signed the newest block, it sends that block's checkpoint
with a consistency proof from the size the witness last co-signed, checks the ``cosignature/v1`` line it
gets back against the witness's key, and stores it (``Cosignature``). Only the newest block is sent: a
witness co-signs a size, and a co-signed checkpoint vouches for every leaf below it, so a burst of blocks
costs one round trip per witness.

A checkpoint is *final* when ``settings.LEDGER_FINAL_COSIGNATURES`` witnesses co-signed it; a leaf is final
once a final checkpoint covers it. When ``SETTLEMENT_AWAITS_COSIGNATURE`` is set, the ``after_final`` hooks
(settlement) run for the blocks a new final checkpoint covers, instead of right after sealing.

A witness that refuses a checkpoint the exchange signed (409 with the same size, 422: a split view or a
fork) is recorded in ``WitnessRefusal``, once per witness, block and answer however often it is asked again;
the operations page shows it. A witness that is down is retried
by the next seal or by beat.
"""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from . import checkpoint, hooks, selectors
from .models import Block, Cosignature, WitnessRefusal, WitnessState

log = logging.getLogger(__name__)

# Two seal tasks may finish at once; one cosigning run at a time keeps each witness's ``old`` size right.
_LOCK = 0x1ED6E5C0


@dataclass(frozen=True)
class Witness:
    url: str
    name: str
    public_key: bytes
    vkey: str


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: str


Post = Callable[[str, bytes], Reply]


def witnesses() -> list[Witness]:
    """The configured witnesses; a malformed entry stops the node at once (``ImproperlyConfigured``)."""
    from django.core.exceptions import ImproperlyConfigured

    found = []
    for item in settings.LEDGER_WITNESSES:
        url, _, vkey = item.partition(" ")
        try:
            name, key_type, public = checkpoint.parse_verifier_key(vkey.strip())
        except checkpoint.CheckpointError as exc:
            raise ImproperlyConfigured(f"LEDGER_WITNESSES: {exc}") from exc
        if key_type != checkpoint.COSIGNATURE_V1 or not url.startswith(("http://", "https://")):
            raise ImproperlyConfigured(f"LEDGER_WITNESSES: '<url> <cosignature/v1 verifier key>', not {item!r}")
        found.append(Witness(url.rstrip("/"), name, public, vkey.strip()))
    return found


def http_post(url: str, body: bytes) -> Reply:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=settings.LEDGER_WITNESS_TIMEOUT) as response:
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers.get("Content-Type", ""), exc.read()[:2000].decode(errors="replace"))


def request_body(block: Block, old: int, note: str) -> bytes:
    proof = selectors.consistency_proof(old, block.tree_size) if 0 < old < block.tree_size else []
    return (f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + note).encode()


def _state(w: Witness) -> WitnessState:
    state, _ = WitnessState.objects.get_or_create(witness=w.vkey, defaults={"updated_at": timezone.now()})
    return state


def _refused(w: Witness, block: Block, old: int, reply: Reply, *, split_view: bool, again: bool = False) -> None:
    """Record that ``w`` refused ``block``, once: beat asks again every 5 s while the head stays the same, and
    the same answer again is no new fact (found by outside testers: a row every 5 s, and the operations page
    counting 13 refused checkpoints for 4 blocks). Another answer about the same block (another status, or the
    same status for another reason) is recorded. ``cosign_head``'s advisory lock makes the check and the insert
    one step. ``again``: the witness's last answer was this very refusal (of the block before), so it is logged
    at INFO, not as a new ERROR."""
    answer = reply.body[:2000]
    same = {"witness": w.name, "block": block, "status": reply.status, "split_view": split_view, "answer": answer}
    if WitnessRefusal.objects.filter(**same).exists():
        log.info("witness %s refused block %s again (HTTP %s), as recorded", w.name, block.height, reply.status)
        return
    WitnessRefusal.objects.create(**same, old_size=old, recorded_at=timezone.now())
    if again and not split_view:
        # The same refusal as for the block before (a witness not yet told of a rotated key refuses every block
        # until it is): one ERROR when it starts, not one a seal (found by a probe: 32 ERROR lines in 40 s).
        log.info(
            "witness %s refused block %s too (HTTP %s), as the blocks before it", w.name, block.height, reply.status
        )
    else:
        log.error("witness %s refused block %s (HTTP %s): %s", w.name, block.height, reply.status, reply.body[:200])
    for hook in hooks.after_witness_refusal:
        hook(w.name, block.height, reply.status, split_view)


def _store(w: Witness, block: Block, note: str, reply: Reply) -> bool:
    """Keep the witness's valid co-signature on ``block``; False if the reply carries none."""
    try:
        cp = checkpoint.parse(note.rstrip("\n") + "\n" + reply.body)
        good = checkpoint.verified_cosigners(cp, [(w.name, w.public_key)])
    except checkpoint.CheckpointError as exc:
        log.error("witness %s answered block %s with a bad co-signature: %s", w.name, block.height, exc)
        return False
    if not good:
        return False
    khash = checkpoint.note_key_hash(w.name, w.public_key, checkpoint.COSIGNATURE_V1)
    for name, kh, blob in cp.signatures:
        if name == w.name and kh == khash:
            Cosignature.objects.get_or_create(
                block=block,
                witness=w.name,
                key_hash=khash,
                defaults={
                    "timestamp": int.from_bytes(blob[:8], "big"),
                    "signature": blob[8:],
                    "received_at": timezone.now(),
                },
            )
            return True
    return False


def _cosign_one(w: Witness, block: Block, note: str, post: Post) -> bool:
    state = _state(w)
    old = state.cosigned_size if state.cosigned_size <= block.tree_size else 0
    for _ in range(2):  # a 409 tells the witness's size: one more try from there
        reply = post(w.url + "/add-checkpoint", request_body(block, old, note))
        if reply.status == 200:
            if not _store(w, block, note, reply):
                state.last_error = "the witness's answer carries no valid co-signature"
                break
            state.cosigned_size, state.last_error = block.tree_size, ""
            break
        if reply.status == 409 and reply.content_type.startswith("text/x.tlog.size"):
            try:
                theirs = int(reply.body.strip())
            except ValueError:
                theirs = -1
            if theirs == old or theirs < 0:
                # Our old size was right, so the witness holds another checkpoint of this very size (another
                # root, or the same root under another block line: a rewritten block header): a split view.
                _refused(w, block, old, reply, split_view=True)
                state.last_error = f"refused: HTTP 409 at size {old}, the witness co-signed another checkpoint of it"
                break
            if theirs > block.tree_size or (theirs != 0 and selectors.block_at_size(theirs) is None):
                # The witness co-signed a size this ledger never had, or more than it holds: a fork or a rollback.
                _refused(w, block, old, reply, split_view=True)
                state.last_error = f"the witness holds size {theirs}, which is no checkpoint of this ledger"
                break
            old = theirs
            continue
        split = reply.status == 422
        # The witness's own words (a 403's "no signature of a key of that log" after a key rotation: trust the
        # new key on it), not the status alone, on the operations page.
        said = reply.body.strip()[:200]
        error = f"refused: HTTP {reply.status}" + (f": {said}" if said else "")
        _refused(w, block, old, reply, split_view=split, again=state.last_error == error)
        state.last_error = error
        break
    state.updated_at = timezone.now()
    state.save()
    return state.cosigned_size >= block.tree_size and not state.last_error


def cosign_head(*, post: Post | None = None) -> int:
    """Ask every witness that has not co-signed the newest block to co-sign it; the count of new co-signatures.

    One run at a time (a transaction-level advisory lock; a concurrent run returns 0 at once). A witness that
    cannot be reached keeps its ``last_error`` and is asked again next time.
    """
    configured = witnesses()
    if not configured:
        return 0
    post = post or http_post
    final_before = final_height()
    done = 0
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK])
            if not cur.fetchone()[0]:
                return 0
        block = selectors.head()
        if block is None:
            return 0
        note = checkpoint_note(block)
        signed = set(block.cosignatures.values_list("witness", flat=True))
        for w in configured:
            if w.name in signed:
                continue
            try:
                if _cosign_one(w, block, note, post):
                    done += 1
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                state = _state(w)
                state.last_error, state.updated_at = f"unreachable: {exc}", timezone.now()
                state.save(update_fields=["last_error", "updated_at"])
                log.warning("witness %s unreachable: %s", w.name, exc)
    if not awaits_cosignature():
        return done
    final_now = final_height()
    if final_now is not None and (final_before is None or final_now > final_before):
        first = 0 if final_before is None else final_before + 1
        for height in range(first, final_now + 1):
            for hook in hooks.after_final:
                hook(height)
    return done


def checkpoint_note(block: Block) -> str:
    """The block's checkpoint signed by the exchange only (what is sent to the witnesses)."""
    from .services import signed_note

    return signed_note(block, cosignatures=False)


# --- Finality ---------------------------------------------------------------------------------------


def required() -> int:
    return settings.LEDGER_FINAL_COSIGNATURES


def final_height() -> int | None:
    """The height of the newest block whose checkpoint enough witnesses co-signed; every block up to it is
    final. With no witnesses required, every sealed block is final."""
    if required() <= 0:
        head = selectors.head()
        return head.height if head else None
    return (
        Cosignature.objects.values("block_id")
        .annotate(n=Count("id"))
        .filter(n__gte=required())
        .aggregate(h=Max("block_id"))["h"]
    )


def awaits_cosignature() -> bool:
    return bool(settings.SETTLEMENT_AWAITS_COSIGNATURE and required() > 0)


def status() -> list[dict]:
    """Each configured witness, the size it last co-signed, and its last error (for the operations page)."""
    states = {s.witness: s for s in WitnessState.objects.all()}
    out = []
    for w in witnesses():
        s = states.get(w.vkey)
        out.append(
            {
                "name": w.name,
                "url": w.url,
                "verifier_key": w.vkey,
                "cosigned_size": s.cosigned_size if s else 0,
                "last_error": s.last_error if s else "",
                "updated_at": s.updated_at if s else None,
            }
        )
    return out


def refusals(limit: int = 20):
    return WitnessRefusal.objects.order_by("-recorded_at")[:limit]


def split_view_blocks() -> list[int]:
    """The heights of the checkpoints some witness refused as a split view or a fork, each once however many
    witnesses refused it and for however many reasons (what the operations page's warning counts)."""
    rows = WitnessRefusal.objects.filter(split_view=True).values_list("block_id", flat=True).distinct()
    return sorted(rows)
