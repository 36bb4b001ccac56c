"""The tree served as C2SP tlog-tiles, and a replica that syncs from tiles alone.

The expected tile bytes are computed here from the specification's text (c2sp.org/tlog-tiles): hash ``i`` of
the level-``l`` tile ``n`` is MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]), with MTH as RFC 6962 §2.1
defines it, written again with hashlib, not with the project's Merkle code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import re
import threading

import pytest
from django.db import transaction
from django.test import Client

from core.models import Role
from ledger import checkpoint, tiles
from ledger.checkpoint import parse
from ledger.models import Block, Leaf, ReplicaCheckpoint, ReplicaEntry, ReplicaKey, SigningKey
from ledger.replica import (
    MAX_BUNDLE,
    ReplicationRefused,
    SourceUnavailable,
    http_tile_fetcher,
    replica_sync,
    replica_sync_tiles,
    trust_keys,
)
from ledger.services import block_seal, entries_append, signed_note
from tests.conftest import api_for, log_in


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash of the entries ``leaves`` (their bytes)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _expected_tile(entries: list[bytes], level: int, n: int, width: int) -> bytes:
    span = 256**level
    return b"".join(_mth(entries[(n * 256 + i) * span : (n * 256 + i + 1) * span]) for i in range(width))


def _append(count: int, tag: str) -> None:
    with transaction.atomic():
        entries_append(
            kind="DISCLOSURE",
            payloads=[{"security": "TST", "title": f"{tag} {i}", "n": i} for i in range(count)],
        )


@pytest.fixture
def ledger(market):
    """A ledger of three blocks and 600 leaves: two full level-0 tiles, a partial one of 88, a level-1 of 2."""
    block_seal()  # whatever the market fixture wrote
    already = Leaf.objects.count()
    _append(300 - already, "a")
    block_seal()
    _append(300, "b")
    block_seal()
    assert Leaf.objects.count() == 600
    return [bytes(lf.entry.canonical) for lf in Leaf.objects.select_related("entry").order_by("leaf_index")]


def _anonymous():
    return Client()


def test_hash_tiles_are_the_merkle_subtree_hashes_the_spec_defines(ledger):
    client = _anonymous()

    full0 = client.get("/ledger/tile/0/000")
    full1 = client.get("/ledger/tile/0/001")
    partial0 = client.get("/ledger/tile/0/002.p/88")
    partial1 = client.get("/ledger/tile/1/000.p/2")

    for resp in (full0, full1, partial0, partial1):
        assert resp.status_code == 200, resp.content
        assert resp["Content-Type"] == "application/octet-stream"
    assert full0.content == _expected_tile(ledger, 0, 0, 256)
    assert full1.content == _expected_tile(ledger, 0, 1, 256)
    assert partial0.content == _expected_tile(ledger, 0, 2, 88)
    assert partial1.content == _expected_tile(ledger, 1, 0, 2)
    assert len(full0.content) == 8192
    # a partial tile of a smaller width is the prefix (it served an earlier checkpoint)
    assert client.get("/ledger/tile/0/002.p/44").content == partial0.content[: 44 * 32]


def test_tiles_full_or_partial_are_immutable_the_checkpoint_is_not(ledger):
    client = _anonymous()
    assert client.get("/ledger/tile/0/001")["Cache-Control"] == "public, max-age=31536000, immutable"
    # C2SP tlog-tiles: the tile endpoint is immutable; a partial tile's width fixes its content
    assert client.get("/ledger/tile/0/002.p/88")["Cache-Control"] == "public, max-age=31536000, immutable"
    cp = client.get("/ledger/checkpoint")
    assert cp.status_code == 200
    assert cp["Content-Type"] == "text/plain; charset=utf-8"
    assert "immutable" not in cp["Cache-Control"] and "max-age=5" in cp["Cache-Control"]
    # the checkpoint is the head's signed note, and its root is the spec's root of all 600 entries
    note = parse(cp.content.decode())
    assert (note.tree_size, note.root) == (600, _mth(ledger))
    assert note.height == Block.objects.order_by("-height").first().height


def test_the_checkpoints_address_with_a_slash_leads_to_the_checkpoint(market):
    # given a sealed ledger
    block_seal()
    blocks = Block.objects.count()
    browser = Client(HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    # when a browser asks for /ledger/checkpoint/, as a page's address is written
    answer = browser.get("/ledger/checkpoint/")
    # then it is led, for good, to the checkpoint C2SP names, which is the signed note; nothing was sealed for it
    assert (answer.status_code, answer["Location"]) == (301, "/ledger/checkpoint")
    note = browser.get(answer["Location"])
    assert note.status_code == 200 and note["Content-Type"] == "text/plain; charset=utf-8"
    assert parse(note.content.decode()).tree_size == Leaf.objects.count()
    assert Block.objects.count() == blocks


def test_a_full_tile_is_served_again_from_the_cache_unchanged(ledger, django_assert_max_num_queries):
    client = _anonymous()
    first = client.get("/ledger/tile/0/000").content
    with django_assert_max_num_queries(2):  # the head and the genesis block; not the tile's rows
        again = client.get("/ledger/tile/0/000").content
    assert again == first


@pytest.mark.parametrize(
    "path",
    [
        "/ledger/tile/0/003",  # beyond the tree
        "/ledger/tile/0/002",  # not full yet
        "/ledger/tile/0/002.p/89",  # wider than the tree
        "/ledger/tile/1/000",  # a full level-1 tile needs 65,536 leaves
        "/ledger/tile/0/2",  # not three digits
        "/ledger/tile/0/x000/001",  # not the canonical encoding of 1
        "/ledger/tile/0/001.p/0",  # widths are 1 to 255
        "/ledger/tile/0/001.p/256",
        "/ledger/tile/0/001.p/012",
        "/ledger/tile/64/000.p/1",  # levels are 0 to 63
        "/ledger/tile/01/000.p/1",
        "/ledger/tile/entries/003",
        "/ledger/tile/entries/002.p/89",
        "/ledger/tile/0/0.p/23",  # misspelt: an index is three digits a segment, a width positive
        "/ledger/tile/0/000.p/-1",
        "/ledger/tile/0/000.p/23/",
        "/ledger/tile/",
        # C2SP: decimal ASCII; another script's digits are not a width (found by an outside verifier: 1 and an
        # Arabic-Indic zero served a tile of width 10, cached as immutable)
        "/ledger/tile/0/001.p/1\u0660",
        "/ledger/tile/entries/001.p/1\u0660",
        "/ledger/tile/1\u0660/000.p/1",
        "/ledger/tile/0/001.p/1%0A",  # a newline after the width: still the API's 404, not the site's page
    ],
)
def test_paths_outside_the_tree_are_404(ledger, market, path):
    client = api_for(market.user(Role.REGULATOR))
    resp = client.get(path)
    # a JSON 404 in the API's error shape, never the site's HTML page
    assert resp.status_code == 404 and resp["Content-Type"] == "application/json"
    assert resp.json()["code"] == "not_found"


def test_before_the_first_seal_there_is_no_checkpoint_and_no_tile(db):
    client = _anonymous()
    # and no cache keeps the 404 of what may exist in a second (found by a probe: no Cache-Control at all)
    for path in ("/ledger/checkpoint", "/ledger/tile/0/000.p/1"):
        resp = client.get(path)
        assert (resp.status_code, resp["Cache-Control"]) == (404, "no-store"), path


def test_a_tile_beyond_the_tree_is_a_404_no_cache_keeps(ledger):
    resp = _anonymous().get("/ledger/tile/0/003")
    assert (resp.status_code, resp["Cache-Control"]) == (404, "no-store")
    assert _anonymous().get("/ledger/tile/0/000.p/1")["Cache-Control"] == "public, max-age=31536000, immutable"


def test_entry_bundles_carry_each_leafs_canonical_bytes_after_a_uint16_length(ledger, market):
    client = api_for(market.user(Role.REGULATOR))

    full = client.get("/ledger/tile/entries/001")
    partial = client.get("/ledger/tile/entries/002.p/88")

    assert full.status_code == partial.status_code == 200
    assert "no-store" in full["Cache-Control"]  # the bytes of entries stay out of shared caches
    expected = b"".join(len(e).to_bytes(2, "big") + e for e in ledger[256:512])
    assert full.content == expected
    assert partial.content == b"".join(len(e).to_bytes(2, "big") + e for e in ledger[512:600])


def test_entry_bundles_are_for_supervisors_only(ledger, market):
    investor = market.investor(cash="10")
    assert api_for(investor.owner).get("/ledger/tile/entries/000").status_code == 403
    assert _anonymous().get("/ledger/tile/entries/000").status_code in (401, 403)
    # hash tiles and the checkpoint are hashes only: anyone, and a CDN, may serve them
    assert _anonymous().get("/ledger/tile/0/000").status_code == 200


# --------------------------------------------------------------------------
# A replica synced from tiles alone equals one synced from the JSON API

API_SOURCE = "https://exchange.test"
TILE_SOURCE = "https://cdn.exchange.test/ledger"


def _fetchers(market):
    regulator = market.user(Role.REGULATOR)
    client = api_for(regulator)

    def fetch_api(path):
        resp = client.get("/api/v1/ledger/" + path)
        if resp.status_code != 200:
            raise SourceUnavailable(f"{path}: {resp.status_code}")
        return resp.json()

    fetched: list[str] = []

    def fetch_tiles(path):
        fetched.append(path)
        resp = client.get("/ledger/" + path)
        if resp.status_code != 200:
            raise SourceUnavailable(f"{path}: {resp.status_code}")
        return resp.content

    key = SigningKey.objects.get()
    for source in (API_SOURCE, TILE_SOURCE):
        trust_keys(source, [(key.name, bytes(key.public_key), None)])
    return fetch_api, fetch_tiles, fetched


def _copy(source):
    # In leaf order: a scan's order is not (another test's rolled-back rows moved it, and the export test failed)
    rows = ReplicaEntry.objects.filter(source=source).order_by("leaf_index")
    return [(e.leaf_index, bytes(e.canonical), bytes(e.leaf_hash)) for e in rows]


def test_a_replica_synced_from_tiles_equals_one_synced_from_the_api(ledger, market):
    # given two replicas of one node, one reading its JSON API, one reading only its tiles
    fetch_api, fetch_tiles, fetched = _fetchers(market)

    # when both sync
    replica_sync(source=API_SOURCE, fetch=fetch_api)
    result = replica_sync_tiles(source=TILE_SOURCE, fetch=fetch_tiles)

    # then they hold the same entries and the same latest checkpoint, and the tile replica read only tiles
    assert (result.tree_size, result.entries) == (600, 600)
    assert (
        _copy(TILE_SOURCE)
        == sorted(_copy(API_SOURCE))
        == [(i, e, hashlib.sha256(b"\x00" + e).digest()) for i, e in enumerate(ledger)]
    )
    api_head = ReplicaCheckpoint.objects.filter(source=API_SOURCE).order_by("-height").first()
    tile_head = ReplicaCheckpoint.objects.get(source=TILE_SOURCE)
    for field in ("height", "tree_size", "root", "block_hash", "checkpoint", "frontier"):
        a, b = getattr(api_head, field), getattr(tile_head, field)
        assert (bytes(a) if isinstance(a, memoryview) else a) == (bytes(b) if isinstance(b, memoryview) else b)
    assert fetched == ["checkpoint", "tile/entries/000", "tile/entries/001", "tile/entries/002.p/88"]

    # and when the node grows, the tile replica fetches from the partial bundle on, and still equals the other
    fetched.clear()
    _append(10, "c")
    block_seal()
    replica_sync(source=API_SOURCE, fetch=fetch_api)
    again = replica_sync_tiles(source=TILE_SOURCE, fetch=fetch_tiles)
    assert (again.entries, again.tree_size) == (10, 610)
    assert fetched == ["checkpoint", "tile/entries/002.p/98"]
    assert _copy(TILE_SOURCE) == sorted(_copy(API_SOURCE))
    # nothing new: nothing stored
    assert replica_sync_tiles(source=TILE_SOURCE, fetch=fetch_tiles).blocks == 0
    assert ReplicaCheckpoint.objects.filter(source=TILE_SOURCE).count() == 2


def test_a_tile_replica_refuses_a_rewritten_entry_and_stores_nothing(ledger, market):
    # given a tile replica whose source serves one entry byte changed
    _, fetch_tiles, _ = _fetchers(market)

    def tampered(path):
        data = fetch_tiles(path)
        if path == "tile/entries/001":
            data = data.replace(b'"title":"a 260"', b'"title":"a 261"', 1)
        return data

    # when it syncs, then it refuses, and holds nothing
    with pytest.raises(ReplicationRefused, match="do not make the signed root"):
        replica_sync_tiles(source=TILE_SOURCE, fetch=tampered)
    assert not ReplicaEntry.objects.filter(source=TILE_SOURCE).exists()
    assert not ReplicaCheckpoint.objects.filter(source=TILE_SOURCE).exists()


def test_a_rewrite_under_a_cached_full_bundle_is_seen_by_the_api_recheck_and_ledger_verify_not_through_tiles(
    ledger, market
):
    # What docs/ledger.md ("Replica") says each check catches (found by an outside tester: the docs said a tile
    # replica's re-check finds a database rewrite within ceil(N / 256) rounds, but full bundles are cached for good)
    from ledger.replica import replica_recheck, replica_recheck_tiles
    from ledger.verification import ledger_verify
    from tests.tampering import superuser_rewrite

    # given two replicas of the node, one from its API and one from its tiles, which served (and cached) bundle 0
    fetch_api, fetch_tiles, _ = _fetchers(market)
    replica_sync(source=API_SOURCE, fetch=fetch_api)
    replica_sync_tiles(source=TILE_SOURCE, fetch=fetch_tiles)
    bundle = fetch_tiles("tile/entries/000")
    # when a database superuser rewrites the bytes of leaf 3, inside that full bundle
    entry = Leaf.objects.select_related("entry").get(leaf_index=3).entry
    rewritten = bytes(entry.canonical).replace(b'"title":"a ', b'"title":"z ', 1)
    assert rewritten != bytes(entry.canonical)
    superuser_rewrite("UPDATE ledger_entry SET canonical = %s WHERE id = %s", [rewritten, entry.pk], which="USER")
    # then the tiles go on serving the bytes the checkpoint signed, so the tile replica's re-check finds every
    # entry as it holds it
    assert fetch_tiles("tile/entries/000") == bundle
    assert replica_recheck_tiles(source=TILE_SOURCE, fetch=fetch_tiles).compared == 600
    # but the API replica's re-check (entries/ reads the database) names the leaf, and so does ledger_verify
    assert base64.b64decode(fetch_api("entries/?from=3&limit=1")["results"][0]["canonical"]) == rewritten
    with pytest.raises(ReplicationRefused, match="leaf 3 at the source differs"):
        replica_recheck(source=API_SOURCE, fetch=fetch_api)
    assert ledger_verify().first.leaf_index == 3
    # and both replicas still hold the bytes they verified
    assert _copy(API_SOURCE)[3][1] == _copy(TILE_SOURCE)[3][1] == ledger[3]


def test_a_tile_replica_refuses_a_checkpoint_that_is_not_signed_by_a_trusted_key(ledger, market):
    _, fetch_tiles, _ = _fetchers(market)

    def forged(path):
        data = fetch_tiles(path)
        if path == "checkpoint":
            body, _, sigs = data.decode().partition("\n\n")
            data = (body + "\n\n" + sigs.replace(sigs.split(" ")[1], "someone-else", 1)).encode()
        return data

    with pytest.raises(ReplicationRefused, match="not signed by any key this replica trusts"):
        replica_sync_tiles(source=TILE_SOURCE, fetch=forged)
    assert not ReplicaCheckpoint.objects.filter(source=TILE_SOURCE).exists()


def test_a_tile_replica_refuses_a_shrunk_log(ledger, market):
    _, fetch_tiles, _ = _fetchers(market)
    replica_sync_tiles(source=TILE_SOURCE, fetch=fetch_tiles)
    first_block = Block.objects.order_by("height").first()

    def shrunk(path):
        return signed_note(first_block).encode() if path == "checkpoint" else fetch_tiles(path)

    with pytest.raises(ReplicationRefused, match="fewer than"):
        replica_sync_tiles(source=TILE_SOURCE, fetch=shrunk)
    assert ReplicaCheckpoint.objects.filter(source=TILE_SOURCE).count() == 1


def test_the_command_syncs_from_tiles(ledger, market, monkeypatch, capsys):
    import base64

    from django.core.management import call_command

    from ledger.management.commands import ledger_replicate

    _, fetch_tiles, _ = _fetchers(market)
    monkeypatch.setattr(ledger_replicate, "http_tile_fetcher", lambda prefix, token: fetch_tiles)
    key = SigningKey.objects.get()
    call_command(
        "ledger_replicate",
        "--from-tiles",
        "https://other.test/ledger",
        "--trust-key",
        f"{key.name}={base64.b64encode(bytes(key.public_key)).decode()}",
    )
    assert "tree size 600" in capsys.readouterr().out
    assert ReplicaEntry.objects.filter(source="https://other.test/ledger").count() == 600


def test_the_command_trusts_a_verifier_key_as_ledger_keys_prints_it(ledger, market, monkeypatch, capsys):
    from django.core.management import call_command

    from ledger.management.commands import ledger_replicate
    from ledger.verifier import verifier_key

    # given the node's key as a verifier key (name+hash+base64), the form C2SP's notes and `ledger_keys` use
    _, fetch_tiles, _ = _fetchers(market)
    monkeypatch.setattr(ledger_replicate, "http_tile_fetcher", lambda prefix, token: fetch_tiles)
    key = SigningKey.objects.get()
    vkey = verifier_key(key.name, bytes(key.public_key))

    # when a replica is started with it
    call_command("ledger_replicate", "--from-tiles", "https://vkey.test/ledger", "--trust-key", vkey)

    # then it trusted that key and synced every entry
    assert "tree size 600" in capsys.readouterr().out
    assert ReplicaEntry.objects.filter(source="https://vkey.test/ledger").count() == 600
    assert list(ReplicaKey.objects.filter(source="https://vkey.test/ledger").values_list("name", flat=True)) == [
        key.name
    ]


@pytest.mark.parametrize(
    "given, says",
    [
        ("exchange", "--trust-key wants NAME=BASE64 or a verifier key"),
        ("exchange=not*base64", "--trust-key exchange: the key is not base64"),
        ("exchange+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(), "hash does not match"),
    ],
)
def test_the_command_refuses_a_key_it_cannot_read_and_copies_nothing(ledger, market, monkeypatch, given, says):
    from django.core.management import CommandError, call_command

    from ledger.management.commands import ledger_replicate

    _, fetch_tiles, _ = _fetchers(market)
    monkeypatch.setattr(ledger_replicate, "http_tile_fetcher", lambda prefix, token: fetch_tiles)

    # when a replica is started with a key it cannot read, then it says why, and nothing is trusted or copied
    with pytest.raises(CommandError, match=re.escape(says)):
        call_command("ledger_replicate", "--from-tiles", "https://bad.test/ledger", "--trust-key", given)
    assert not ReplicaKey.objects.filter(source="https://bad.test/ledger").exists()
    assert not ReplicaEntry.objects.filter(source="https://bad.test/ledger").exists()


def test_the_export_writes_the_tiles_a_static_server_serves_and_a_replica_syncs_from_the_folder(ledger, tmp_path):
    from django.core.management import call_command

    # given the tiles exported into a folder
    call_command("ledger_tiles_export", "--out", str(tmp_path), "--entries")
    client = _anonymous()
    for path in ("tile/0/000", "tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"):
        assert (tmp_path / path).read_bytes() == client.get("/ledger/" + path).content
    assert parse((tmp_path / "checkpoint").read_text()).tree_size == 600

    # when a replica reads only the folder, then it holds the node's entries
    key = SigningKey.objects.get()
    trust_keys("file://tiles", [(key.name, bytes(key.public_key), None)])

    def read(path):
        try:
            return (tmp_path / path).read_bytes()
        except FileNotFoundError as exc:
            raise SourceUnavailable(path) from exc

    replica_sync_tiles(source="file://tiles", fetch=read)
    assert [e for _, e, _ in _copy("file://tiles")] == ledger

    # and a second export after more entries adds the new tiles and leaves the full ones as they were
    before = (tmp_path / "tile/0/000").stat().st_mtime_ns
    _append(200, "d")
    block_seal()
    call_command("ledger_tiles_export", "--out", str(tmp_path), "--entries")
    assert (tmp_path / "tile/0/000").stat().st_mtime_ns == before
    assert (tmp_path / "tile/0/002").read_bytes() == _expected_tile(ledger + _new_entries(600), 0, 2, 256)
    assert (tmp_path / "tile/0/003.p/32").exists()
    replica_sync_tiles(source="file://tiles", fetch=read)
    assert len(_copy("file://tiles")) == 800


def _new_entries(start: int) -> list[bytes]:
    leaves = Leaf.objects.select_related("entry").filter(leaf_index__gte=start).order_by("leaf_index")
    return [bytes(lf.entry.canonical) for lf in leaves]


def test_a_bundle_with_an_entry_over_65535_bytes_is_a_409_and_its_hash_tile_is_still_served(market):
    # given a sealed ledger with one entry too long for a uint16 length prefix
    block_seal()
    with transaction.atomic():
        entries_append(kind="DISCLOSURE", payloads=[{"security": "TST", "title": "x" * 70_000}])
    block_seal()
    size = Leaf.objects.count()
    client = api_for(market.user(Role.REGULATOR))

    # when a replica asks for its entry bundle, then it is told why, and the hash tile is unaffected
    resp = client.get(f"/ledger/tile/entries/000.p/{size}")
    assert resp.status_code == 409
    assert resp.json()["code"] == "entry_too_large"
    assert _anonymous().get(f"/ledger/tile/0/000.p/{size}").status_code == 200


def test_an_outside_client_reads_the_checkpoint_and_the_keys_without_signing_in_and_checks_the_signature(ledger):
    # given a sealed ledger, and a client with no account on the exchange
    client = _anonymous()
    # when it reads the checkpoint, then the published keys, both without a login
    note = client.get("/ledger/checkpoint")
    keys = client.get("/api/v1/ledger/keys/")
    assert (note.status_code, keys.status_code) == (200, 200), keys.content
    assert client.get("/api/v1/ledger/witnesses/").status_code == 200
    # then a key it was given verifies the checkpoint's signature
    trusted = [checkpoint.parse_verifier_key(k["verifier_key"]) for k in keys.json()]
    signed_by = checkpoint.verified_signers(parse(note.content.decode()), [(n, pub) for n, _, pub in trusted])
    assert signed_by


def test_a_signed_in_reader_gets_the_public_tiles_with_their_own_caching(ledger, market):
    # given a signed-in supervisor (an answer to a signed-in user is no-store, unless its view marked it public)
    auditor = api_for(market.user(Role.AUDITOR))
    # when it reads a full tile, a partial one and an entry bundle
    full = auditor.get("/ledger/tile/0/001")["Cache-Control"]
    partial = auditor.get("/ledger/tile/0/002.p/88")["Cache-Control"]
    bundle = auditor.get("/ledger/tile/entries/000")["Cache-Control"]
    # then the hash tiles keep their caching, with nothing contradicting it, and the entries stay private
    assert full == partial == "public, max-age=31536000, immutable"
    assert "no-store" in bundle and "public" not in bundle


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [("gzip, identity", True), ("br;q=1.0, gzip;q=0.8", True), ("gzip;q=0", False), ("identity", False), ("", False)],
)
def test_entry_bundles_come_gzipped_to_a_client_that_accepts_it(ledger, market, accept, gzipped):
    # given a supervisor's client, and the bundle as stored
    client = api_for(market.user(Role.REGULATOR))
    plain = client.get("/ledger/tile/entries/000").content
    # when it asks for the bundle with its Accept-Encoding
    resp = client.get("/ledger/tile/entries/000", HTTP_ACCEPT_ENCODING=accept)
    # then it is gzip only when accepted (C2SP tlog-tiles: SHOULD be compressed), the same bytes either way
    assert resp.status_code == 200 and "Accept-Encoding" in resp["Vary"]
    assert (resp.get("Content-Encoding") == "gzip") == gzipped
    assert (gzip.decompress(resp.content) if gzipped else resp.content) == plain
    if gzipped:
        assert len(resp.content) < len(plain) / 2


def _serve_once(body: bytes, encoding: str | None):
    """A one-page HTTP server answering every GET with ``body`` (gzipped, named ``encoding``, when the client
    accepts gzip and ``encoding`` is given); what the client sent is kept in ``seen``."""
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen["accept"] = self.headers.get("Accept-Encoding", "")
            zipped = encoding is not None and "gzip" in seen["accept"]
            data = gzip.compress(body) if zipped else body
            self.send_response(200)
            if zipped:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", None])
def test_the_tile_fetcher_asks_for_gzip_and_reads_it(db, encoding):
    # given a tiles server that gzips what it sends to a client that asks for it (or not at all)
    body = b"\x00\x05hello" * 100
    server, seen = _serve_once(body, encoding)
    try:
        # when the replica's fetcher reads an entry bundle
        got = http_tile_fetcher(f"http://127.0.0.1:{server.server_address[1]}/ledger", None)("tile/entries/000")
    finally:
        server.shutdown()
    # then it asked for gzip and got the bytes as they were
    assert "gzip" in seen["accept"] and got == body


def test_the_tile_fetcher_refuses_a_gzip_body_larger_than_any_bundle(db):
    # given a source whose "bundle" inflates beyond the largest a bundle can be (256 entries of 65,535 bytes)
    server, _seen = _serve_once(b"\x00" * (MAX_BUNDLE + 1), "gzip")
    try:
        # when the replica reads it, then it stops at the bound and says so, rather than filling its memory
        with pytest.raises(SourceUnavailable, match="larger than any bundle"):
            http_tile_fetcher(f"http://127.0.0.1:{server.server_address[1]}/ledger", None)("tile/entries/000")
    finally:
        server.shutdown()


def test_a_signed_in_staff_members_session_cookie_never_rides_on_a_public_tile(ledger, market):
    # given a regulator signed in on the web (a session cookie; the idle timer lives in the session)
    browser = Client()
    log_in(browser, market.user(Role.REGULATOR))
    browser.get("/audit/")  # activity: the session is written on this page
    # when the regulator's browser reads the checkpoint and a full tile
    for path in ("/ledger/checkpoint", "/ledger/tile/0/001"):
        resp = browser.get(path)
        # then the answer keeps its public caching and sets no cookie (a shared cache may keep it)
        assert resp.status_code == 200 and "public" in resp["Cache-Control"], path
        assert "sessionid" not in resp.cookies and "no-store" not in resp["Cache-Control"], path


def test_a_public_answer_varies_on_neither_cookie_nor_language(ledger, market):
    # (found by a probe: tiles and the checkpoint carried "Vary: Accept-Language, Cookie" and "Content-Language",
    # so a shared cache kept one copy per visitor and language, or none)
    browser = Client()
    log_in(browser, market.user(Role.REGULATOR))
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="en")
    for path in ("/ledger/checkpoint", "/ledger/tile/0/001", "/ledger/tile/0/002.p/88"):
        for reader in (browser, anonymous):
            # when a signed-in browser or an anonymous English reader reads a public answer
            resp = reader.get(path)
            # then it is the same answer for both: no Vary on Cookie or Accept-Language, no Content-Language
            assert resp.status_code == 200 and "public" in resp["Cache-Control"], path
            vary = resp.get("Vary", "").lower()
            assert "cookie" not in vary and "accept-language" not in vary and "Content-Language" not in resp, path
    # and a private answer still varies on the cookie and the language
    bundle = api_for(market.user(Role.REGULATOR)).get("/ledger/tile/entries/000", HTTP_ACCEPT_ENCODING="gzip")
    assert "Accept-Encoding" in bundle["Vary"]
    page = browser.get("/ledger/")
    assert "Cookie" in page["Vary"] and "Accept-Language" in page["Vary"] and "Content-Language" in page


@pytest.mark.parametrize("path", ["/ledger/tile/0/%00", "/ledger/tile/0/000.p/1?x=%00", "/ledger/checkpoint?%00"])
def test_a_nul_byte_in_a_tile_or_checkpoint_url_is_a_json_400(ledger, path):
    # given a reader of the tiles, a program (docs/ledger.md, "Tiles": their errors are the API's JSON)
    # when the URL carries a NUL byte
    resp = _anonymous().get(path)
    # then the refusal is a 400 in the API's error shape, not the site's text/html
    assert resp.status_code == 400 and resp["Content-Type"] == "application/json"
    assert resp.json()["code"] == "invalid_input"


def test_a_nul_byte_in_a_page_url_is_still_an_html_400(db):
    # given a page (not the API, not the tiles): its refusal stays plain text for the browser
    resp = _anonymous().get("/ledger/%00")
    assert resp.status_code == 400 and resp["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("width", "index"),
    [
        ("1\u0660", "x001/01\u0660"),
        ("\u0661", "\u0661\u0660\u0660"),
        ("2\u0665\u0665", "x\u0660\u0660\u0661/000"),
        ("1\n", "001\n"),
    ],
)
def test_a_width_or_index_in_another_scripts_digits_is_no_tile(width, index):
    # given C2SP's paths, whose numbers are decimal ASCII (Python's int() also reads other scripts' digits)
    # when a width or an index is spelt with them (or ends in a newline)
    # then it is no tile, as any other misspelling (the views answer 404)
    with pytest.raises(tiles.TileUnavailable):
        tiles.parse_width(width)
    with pytest.raises(tiles.TileUnavailable):
        tiles.decode_index(index)
    # and the ASCII spellings still read
    assert (tiles.parse_width("10"), tiles.decode_index("x001/010")) == (10, 1010)
