"""A following replica (``ledger_replicate --follow``) outlives what is transient and stops on what is not.

Transient: the source not answering (a 5xx, a timeout, a dropped connection). Not transient, so the
command exits non-zero with one line saying why: a definite answer that the history changed (a refusal).
Either way the replica's own copy stays as it was.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import socket
import threading
import time
from datetime import timedelta

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import token_digest, token_issue, tokens_revoke
from ledger.management.commands import ledger_replicate
from ledger.models import Leaf, ReplicaCheckpoint, ReplicaEntry, ReplicaKey, ReplicaRecheck, SigningKey
from ledger.replica import (
    ReplicationRefused,
    SourceAccessDenied,
    SourceMissing,
    SourceUnavailable,
    http_fetcher,
    replica_recheck_tiles,
    replica_sync,
    replica_sync_tiles,
    source_error,
    trust_keys,
)
from tests.conftest import api_for, totp_code, totp_enrol
from tests.tampering import superuser_rewrite
from tests.test_replica import SOURCE, api_fetch, source_node


@pytest.fixture
def node(market):
    regulator, trade_and_seal = source_node(market)
    return api_fetch(api_for(regulator)), trade_and_seal


class Stop(Exception):
    """Ends a ``--follow`` run in a test, from its wait between rounds."""


def follow(monkeypatch, fetch, *, rounds: int, between=lambda n: None, args=(), ends=Stop):
    """``ledger_replicate --follow`` through ``fetch`` for ``rounds`` rounds (``between(n)`` runs after round
    n), or until it raises ``ends``: (the rounds it finished, the exception it ended with)."""
    done: list[int] = []

    def wait(seconds):
        done.append(1)
        between(len(done))
        if len(done) >= rounds:
            raise Stop

    monkeypatch.setattr(ledger_replicate, "http_fetcher", lambda source, token: fetch)
    monkeypatch.setattr(ledger_replicate, "sleep", wait)
    with pytest.raises(ends) as ended:
        call_command("ledger_replicate", "--from", SOURCE, "--token", "t", "--follow", *args)
    return len(done), ended.value


def answering(fetch, path: str, status: int, *, times: int = 1, body: bytes = b"<html>Bad Gateway</html>"):
    """``fetch`` behind a proxy that answers ``status`` to the next ``times`` requests for ``path``."""
    left = [times]

    def proxied(p):
        if p == path and left[0]:
            left[0] -= 1
            raise source_error(p, status, body)
        return fetch(p)

    return proxied


def copy() -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """The replica's own copy: (height, block hash) of each checkpoint and (leaf index, bytes) of each entry."""
    checkpoints = [(c.height, bytes(c.block_hash)) for c in ReplicaCheckpoint.objects.order_by("height")]
    entries = [(e.leaf_index, bytes(e.canonical)) for e in ReplicaEntry.objects.order_by("leaf_index")]
    return checkpoints, entries


# --------------------------------------------------------------------------
# A transient error of the source is not a refusal


def test_a_502_for_the_block_the_replica_holds_is_the_source_unavailable_not_a_refusal(node):
    # given a replica holding blocks 0 and 1
    fetch, _ = node
    replica_sync(source=SOURCE, fetch=fetch)
    held = copy()

    # when a proxy answers 502 to the request for block 1
    with pytest.raises(SourceUnavailable, match="blocks/1/: HTTP 502") as raised:
        replica_sync(source=SOURCE, fetch=answering(fetch, "blocks/1/", 502))

    # then the source is unavailable (asked again later), not refused, and the copy is as it was
    assert not isinstance(raised.value, ReplicationRefused)
    assert copy() == held


def test_a_404_for_the_block_the_replica_holds_is_still_a_refusal(node):
    # given a replica holding blocks 0 and 1
    fetch, _ = node
    replica_sync(source=SOURCE, fetch=fetch)
    held = copy()

    # when the source answers that it has no block 1, then the replica refuses, its copy as it was
    with pytest.raises(ReplicationRefused, match="the source no longer serves block 1: blocks/1/: HTTP 404"):
        replica_sync(source=SOURCE, fetch=answering(fetch, "blocks/1/", 404, body=b'{"code": "not_found"}'))
    assert copy() == held


def test_a_following_replica_outlives_one_502_and_copies_the_next_block(node, monkeypatch, capsys):
    fetch, trade_and_seal = node
    proxy = {"fetch": fetch}

    def between(n):
        if n == 1:  # after the first round (blocks 0 and 1 copied): one 502 for block 1, and a block 2
            proxy["held"] = copy()
            proxy["fetch"] = answering(fetch, "blocks/1/", 502)
            trade_and_seal()

    # given a following replica, when the proxy answers 502 once in the second round
    follow(monkeypatch, lambda path: proxy["fetch"](path), rounds=3, between=between)

    # then it said so, asked again, and the third round copied block 2 over the untouched blocks 0 and 1
    out, err = capsys.readouterr()
    assert "source unavailable, retrying: blocks/1/: HTTP 502 <html>Bad Gateway</html>" in err
    assert "REFUSED" not in err
    assert [h for h, _ in copy()[0]] == [0, 1, 2]
    checkpoints, entries = proxy["held"]
    assert copy()[0][:2] == checkpoints and copy()[1][: len(entries)] == entries
    assert "replicated 1 block(s)" in out


# --------------------------------------------------------------------------
# What the HTTP client makes of the source's answers


# The HTTP client's timeout in these tests: long enough for any answer of a stub on this machine, however loaded
# (it was 0.3 s, which a loaded CI machine can miss for an answer that comes at once), and the stub's late answer
# comes well after it.
FETCH_TIMEOUT = 2.0


class _Stub(http.server.BaseHTTPRequestHandler):
    """A source (or the proxy before it) answering by path: 502, 404, 401, too late, or not at all."""

    def do_GET(self):
        what = self.path.removeprefix("/api/v1/ledger/")
        if what == "late/":
            time.sleep(FETCH_TIMEOUT + 2)
        if what == "dropped/":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, body = {
            "head/": (200, {"tree_size": 1}),
            "gateway/": (502, "<html>\n<h1>502 Bad Gateway</h1>\n</html>"),
            "missing/": (404, {"code": "not_found", "message": "No such block."}),
            "expired/": (401, {"code": "authentication_failed", "message": "The API token has expired."}),
            "forbidden/": (403, {"code": "permission_denied", "message": "Only supervisors."}),
        }.get(what, (200, {}))
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_http_client_tells_no_answer_from_a_missing_resource_and_from_a_refused_token(stub):
    # given the replica's HTTP client of a source
    fetch = http_fetcher(stub, "token", timeout=FETCH_TIMEOUT)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on
    nobody = http_fetcher(f"http://127.0.0.1:{closed.getsockname()[1]}", "token", timeout=FETCH_TIMEOUT)

    # when the source answers, then the answer
    assert fetch("head/") == {"tree_size": 1}

    # when it answers a 5xx, too late, not at all, or is not there: unavailable (asked again), on one line
    for path, says in [
        ("gateway/", "gateway/: HTTP 502 <html> <h1>502 Bad Gateway</h1> </html>"),
        ("late/", "late/: "),
        ("dropped/", "dropped/: "),
    ]:
        with pytest.raises(SourceUnavailable) as raised:
            fetch(path)
        assert type(raised.value) is SourceUnavailable and str(raised.value).startswith(says)
        assert "\n" not in str(raised.value)
    with pytest.raises(SourceUnavailable, match="head/: .*[Rr]efused"):
        nobody("head/")
    closed.close()

    # when it answers 404: missing, with the server's code and message
    with pytest.raises(SourceMissing, match="missing/: HTTP 404 not_found: No such block."):
        fetch("missing/")

    # when it answers 401 or 403: the token refused, which is not a SourceUnavailable (not asked again)
    with pytest.raises(SourceAccessDenied, match="expired/: HTTP 401 authentication_failed: The API token has"):
        fetch("expired/")
    with pytest.raises(SourceAccessDenied, match="forbidden/: HTTP 403 permission_denied"):
        fetch("forbidden/")
    assert not issubclass(SourceAccessDenied, SourceUnavailable)


# --------------------------------------------------------------------------
# The replica's own database restarts


def end_our_session() -> None:
    """What a restart of the replica's PostgreSQL does to it: the server ends its session (from another one)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        (pid,) = cur.fetchone()
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        other.autocommit = True
        with other.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(100):
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cur.fetchone() == (0,):
                    break
                time.sleep(0.05)
    finally:
        other.close()


def ending_our_session_after(fetch, prefix: str):
    """``fetch``, but once the source has answered the next request starting with ``prefix``, the replica's
    database session ends: the replica has checked the block and is about to store it."""
    armed = [True]

    def fetched(path):
        answer = fetch(path)
        if armed[0] and path.startswith(prefix):
            armed[0] = False
            end_our_session()
        return answer

    return fetched


@pytest.mark.django_db(transaction=True)
def test_a_following_replica_outlives_a_restart_of_its_own_database(node, monkeypatch, capsys):
    fetch, trade_and_seal = node
    proxy = {"fetch": fetch}

    def between(n):
        if n == 1:  # after the first round (blocks 0 and 1): block 2, and the session ends before it is stored
            proxy["held"] = copy()
            trade_and_seal()
            proxy["fetch"] = ending_our_session_after(fetch, "consistency/")

    # given a following replica, when its database ends its session in the second round, while storing block 2
    rounds, _ = follow(monkeypatch, lambda path: proxy["fetch"](path), rounds=3, between=between)

    # then it said so on one line, with no traceback, reconnected and stored block 2 in the third round
    out, err = capsys.readouterr()
    assert rounds == 3
    said = [line for line in err.splitlines() if "database" in line]
    assert len(said) == 1 and said[0].startswith("the replica's database is unavailable, retrying: ")
    assert "Traceback" not in err and "REFUSED" not in err
    assert [h for h, _ in copy()[0]] == [0, 1, 2]
    checkpoints, entries = proxy["held"]
    assert copy()[0][:2] == checkpoints and copy()[1][: len(entries)] == entries


@pytest.mark.django_db(transaction=True)
def test_a_one_shot_run_whose_database_goes_away_exits_with_one_line(node, monkeypatch):
    # given a replica holding blocks 0 and 1, and a block 2 at the source
    fetch, trade_and_seal = node
    replica_sync(source=SOURCE, fetch=fetch)
    held = copy()
    trade_and_seal()

    # when its database ends its session while a one-shot run stores block 2
    monkeypatch.setattr(ledger_replicate, "http_fetcher", lambda s, t: ending_our_session_after(fetch, "consistency/"))
    with pytest.raises(CommandError) as raised:
        call_command("ledger_replicate", "--from", SOURCE, "--token", "t")

    # then the command fails with one line naming it (manage.py: that line and exit status 1), nothing stored
    assert str(raised.value).startswith("the replica's database is unavailable: ")
    assert "\n" not in str(raised.value)
    assert copy() == held


# --------------------------------------------------------------------------
# The token ends


def token_client(user) -> tuple[APIClient, str]:
    """A client sending the user's real API token, as the replica's HTTP client does."""
    key = token_issue(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT_LANGUAGE="en")
    return client, key


@pytest.mark.parametrize(
    ("end", "says"),
    [
        (
            "expired",
            "HTTP 401 token_expired: The API token has expired. Request a new one with POST /api/v1/auth/token/.",
        ),
        ("revoked", "HTTP 401 authentication_failed: Invalid token."),
    ],
)
def test_a_following_replica_whose_token_ends_exits_saying_how_to_get_a_new_one(market, monkeypatch, end, says):
    # given a following replica with a regulator's real API token
    regulator, trade_and_seal = source_node(market)
    client, key = token_client(regulator)

    def between(n):
        if n == 1:  # after the first round (blocks 0 and 1): a block 2, and the token ends
            proxy["held"] = copy()
            trade_and_seal()
            if end == "expired":
                ApiToken.objects.filter(digest=token_digest(key)).update(created=timezone.now() - timedelta(hours=9))
            else:
                tokens_revoke(user=regulator, reason="operator")

    # when its token expires (API_TOKEN_TTL, 8 hours) or is revoked after the first round
    proxy: dict = {}
    rounds, ended = follow(monkeypatch, api_fetch(client), rounds=5, between=between, ends=CommandError)

    # then the second round ends the command (no retrying for ever) with one line saying why and what to do
    assert rounds == 1
    message = str(ended)
    assert message.startswith("the source refused the token (") and f": {says}): it has expired" in message
    assert "or was revoked" in message and "--otp" in message and "POST /api/v1/auth/token/" in message
    assert "\n" not in message
    # and the replica's copy is as it was: block 2 was not taken
    assert copy() == proxy["held"]


# --------------------------------------------------------------------------
# Logging in: every role that reads the entries in bulk needs its second factor


def test_the_documented_login_works_over_http_with_the_code_and_a_refused_login_is_one_line(market, live_server):
    # given a source node served over HTTP and a regulator with an authenticator (every supervisor has one)
    regulator, _ = source_node(market)
    device = totp_enrol(regulator)
    login = ["ledger_replicate", "--from", live_server.url, "--username", regulator.username]

    # when the replica logs in without the code, or with a wrong password
    with pytest.raises(CommandError) as without_code:
        call_command(*login, "--password", "pw-test-2026", "--trust-source-keys")
    with pytest.raises(CommandError) as wrong_password:
        call_command(*login, "--password", "nope", "--otp", totp_code(device), "--trust-source-keys")

    # then one line each, naming the server's code and message, and nothing copied or trusted
    assert str(without_code.value) == (
        f"the source refused the login of {regulator.username}: HTTP 400 otp_required: Staff accounts need the "
        "current code of their authenticator in the otp field (set it up at the first web login). Give the "
        "current code of the user's authenticator with --otp."
    )
    assert str(wrong_password.value).startswith(
        f"the source refused the login of {regulator.username}: HTTP 400 invalid_credentials: "
    )
    assert not ReplicaKey.objects.filter(source=live_server.url).exists()
    assert not ReplicaCheckpoint.objects.filter(source=live_server.url).exists()

    # when it logs in with the current code, as docs/operations.md shows
    out = io.StringIO()
    call_command(*login, "--password", "pw-test-2026", "--otp", totp_code(device), "--trust-source-keys", stdout=out)

    # then it copied the source's two blocks through the real HTTP client
    assert "replicated 2 block(s)" in out.getvalue()
    assert ReplicaCheckpoint.objects.filter(source=live_server.url).count() == 2


# --------------------------------------------------------------------------
# Entries the replica already holds, rewritten at the source


def rewrite_at_source(leaf_index: int) -> bytes:
    """A database superuser changes one digit of the entry at ``leaf_index`` and leaves its leaf hash and the
    stored Merkle nodes as they were, so that the source's proofs still verify. The bytes it held before."""
    entry = Leaf.objects.select_related("entry").get(leaf_index=leaf_index).entry
    old = bytes(entry.canonical)
    at = next(i for i, c in enumerate(old) if chr(c).isdigit())
    new = old[:at] + str((int(chr(old[at])) + 1) % 10).encode() + old[at + 1 :]
    superuser_rewrite("UPDATE ledger_entry SET canonical = %s WHERE id = %s", [new, entry.pk], which="USER")
    return old


def test_a_following_replica_compares_one_page_a_round_and_refuses_an_entry_rewritten_at_the_source(
    node, monkeypatch, capsys
):
    fetch, _ = node
    monkeypatch.setattr(ledger_replicate, "RECHECK_PAGE", 2)
    size = Leaf.objects.count()
    asked: list[str] = []
    state: dict = {}

    def recording(path):
        asked.append(path)
        return fetch(path)

    def between(n):
        if n == 1:  # the first round copied every entry
            state["held"] = copy()
            asked.clear()
        if n == 2:  # the second compared leaves 0 and 1: leaf 1 is rewritten just after, the worst case
            rewrite_at_source(1)

    # given a following replica holding blocks 0 and 1, re-reading 2 held entries a round
    # when the source's superuser rewrites the bytes of an old entry it has just compared
    rounds, ended = follow(monkeypatch, recording, rounds=100, between=between, ends=CommandError)

    # then each round re-read the next 2 entries held, and nothing more of them, wrapping to leaf 0 after the
    # last; ceil(held / 2) rounds after the rewrite, the round that reached it again refused, naming it
    assert size == 5
    pages = [p for p in asked if p.startswith("entries/")]
    assert pages == ["entries/?from=0&limit=2", "entries/?from=2&limit=2", "entries/?from=4&limit=1"] + [
        "entries/?from=0&limit=2"
    ]
    refusing_round = rounds + 1
    assert refusing_round - 2 == -(-size // 2)
    assert str(ended).startswith(f"replication from {SOURCE} refused: leaf 1 at the source differs")
    said = capsys.readouterr().err
    assert "REFUSED: leaf 1 at the source differs from the copy this replica holds" in said
    # and the replica's copy is as it was, the entry's bytes as it verified them
    assert copy() == state["held"]


def test_recheck_compares_every_entry_held_and_names_the_first_that_differs(node, monkeypatch, capsys):
    # given a replica holding blocks 0 and 1, and a source that still serves every entry as it was
    fetch, _ = node
    replica_sync(source=SOURCE, fetch=fetch)
    held = copy()
    size = len(held[1])
    with_recheck = ["ledger_replicate", "--from", SOURCE, "--token", "t", "--recheck"]
    monkeypatch.setattr(ledger_replicate, "http_fetcher", lambda source, token: fetch)
    call_command(*with_recheck)
    assert f"rechecked {size} entries: the source serves them as this replica holds" in capsys.readouterr().out

    # when a superuser rewrites two old entries at the source, which a sync does not see
    first, second = 3, size - 1
    rewrite_at_source(second)
    rewrite_at_source(first)
    assert replica_sync(source=SOURCE, fetch=fetch).blocks == 0

    # then --recheck refuses, naming the first leaf that differs, and leaves the copy as it was
    with pytest.raises(CommandError, match=f"refused: leaf {first} at the source differs"):
        call_command(*with_recheck)
    assert f"REFUSED: leaf {first} at the source differs" in capsys.readouterr().err
    assert copy() == held


def test_a_tile_replica_rechecks_the_bundles_it_holds(market, monkeypatch):
    # given a replica following the source's tiles, which re-reads one entry bundle a round
    regulator, _ = source_node(market)
    client = api_for(regulator)

    def fetch_tiles(path):
        resp = client.get("/ledger/" + path)
        if resp.status_code != 200:
            raise source_error(path, resp.status_code, resp.content)
        return resp.content

    key = SigningKey.objects.get()
    trust = f"{key.name}={base64.b64encode(bytes(key.public_key)).decode()}"
    rewritten = Leaf.objects.count() - 1
    rounds: list[int] = []
    state: dict = {}

    def wait(seconds):
        rounds.append(1)
        if len(rounds) == 1:  # after the first round, which copied every entry: the last one is rewritten
            state["held"] = copy()
            rewrite_at_source(rewritten)
        if len(rounds) >= 5:
            raise Stop

    monkeypatch.setattr(ledger_replicate, "http_tile_fetcher", lambda prefix, token: fetch_tiles)
    monkeypatch.setattr(ledger_replicate, "sleep", wait)

    # when an entry it holds is rewritten at the source after its first round
    with pytest.raises(CommandError, match=f"refused: leaf {rewritten} at the source differs"):
        call_command("ledger_replicate", "--from-tiles", "https://cdn.test/ledger", "--trust-key", trust, "--follow")

    # then the next round refused, naming it (the entries fit one bundle), and the copy is as it was
    assert len(rounds) == 1
    assert copy() == state["held"]


def test_a_tile_recheck_reads_the_full_bundle_once_the_partial_one_it_synced_from_is_gone(market):
    # given a tile replica holding the source's 5 entries, synced from the partial bundle of width 5
    regulator, _ = source_node(market)
    client = api_for(regulator)
    prefix = "https://static.test/ledger"
    trust_keys(prefix, [(k.name, bytes(k.public_key), None) for k in SigningKey.objects.all()])
    replica_sync_tiles(source=prefix, fetch=lambda path: client.get("/ledger/" + path).content)
    held = copy()
    partial = client.get("/ledger/tile/entries/000.p/5").content
    extra = b"".join(len(b"{}").to_bytes(2, "big") + b"{}" for _ in range(251))

    def folder(full: bytes):
        """A static folder that grew to a full bundle 0 and no longer keeps its partial ones."""

        def read(path):
            if path == "tile/entries/000":
                return full
            raise source_error(path, 404, b"")

        return read

    # when it rechecks, then it compares its 5 entries with the start of the full bundle
    assert replica_recheck_tiles(source=prefix, fetch=folder(partial + extra)).compared == 5

    # and when the full bundle's first entry differs from the one it holds, it refuses, its copy as it was
    changed = partial[:2] + partial[2:].replace(b"0", b"1", 1)
    with pytest.raises(ReplicationRefused, match="leaf 0 at the source differs"):
        replica_recheck_tiles(source=prefix, fetch=folder(changed + extra))
    assert copy() == held


# --------------------------------------------------------------------------
# The re-check's turn outlives a restart


def entry_pages(fetch, asked: list[str]):
    """``fetch``, noting in ``asked`` each page of entries the replica reads."""

    def recording(path):
        if path.startswith("entries/"):
            asked.append(path)
        return fetch(path)

    return recording


def test_a_restarted_follower_rechecks_from_where_it_stopped_and_wraps_at_the_end(node, monkeypatch):
    # given a replica holding the source's 5 entries, following it for one round of 2 entries: leaves 0 and 1
    fetch, _ = node
    monkeypatch.setattr(ledger_replicate, "RECHECK_PAGE", 2)
    replica_sync(source=SOURCE, fetch=fetch)
    before: list[str] = []
    follow(monkeypatch, entry_pages(fetch, before), rounds=1)
    assert before == ["entries/?from=0&limit=2"]
    assert ReplicaRecheck.objects.get(source=SOURCE).next_leaf == 2
    held = copy()

    # when it is started again (a new run of the command: nothing kept in memory) and follows for 3 rounds
    after: list[str] = []
    follow(monkeypatch, entry_pages(fetch, after), rounds=3)

    # then it went on at leaf 2, not 0, reached the last leaf and wrapped to leaf 0, and keeps where it is
    assert after == ["entries/?from=2&limit=2", "entries/?from=4&limit=1", "entries/?from=0&limit=2"]
    assert ReplicaRecheck.objects.get(source=SOURCE).next_leaf == 2
    # and re-checking changed nothing of the copy
    assert copy() == held


def test_a_rewrite_after_where_a_restarted_follower_stopped_is_found_in_the_rounds_left_from_there(
    node, monkeypatch, capsys
):
    # given a replica holding the source's 5 entries that re-checked leaves 0 to 3, 2 a round, and stopped
    fetch, _ = node
    monkeypatch.setattr(ledger_replicate, "RECHECK_PAGE", 2)
    replica_sync(source=SOURCE, fetch=fetch)
    follow(monkeypatch, fetch, rounds=2)
    assert ReplicaRecheck.objects.get(source=SOURCE).next_leaf == 4
    held = copy()
    checked_at = ReplicaRecheck.objects.get(source=SOURCE).checked_at

    # when, while it is down, a superuser rewrites leaf 4 at the source, and the replica is started again
    rewrite_at_source(4)
    asked: list[str] = []
    rounds, ended = follow(monkeypatch, entry_pages(fetch, asked), rounds=10, ends=CommandError)

    # then its first round, which reads on from leaf 4 (not from 0, three rounds away), refuses, naming it
    assert rounds == 0
    assert asked == ["entries/?from=4&limit=1"]
    assert str(ended).startswith(f"replication from {SOURCE} refused: leaf 4 at the source differs")
    assert "REFUSED: leaf 4 at the source differs" in capsys.readouterr().err
    # and nothing changed: the copy as it verified it, the turn not moved past the rewrite
    assert copy() == held
    recheck = ReplicaRecheck.objects.get(source=SOURCE)
    assert (recheck.next_leaf, recheck.checked_at) == (4, checked_at)

    # and started once more, it refuses again at once: a restart does not step over the rewrite
    rounds, ended = follow(monkeypatch, fetch, rounds=10, ends=CommandError)
    assert rounds == 0 and "leaf 4 at the source differs" in str(ended)
    assert copy() == held
