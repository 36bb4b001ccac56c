"""A replica: an independent, verified copy of another node's ledger.

For each new block of the source, in height order, the replica

1. checks the checkpoint's signature with keys it trusts at that height
   (given when it was set up, then only keys introduced by KEY_ROTATION
   entries it has itself verified);
2. checks the block's header hash and its link to the last block it holds;
3. fetches the block's entries, recomputes every leaf hash and the tree from
   its *own* copy, and requires the signed root;
4. checks the source's consistency proof from the last checkpoint it holds;
5. stores the checkpoint and the entries in one transaction.

Anything else is a rewritten or forked history: ``ReplicationRefused``, and
nothing of that block is stored. Only a definite answer is a refusal (a 404
for a block the replica holds, other bytes, a bad proof or signature); a
source that does not answer (a 5xx, a timeout, a lost connection) is
``SourceUnavailable``, asked again later, and a 401 or 403 is
``SourceAccessDenied``: the token ended, and asking again cannot help.

``replica_sync_tiles`` does the same from the C2SP tlog-tiles a static
server or a CDN serves (``/checkpoint`` and ``/tile/entries/…``; see
``ledger.tiles``): it checks the latest checkpoint's signature, extends its
*own* frontier with the entries of the bundles and requires the signed root,
which proves both the entries and the consistency with what it held. Tiles
carry no block headers, so it keeps one checkpoint per sync (not one per block).

A sync checks only what is new, and a source's proofs come from its stored
Merkle nodes: an old entry whose bytes a superuser rewrote at the source,
nodes left alone, would go unseen. ``replica_recheck`` (``…_tiles``) compares
entries the replica holds with what the source serves now and refuses at
the first leaf that differs; ``--follow`` does one page a round, in turn
(``replica_recheck_round``), from the leaf kept in the replica's database
(``ReplicaRecheck``), so that a restart goes on where it stopped.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from . import checkpoint, merkle, tiles
from .models import ReplicaCheckpoint, ReplicaEntry, ReplicaKey, ReplicaRecheck

Fetch = Callable[[str], dict | list]
FetchBytes = Callable[[str], bytes]


class ReplicationRefused(Exception):
    """The source served a history that does not extend what this replica holds."""


class SourceUnavailable(Exception):
    """The source gave no answer this time (a 5xx, a timeout, a lost connection): ask again later."""


class SourceMissing(SourceUnavailable):
    """The source answered 404. Transient for most paths; a refusal for a block this replica holds."""


class SourceAccessDenied(Exception):
    """The source answered 401 or 403: the token expired, was revoked or never allowed this. Asking again
    with the same token cannot help, so this is not a ``SourceUnavailable``."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


def source_error(path: str, status: int, body: bytes) -> SourceUnavailable | SourceAccessDenied:
    """The exception for an HTTP error answer of the source (status and what its body says, on one line)."""
    detail = f"{path}: HTTP {status}" + (f" {server_says(body)}" if body else "")
    if status in (401, 403):
        return SourceAccessDenied(detail, status)
    if status == 404:
        return SourceMissing(detail)
    return SourceUnavailable(detail)


def server_says(body: bytes) -> str:
    """An error body on one line: the API's ``code: message`` (``core.errors``), else its first 200 characters."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and ("code" in data or "message" in data or "detail" in data):
        return ": ".join(str(data[k]) for k in ("code", "message", "detail") if data.get(k))
    return " ".join(body[:200].decode("utf-8", "replace").split())


def _http_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(2000)
    except (OSError, http.client.HTTPException):
        return b""


# What urlopen raises when there is no answer: URLError (refused, DNS, a timeout while connecting), and, while
# reading the answer, TimeoutError, ConnectionResetError (RemoteDisconnected) or an IncompleteRead.
_NO_ANSWER = (OSError, http.client.HTTPException)


def http_fetcher(base_url: str, token: str, *, timeout: float = 30) -> Fetch:
    base = base_url.rstrip("/") + "/api/v1/ledger/"

    def fetch(path: str) -> dict | list:
        request = urllib.request.Request(
            urllib.parse.urljoin(base, path), headers={"Authorization": f"Token {token}", "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise source_error(path, exc.code, _http_error_body(exc)) from exc
        except _NO_ANSWER as exc:
            raise SourceUnavailable(f"{path}: {getattr(exc, 'reason', None) or exc!r}") from exc
        except ValueError as exc:  # a 200 that is not JSON: a proxy's page, a body cut short
            raise SourceUnavailable(f"{path}: an answer that is not JSON") from exc

    return fetch


def http_tile_fetcher(prefix: str, token: str | None, *, timeout: float = 30) -> FetchBytes:
    """Raw bytes from a tlog-tiles prefix (``https://node/ledger``): ``checkpoint``, ``tile/entries/…``."""
    base = prefix.rstrip("/") + "/"
    # C2SP tlog-tiles: clients SHOULD accept gzip (entry bundles come compressed when they do).
    headers = {"Accept-Encoding": "gzip, identity"}
    if token:
        headers["Authorization"] = f"Token {token}"

    def fetch(path: str) -> bytes:
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
                if response.headers.get("Content-Encoding", "identity").strip().lower() in ("gzip", "x-gzip"):
                    return _gunzip(path, body)
                return body
        except urllib.error.HTTPError as exc:
            raise source_error(path, exc.code, _http_error_body(exc)) from exc
        except _NO_ANSWER as exc:
            raise SourceUnavailable(f"{path}: {getattr(exc, 'reason', None) or exc!r}") from exc

    return fetch


# The largest entry bundle: 256 entries of at most 65,535 bytes, each after its two-byte length.
MAX_BUNDLE = 256 * (2 + 65_535)


def _gunzip(path: str, body: bytes) -> bytes:
    """A gzip body, decompressed to at most ``MAX_BUNDLE`` bytes: a source cannot exhaust the replica's memory."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, MAX_BUNDLE + 1)
    except zlib.error as exc:
        raise SourceUnavailable(f"{path}: a gzip body that does not decompress") from exc
    if len(data) > MAX_BUNDLE or inflate.unconsumed_tail or not inflate.eof:
        raise SourceUnavailable(f"{path}: a gzip body that is cut short or larger than any bundle")
    return data


class LoginRefused(Exception):
    """The source's ``POST auth/token/`` said no: ``code`` is its error code (``invalid_credentials``,
    ``otp_required``, ``otp_invalid``, ``login_locked``…), the message its status, code and message."""

    def __init__(self, detail: str, code: str | None) -> None:
        super().__init__(detail)
        self.code = code


def http_token(base_url: str, username: str, password: str, otp: str | None = None, *, timeout: float = 30) -> str:
    """An API token from the source's ``POST /api/v1/auth/token/``. Every role that may read the entries in
    bulk is staff, so the login needs ``otp``: the current code of the user's authenticator (or a recovery code).

    Raises ``LoginRefused`` when the source answers no, ``SourceUnavailable`` when it does not answer."""
    credentials = {"username": username, "password": password}
    if otp:
        credentials["otp"] = otp
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v1/auth/token/",
        data=json.dumps(credentials).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json", "Accept-Language": "en"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)["token"]
    except urllib.error.HTTPError as exc:
        body = _http_error_body(exc)
        if exc.code >= 500:
            raise SourceUnavailable(f"auth/token/: HTTP {exc.code} {server_says(body)}".rstrip()) from exc
        try:
            code = json.loads(body).get("code")
        except (ValueError, AttributeError):
            code = None
        raise LoginRefused(f"HTTP {exc.code} {server_says(body)}".rstrip(), code) from exc
    except _NO_ANSWER as exc:
        raise SourceUnavailable(f"auth/token/: {getattr(exc, 'reason', None) or exc!r}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceUnavailable("auth/token/: an answer without a token") from exc


@dataclass
class SyncResult:
    blocks: int = 0
    entries: int = 0
    height: int | None = None
    tree_size: int = 0


def trust_keys(source: str, keys: list[tuple[str, bytes, int | None]]) -> None:
    """Trust keys for a source from the start: (name, public key, last height it may sign or None).

    A regulator obtains them out of band, or takes the source's published list on first use.
    """
    for name, public, until in keys:
        ReplicaKey.objects.get_or_create(
            source=source,
            key_id=checkpoint.key_id(public),
            defaults={"name": name, "public_key": public, "until_height": until},
        )


def _trusted_at(source: str, height: int) -> list[tuple[str, bytes]]:
    keys = ReplicaKey.objects.filter(source=source, from_height__lte=height)
    return [(k.name, bytes(k.public_key)) for k in keys if k.until_height is None or height <= k.until_height]


def _frontier(held: ReplicaCheckpoint | None) -> merkle.Frontier:
    if held is None:
        return merkle.Frontier()
    raw = bytes(held.frontier)
    return merkle.Frontier(held.tree_size, [raw[i : i + 32] for i in range(0, len(raw), 32)])


def replica_sync(*, source: str, fetch: Fetch, max_blocks: int | None = None) -> SyncResult:
    """Pull, verify and store the source's new blocks. Raises ``ReplicationRefused`` on a rewrite."""
    if not ReplicaKey.objects.filter(source=source).exists():
        raise ReplicationRefused("no trusted key for this source: set one up with --trust-key or --trust-source-keys")
    result = SyncResult()
    held = ReplicaCheckpoint.objects.filter(source=source).order_by("-height").first()
    if held is not None:
        _check_still_holds(source, fetch, held)
    while max_blocks is None or result.blocks < max_blocks:
        page = fetch(f"blocks/?after={held.height}&limit=50" if held else "blocks/?limit=50")["results"]
        if not page:
            break
        for block in page:
            held = _accept_block(source, fetch, held, block)
            result.blocks += 1
            result.entries += held.tree_size - (block["first_leaf_index"])
            if max_blocks is not None and result.blocks >= max_blocks:
                break
    if held is not None:
        result.height, result.tree_size = held.height, held.tree_size
    return result


def _check_still_holds(source: str, fetch: Fetch, held: ReplicaCheckpoint) -> None:
    """The source's head must not be behind us, and our last block must still be its block."""
    head = fetch("head/")
    if head["tree_size"] < held.tree_size:
        raise ReplicationRefused(
            f"the source's head has {head['tree_size']} leaves, fewer than the {held.tree_size} this replica holds"
        )
    try:
        theirs = fetch(f"blocks/{held.height}/")
    except SourceMissing as exc:
        # A definite answer. Any other failure (a 5xx, a timeout) is the source being unavailable, not a
        # refusal: it propagates as SourceUnavailable and --follow asks again.
        raise ReplicationRefused(f"the source no longer serves block {held.height}: {exc}") from exc
    if bytes.fromhex(theirs["block_hash"]) != bytes(held.block_hash):
        raise ReplicationRefused(f"block {held.height} at the source differs from the one this replica holds")


def _accept_block(source: str, fetch: Fetch, held: ReplicaCheckpoint | None, block: dict) -> ReplicaCheckpoint:
    height = block["height"]
    expected_height = held.height + 1 if held else 0
    if height != expected_height:
        raise ReplicationRefused(f"expected block {expected_height}, the source sent {height}")
    try:
        cp = checkpoint.parse(block["checkpoint"])
    except checkpoint.CheckpointError as exc:
        raise ReplicationRefused(f"block {height}: {exc}") from exc
    if cp.tree_size > 2**63 - 1:  # a C2SP size may reach 2^64 - 1; the replica's column is a bigint
        raise ReplicationRefused(f"block {height}: a tree size above 2^63 - 1 cannot be kept")
    header = base64.b64decode(block["header"])
    bhash = checkpoint.block_hash(header)
    fields = json.loads(header)
    prev = bytes(held.block_hash) if held else checkpoint.ZERO_HASH
    first = held.tree_size if held else 0
    if (cp.height, cp.tree_size, cp.block_hash) != (height, block["tree_size"], bhash):
        raise ReplicationRefused(f"block {height}: the checkpoint does not match the block header")
    if bytes.fromhex(fields["prev_hash"]) != prev or fields["first_leaf_index"] != first:
        raise ReplicationRefused(f"block {height}: does not continue the last block this replica holds (a fork)")
    if bytes.fromhex(fields["root"]) != cp.root or fields["tree_size"] != cp.tree_size:
        raise ReplicationRefused(f"block {height}: header and checkpoint disagree")

    # Only keys trusted *before* this block count: a block cannot vouch for itself
    # with a key that its own entries introduce.
    try:
        signers = checkpoint.verified_signers(cp, _trusted_at(source, height))
    except checkpoint.CheckpointError as exc:
        raise ReplicationRefused(f"block {height}: {exc}") from exc
    if not signers:
        raise ReplicationRefused(f"block {height}: not signed by any key this replica trusts")

    frontier = _frontier(held)
    entries: list[ReplicaEntry] = []
    rotations: list[dict] = []
    while frontier.size < cp.tree_size:
        page = fetch(f"entries/?from={frontier.size}&limit={min(5000, cp.tree_size - frontier.size)}")["results"]
        if not page:
            raise ReplicationRefused(f"block {height}: the source stopped serving entries at leaf {frontier.size}")
        for item in page:
            if item["leaf_index"] != frontier.size or frontier.size >= cp.tree_size:
                raise ReplicationRefused(f"block {height}: entries out of order at leaf {frontier.size}")
            data = base64.b64decode(item["canonical"])
            leaf = merkle.leaf_hash(data)
            if leaf.hex() != item["leaf_hash"]:
                raise ReplicationRefused(f"block {height}: leaf {frontier.size}'s bytes do not match its hash")
            if item["kind"] == "KEY_ROTATION":
                rotations.append(json.loads(data)["payload"])
            entries.append(ReplicaEntry(source=source, leaf_index=frontier.size, canonical=data, leaf_hash=leaf))
            frontier.append(leaf)
    if frontier.root() != cp.root:
        raise ReplicationRefused(f"block {height}: the entries do not make the signed root")
    if held is not None:
        proof = fetch(f"consistency/?from={held.tree_size}&to={cp.tree_size}")
        try:
            merkle.verify_consistency(
                held.tree_size, cp.tree_size, bytes(held.root), cp.root, [bytes.fromhex(h) for h in proof["proof"]]
            )
        except merkle.ProofError as exc:
            raise ReplicationRefused(f"block {height}: inconsistent with checkpoint {held.height}: {exc}") from exc

    with transaction.atomic():
        for payload in rotations:
            _key_rotation(source, payload, height)
        ReplicaEntry.objects.bulk_create(entries)
        return ReplicaCheckpoint.objects.create(
            source=source,
            height=height,
            tree_size=cp.tree_size,
            root=cp.root,
            block_hash=bhash,
            checkpoint=block["checkpoint"],
            frontier=b"".join(frontier.hashes),
            fetched_at=timezone.now(),
        )


def _key_rotation(source: str, payload: dict, height: int) -> None:
    public = base64.b64decode(payload["public_key"])
    ReplicaKey.objects.get_or_create(
        source=source,
        key_id=checkpoint.key_id(public),
        defaults={"name": payload["name"], "public_key": public, "from_height": height},
    )
    if payload.get("retire_key_id"):
        ReplicaKey.objects.filter(source=source, key_id=payload["retire_key_id"]).update(until_height=height)


# Each --follow round re-reads this many entries the replica holds (the API's default page, one request);
# over the tiles, one entry bundle (``tiles.TILE_WIDTH``, 256). N entries held are all compared again
# within ceil(N / page) rounds.
RECHECK_PAGE = 500
RECHECK_PAGE_TILES = tiles.TILE_WIDTH
MAX_ENTRIES_PAGE = 5000  # the most ``entries/`` gives at once


@dataclass
class RecheckResult:
    compared: int = 0
    next_leaf: int = 0


def replica_recheck(*, source: str, fetch: Fetch, start: int = 0, limit: int | None = None) -> RecheckResult:
    """Compare entries this replica holds with the bytes the source serves for them now: ``limit`` of them
    (every one when None) from leaf ``start``, or from leaf 0 once ``start`` is past the last held.

    A sync checks only what is new, and the source's proofs come from its stored Merkle nodes: a superuser who
    rewrites an old entry's bytes and leaves the nodes as they were goes unseen but by this comparison. Raises
    ``ReplicationRefused`` naming the first leaf that differs; ``next_leaf`` is where the next call goes on.
    """

    def read(leaf: int, count: int, size: int) -> list[bytes]:
        page = fetch(f"entries/?from={leaf}&limit={min(MAX_ENTRIES_PAGE, count)}")["results"]
        for at, item in enumerate(page):
            if item["leaf_index"] != leaf + at:
                raise ReplicationRefused(f"the source skips leaf {leaf + at}, which this replica holds")
        return [base64.b64decode(item["canonical"]) for item in page]

    return _recheck(source, start, limit, read)


def replica_recheck_tiles(*, source: str, fetch: FetchBytes, start: int = 0, limit: int | None = None) -> RecheckResult:
    """``replica_recheck`` over the tiles: the entry bundles that hold the leaves asked for.

    It sees what the tiles publish, not the database beneath them: the exchange serves a full bundle from a cache
    kept for good (``ledger.tiles``), and a static folder writes it once, so a superuser's rewrite under a full
    bundle is found by ``replica_recheck`` and ``ledger_verify``, not here (docs/ledger.md, "Replica"). It reads
    no API: the tiles may come from a static server with none.
    """

    def read(leaf: int, count: int, size: int) -> list[bytes]:
        n = leaf // tiles.TILE_WIDTH
        width = min(tiles.TILE_WIDTH, size - n * tiles.TILE_WIDTH)
        try:
            data = fetch(tiles.tile_path("entries", n, width))
        except SourceMissing:
            if width == tiles.TILE_WIDTH:
                raise
            # A static folder keeps only the partial bundles of its latest size; the full bundle starts alike.
            data = fetch(tiles.tile_path("entries", n))
        try:
            bundle = tiles.split_bundle(data)
        except ValueError as exc:
            raise ReplicationRefused(f"entry bundle {n}: {exc}") from exc
        return bundle[leaf - n * tiles.TILE_WIDTH :]

    return _recheck(source, start, limit, read)


def _recheck(source: str, start: int, limit: int | None, read: Callable[[int, int, int], list[bytes]]) -> RecheckResult:
    held = ReplicaCheckpoint.objects.filter(source=source).order_by("-height").first()
    size = held.tree_size if held else 0
    leaf = start if start < size else 0
    end = size if limit is None else min(size, leaf + limit)
    result = RecheckResult()
    while leaf < end:
        theirs = read(leaf, end - leaf, size)[: end - leaf]
        if not theirs:
            raise ReplicationRefused(f"the source no longer serves leaf {leaf}, which this replica holds")
        ours = dict(
            ReplicaEntry.objects.filter(
                source=source, leaf_index__gte=leaf, leaf_index__lt=leaf + len(theirs)
            ).values_list("leaf_index", "canonical")
        )
        for data in theirs:
            if leaf not in ours or bytes(ours[leaf]) != data:
                raise ReplicationRefused(
                    f"leaf {leaf} at the source differs from the copy this replica holds "
                    "(its bytes were changed after the replica verified them)"
                )
            leaf += 1
        result.compared += len(theirs)
    result.next_leaf = leaf if leaf < size else 0
    return result


def replica_recheck_round(*, source: str, fetch: Fetch, limit: int = RECHECK_PAGE) -> RecheckResult:
    """One ``--follow`` round of the re-check: ``replica_recheck`` of ``limit`` entries from the leaf the last
    round reached, which it then moves on (``replica_recheck_position``)."""
    return _recheck_round(source, lambda start: replica_recheck(source=source, fetch=fetch, start=start, limit=limit))


def replica_recheck_round_tiles(*, source: str, fetch: FetchBytes, limit: int = RECHECK_PAGE_TILES) -> RecheckResult:
    """``replica_recheck_round`` over the tiles."""
    return _recheck_round(
        source, lambda start: replica_recheck_tiles(source=source, fetch=fetch, start=start, limit=limit)
    )


def replica_recheck_position(*, source: str) -> int:
    """The leaf the next re-check round of ``source`` compares first: where the last one stopped, 0 at first."""
    return ReplicaRecheck.objects.filter(source=source).values_list("next_leaf", flat=True).first() or 0


def _recheck_round(source: str, compare: Callable[[int], RecheckResult]) -> RecheckResult:
    # The comparison reads the source over the network, so it runs outside the transaction; only a round that
    # found every entry as held moves the position on. A refusal, a source that does not answer or the
    # replica's database going away leaves it where it was: the next round, in this process or after a
    # restart, compares the same page again (and refuses again: a restart does not step over a rewrite).
    result = compare(replica_recheck_position(source=source))
    # update_or_create locks the row (SELECT … FOR UPDATE) and writes it in one transaction.
    ReplicaRecheck.objects.update_or_create(
        source=source, defaults={"next_leaf": result.next_leaf, "checked_at": timezone.now()}
    )
    return result


def replica_sync_tiles(*, source: str, fetch: FetchBytes) -> SyncResult:
    """Pull, verify and store the source's latest checkpoint and the entries up to it, from tiles.

    Raises ``ReplicationRefused`` on a rewrite or fork, ``SourceUnavailable`` when a resource is missing.
    """
    if not ReplicaKey.objects.filter(source=source).exists():
        raise ReplicationRefused("no trusted key for this source: set one up with --trust-key")
    held = ReplicaCheckpoint.objects.filter(source=source).order_by("-height").first()
    note = fetch("checkpoint").decode()
    try:
        cp = checkpoint.parse(note)
    except checkpoint.CheckpointError as exc:
        raise ReplicationRefused(f"checkpoint: {exc}") from exc
    result = SyncResult()
    if held is not None:
        result.height, result.tree_size = held.height, held.tree_size
        if cp.tree_size < held.tree_size:
            raise ReplicationRefused(
                f"the source's checkpoint has {cp.tree_size} leaves, fewer than the {held.tree_size} this replica holds"
            )
        if cp.tree_size == held.tree_size:
            if (cp.root, cp.height, cp.block_hash) != (bytes(held.root), held.height, bytes(held.block_hash)):
                raise ReplicationRefused(f"the source's checkpoint of size {cp.tree_size} differs from ours (a fork)")
            return result
        if cp.height <= held.height:
            raise ReplicationRefused(f"the source's checkpoint of height {cp.height} does not follow ours")
    try:
        signers = checkpoint.verified_signers(cp, _trusted_at(source, cp.height))
    except checkpoint.CheckpointError as exc:
        raise ReplicationRefused(f"checkpoint {cp.height}: {exc}") from exc
    if not signers:
        raise ReplicationRefused(
            f"checkpoint {cp.height}: not signed by any key this replica trusts "
            "(after a key rotation, trust the new key with --trust-key)"
        )

    frontier = _frontier(held)
    entries: list[ReplicaEntry] = []
    rotations: list[dict] = []
    while frontier.size < cp.tree_size:
        n = frontier.size // tiles.TILE_WIDTH
        width = min(tiles.TILE_WIDTH, cp.tree_size - n * tiles.TILE_WIDTH)
        try:
            bundle = tiles.split_bundle(fetch(tiles.tile_path("entries", n, width)))
        except ValueError as exc:
            raise ReplicationRefused(f"entry bundle {n}: {exc}") from exc
        if len(bundle) != width:
            raise ReplicationRefused(f"entry bundle {n} has {len(bundle)} entries, not {width}")
        for data in bundle[frontier.size - n * tiles.TILE_WIDTH :]:
            leaf = merkle.leaf_hash(data)
            try:
                decoded = json.loads(data)
            except ValueError as exc:
                raise ReplicationRefused(f"leaf {frontier.size} is not an entry: {exc}") from exc
            if decoded.get("kind") == "KEY_ROTATION":
                rotations.append(decoded["payload"])
            entries.append(ReplicaEntry(source=source, leaf_index=frontier.size, canonical=data, leaf_hash=leaf))
            frontier.append(leaf)
    if frontier.root() != cp.root:
        raise ReplicationRefused(
            f"checkpoint {cp.height}: the entries do not make the signed root"
            + (f" (or the tree does not extend checkpoint {held.height} this replica holds)" if held else "")
        )

    with transaction.atomic():
        for payload in rotations:
            _key_rotation(source, payload, cp.height)
        ReplicaEntry.objects.bulk_create(entries)
        ReplicaCheckpoint.objects.create(
            source=source,
            height=cp.height,
            tree_size=cp.tree_size,
            root=cp.root,
            block_hash=cp.block_hash,
            checkpoint=note,
            frontier=b"".join(frontier.hashes),
            fetched_at=timezone.now(),
        )
    return SyncResult(blocks=1, entries=len(entries), height=cp.height, tree_size=cp.tree_size)
