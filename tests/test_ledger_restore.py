"""A database restored from an older backup does not seal over what the exchange already published (DESIGN §4:
the exchange can never show two histories; docs/operations.md, "Backups and restore").

A restore is played here the way it looks to the exchange: the blocks sealed after the "backup" are rolled back
(a savepoint), while the checkpoint log outside the database, and the witness on the regulator's machine, keep
what was published. Without the guard the next seal signed another block of a height and size already
published, and the witness refused it as a split view.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client

from core.models import Role
from ledger import published, tasks, witness, witnessing
from ledger.models import Block, Cosignature, PendingEntry, SigningKey, WitnessedLog, WitnessRefusal, WitnessState
from ledger.services import _checkpoint_log_append, block_seal, signed_note
from tests.conftest import build_market, log_in
from tests.test_cosigning import InProcess, deposit, seal, setup  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


class _Restore(Exception):
    pass


def _published_then_restored(n: int = 3, *, post=None) -> tuple[Block, bytes]:
    """Seal a block of ``n`` entries and publish it (the checkpoint log; the witness, when ``post`` is given),
    then lose it as a restore of the backup taken before it would. Returns the lost block (its Python object)
    and the request that had the witness co-sign it."""
    request = b""
    try:
        with transaction.atomic():
            deposit(n)
            lost = block_seal().block
            _checkpoint_log_append(signed_note(lost))  # as on commit
            if post is not None:
                old = WitnessState.objects.values_list("cosigned_size", flat=True).first() or 0
                request = witnessing.request_body(lost, old, witnessing.checkpoint_note(lost))
            raise _Restore
    except _Restore:
        pass
    if post is not None:
        # the witness is on the regulator's machine: the restore does not roll it back
        assert witness.add_checkpoint(request).status == 200
    return lost, request


def _log_lines(settings) -> list[str]:
    return settings.LEDGER_CHECKPOINT_LOG.read_text().splitlines()


def test_a_restored_older_database_seals_nothing_over_a_published_checkpoint(
    setup,  # noqa: F811 (a fixture)
    settings,
    caplog,
    monkeypatch,
):
    monkeypatch.setattr(published, "_last_logged", float("-inf"))  # no other test's error within the minute
    # given a genesis block co-signed by the witness, and its checkpoint in the log
    genesis, _ = setup
    _checkpoint_log_append(signed_note(genesis))
    post = InProcess()
    assert witnessing.cosign_head(post=post) == 1
    # and a block 1 sealed, published in the log and co-signed, then lost by the restore of an older backup
    lost, _ = _published_then_restored(3, post=post)
    assert WitnessedLog.objects.get().tree_size == lost.tree_size
    assert Block.objects.count() == 1
    lines_before = _log_lines(settings)

    # when trades write entries and the seal task runs
    deposit(2)
    with caplog.at_level(logging.ERROR, logger="ledger.published"):
        assert tasks.seal() is None
        with pytest.raises(published.LedgerHeld, match=rf"behind the checkpoint of block {lost.height}, size"):
            block_seal()

    # then no block of that height or size is signed again: the entries wait
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]
    assert PendingEntry.objects.count() == 3  # the two deposits, and the market's halt (the seal task's)
    # and the reason is logged at ERROR once (not on every beat)
    held = [r for r in caplog.records if r.levelno == logging.ERROR and "ledger sealing held" in r.getMessage()]
    assert len(held) == 1
    # and the witness was asked nothing more and refused nothing: it still holds the lost block's checkpoint
    assert witnessing.cosign_head(post=post) == 0
    assert not WitnessRefusal.objects.exists()
    assert WitnessedLog.objects.get().tree_size == lost.tree_size
    assert Cosignature.objects.count() == 1
    # and the checkpoint log is as it was
    assert _log_lines(settings) == lines_before


def test_a_forked_database_seals_nothing(setup, settings):  # noqa: F811 (a fixture)
    # given block 1 published, then lost by a restore, and a block 1 sealed afterwards from other entries by a
    # code that had no guard (its checkpoint not in the log: that log is of another host)
    genesis, _ = setup
    lost, _ = _published_then_restored(3)
    settings.LEDGER_CHECKPOINT_LOG = settings.LEDGER_CHECKPOINT_LOG.with_name("elsewhere.log")
    other = seal(3)
    settings.LEDGER_CHECKPOINT_LOG = settings.LEDGER_CHECKPOINT_LOG.with_name("checkpoints.log")
    assert (other.height, other.tree_size) == (lost.height, lost.tree_size) and other.root != lost.root

    # when the next entries wait to be sealed
    deposit(1)

    # then the sealer refuses: the database's block 1 is not the one published
    with pytest.raises(published.LedgerHeld, match="differs from the checkpoint of that height"):
        block_seal()
    assert Block.objects.count() == 2 and PendingEntry.objects.count() == 1


def test_the_newest_published_checkpoint_is_the_largest_of_the_last_lines(setup, settings):  # noqa: F811
    # given two blocks whose checkpoints two workers appended out of order, after a cut line of a crash
    genesis, _ = setup
    second = seal(2)
    _checkpoint_log_append(signed_note(second))
    _checkpoint_log_append(signed_note(genesis))
    with settings.LEDGER_CHECKPOINT_LOG.open("a") as fh:
        fh.write('{"checkpoint": "otc-exchange.local/led')

    # when the newest published checkpoint is read
    newest = published.newest_published()

    # then it is the larger one, which this database holds: sealing goes on
    assert (newest.height, newest.tree_size) == (second.height, second.tree_size)
    assert published.held() is None
    deposit(1)
    assert block_seal().block.height == second.height + 1


def test_no_checkpoint_log_holds_nothing_back(setup, settings):  # noqa: F811 (a fixture)
    # given a node that never wrote its checkpoint log (a new node, or another host's)
    assert not settings.LEDGER_CHECKPOINT_LOG.exists()
    # when entries wait, then they are sealed
    deposit(1)
    assert block_seal() is not None


def test_verify_the_operations_page_and_a_key_rotation_say_the_ledger_is_held(setup, settings):  # noqa: F811
    # given a block published and then lost by a restore
    _published_then_restored(2)
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, operator)

    # when the operator checks the ledger, then ledger_verify fails naming the missing block
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="ledger verification FAILED"):
        call_command("ledger_verify", "--serial", "--no-progress", stdout=out, stderr=err)
    assert "is in the external checkpoint log but not in the database" in err.getvalue()
    # and the operations page says sealing is held, and why
    page = client.get("/operations/").content.decode()
    assert 'id="ledger-held-alert"' in page and "Sealing is held" in page
    assert "behind the checkpoint of block 1" in page
    # and a key rotation is refused before it writes anything
    with pytest.raises(CommandError, match="ledger sealing held"):
        call_command("ledger_rotate_key", stdout=io.StringIO())
    assert PendingEntry.objects.count() == 0


def test_the_operations_page_says_nothing_while_the_ledger_holds_what_was_published(setup, settings):  # noqa: F811
    genesis, _ = setup
    _checkpoint_log_append(signed_note(genesis))
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, operator)
    assert 'id="ledger-held-alert"' not in client.get("/operations/").content.decode()
    assert json.loads(_log_lines(settings)[0])["checkpoint"].startswith(settings.LEDGER_ORIGIN)


def test_demo_data_beside_the_checkpoint_log_of_an_earlier_database_loads_and_seals_nothing(db, settings, capsys):
    # given the checkpoint log of a ledger whose database is gone (a new, empty one in its place)
    settings.DEMO_MODE = True
    _published_then_restored(2)
    assert not Block.objects.exists()

    # when make run loads the demo data
    call_command("demo_data")

    # then the market is loaded and its entries wait, unsealed, with the reason said
    out = capsys.readouterr()
    assert "Demo data loaded." in out.out
    assert "The demo's entries are not sealed: the database's ledger ends at no block" in out.err
    assert not Block.objects.exists() and PendingEntry.objects.exists()


@pytest.fixture
def asking(monkeypatch):
    """This process has not asked its witnesses yet; the reason it keeps for the page is forgotten after."""
    from django.core.cache import cache

    monkeypatch.setattr(published, "_witness_reason", None)
    monkeypatch.setattr(published, "_asked_at", float("-inf"))
    yield
    cache.delete(published.CACHE_KEY)


def _restored_with_the_witness_holding_more(setup, settings, monkeypatch, post):  # noqa: F811 (a fixture)
    """Block 1 co-signed by the witness, then lost by a restore of the database and of its checkpoint log."""
    genesis, _ = setup
    assert witnessing.cosign_head(post=post) == 1
    _checkpoint_log_append(signed_note(genesis))
    before = settings.LEDGER_CHECKPOINT_LOG.read_text()
    lost, _ = _published_then_restored(3, post=post)
    settings.LEDGER_CHECKPOINT_LOG.write_text(before)
    assert published.held() is None
    monkeypatch.setattr(published, "_witness_reason", None)  # a new worker process after the restore
    monkeypatch.setattr(published, "_asked_at", float("-inf"))
    return genesis, lost


def test_a_restored_checkpoint_log_too_is_caught_by_the_witness(setup, settings, asking, monkeypatch):  # noqa: F811
    # given block 1 co-signed by the witness, then lost by a restore of the database and of the data folder
    # (its checkpoint log as old as the database)
    post = InProcess()
    monkeypatch.setattr(witnessing, "http_post", post)
    genesis, lost = _restored_with_the_witness_holding_more(setup, settings, monkeypatch, post)
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, operator)

    # when trades write entries and the worker's first seal runs
    deposit(2)
    asked = len(post.requests)
    assert tasks.seal() is None

    # then it asked the witness, which holds the lost size, and sealed nothing
    assert len(post.requests) == asked + 1  # the restored head: the witness answers with its larger size
    with pytest.raises(published.LedgerHeld, match=rf"co-signed size {lost.tree_size}; the database's ledger ends"):
        block_seal()
    assert len(post.requests) == asked + 1  # asked once a process, not on every seal
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]
    assert PendingEntry.objects.count() == 3  # the two deposits, and the market's halt (the seal task's)
    # and the witness refused nothing: it was shown only the head it had co-signed before
    assert not WitnessRefusal.objects.exists() and WitnessedLog.objects.get().tree_size == lost.tree_size
    # and the operations page says why
    assert (
        f"the witness regulator.test/witness co-signed size {lost.tree_size}"
        in client.get("/operations/").content.decode()
    )


def test_a_witness_that_agrees_or_cannot_be_reached_holds_nothing(setup, settings, asking, monkeypatch):  # noqa: F811
    genesis, _ = setup
    post = InProcess()
    witnessing.cosign_head(post=post)
    monkeypatch.setattr(witnessing, "http_post", post)

    # given the witness down: the seal goes on, and the witness is asked again only a minute later
    post.down = True
    deposit(1)
    assert block_seal() is not None
    deposit(1)
    assert block_seal() is not None
    assert published._witness_reason is None

    # when it is back and the minute has passed, then it is asked once, agrees, and sealing goes on
    post.down = False
    monkeypatch.setattr(published, "_asked_at", float("-inf"))
    deposit(1)
    assert block_seal() is not None
    deposit(1)
    assert block_seal() is not None
    assert published._witness_reason == ""
    assert len(post.requests) == 2  # the genesis co-signature, and the one question


def test_an_unreachable_witness_does_not_stop_the_next_from_being_asked(setup, settings, asking, monkeypatch):  # noqa: F811
    # given two witnesses: the first one down, the second holding a size the restored database lost
    post = InProcess()
    genesis, lost = _restored_with_the_witness_holding_more(setup, settings, monkeypatch, post)
    _, vkey = setup
    settings.LEDGER_WITNESSES = [f"http://down.test {vkey}", f"http://witness.test {vkey}"]

    def either(url: str, body: bytes) -> witnessing.Reply:
        if url.startswith("http://down.test"):
            raise witnessing.urllib.error.URLError("connection refused")
        return post(url, body)

    monkeypatch.setattr(witnessing, "http_post", either)

    # when the worker's first seal runs
    deposit(2)
    assert tasks.seal() is None

    # then the second witness was asked all the same, and nothing was sealed
    with pytest.raises(published.LedgerHeld, match=rf"co-signed size {lost.tree_size}; the database's ledger ends"):
        block_seal()
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]
    assert PendingEntry.objects.count() == 3  # the two deposits, and the market's halt (the seal task's)


@pytest.mark.parametrize(
    ("status", "body"),
    # a proxy whose witness is down; and the witness itself not judging the head
    [(502, "Bad Gateway"), (400, "malformed request"), (403, "unknown key"), (404, "unknown log")],
)
def test_a_witness_that_does_not_judge_is_asked_again(setup, settings, asking, monkeypatch, caplog, status, body):  # noqa: F811
    # given a restored database, and at the worker's first seal a 502 (the witness's proxy, the witness down) or a
    # 4xx (C2SP tlog-witness: the witness does not know this log, does not trust its key yet, cannot read the request)
    post = InProcess()
    _restored_with_the_witness_holding_more(setup, settings, monkeypatch, post)
    monkeypatch.setattr(witnessing, "http_post", lambda url, body_: witnessing.Reply(status, "text/plain", body))
    deposit(1)
    with caplog.at_level("WARNING", logger=published.log.name):
        assert block_seal() is not None  # it delays finality, never trading

    # then the refusal was not taken for the witness's agreement, and the operator was told why
    assert published._witness_reason is None
    assert f"HTTP {status}: {body}" in caplog.text

    # and when the witness judges the head a minute later, it holds sealing
    monkeypatch.setattr(witnessing, "http_post", post)
    monkeypatch.setattr(published, "_asked_at", float("-inf"))
    deposit(1)
    with pytest.raises(published.LedgerHeld, match="co-signed size"):
        block_seal()
    assert PendingEntry.objects.count() == 1


def test_a_key_rotation_held_by_the_witness_is_refused_before_it_writes_anything(
    setup,  # noqa: F811 (a fixture)
    settings,
    asking,
    monkeypatch,
):
    # given a restored database and checkpoint log: only the witness knows what was lost
    post = InProcess()
    genesis, lost = _restored_with_the_witness_holding_more(setup, settings, monkeypatch, post)
    monkeypatch.setattr(witnessing, "http_post", post)
    keys_before = list(SigningKey.objects.values_list("key_id", "status"))

    # when the operator rotates the key, then it is refused with the witness's reason, as a command error
    with pytest.raises(CommandError, match=rf"ledger sealing held: the witness .* co-signed size {lost.tree_size}"):
        call_command("ledger_rotate_key", stdout=io.StringIO())

    # and nothing was written: no rotation entry waits, no key was made, no block sealed
    assert PendingEntry.objects.count() == 0
    assert list(SigningKey.objects.values_list("key_id", "status")) == keys_before
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]


@pytest.mark.django_db(transaction=True)  # no test transaction holding the lock the setup's seal took
def test_a_key_rotation_asks_under_the_sealers_lock(setup, settings, monkeypatch):  # noqa: F811 (a fixture)
    # given a rotation about to ask whether sealing is held (the witnesses read the head: a block sealed and
    # co-signed elsewhere meanwhile would look like a witness holding more than this database)
    from django.db import connection

    from ledger.management.commands import ledger_rotate_key
    from ledger.services import SEAL_LOCK_KEY

    locked = []

    def asked():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                " AND granted AND ((classid::bigint << 32) | objid::bigint) = %s",
                [SEAL_LOCK_KEY],
            )
            locked.append(cur.fetchone()[0] == 1)

    monkeypatch.setattr(ledger_rotate_key, "refuse_if_held", asked)

    # when the operator rotates the key
    call_command("ledger_rotate_key", stdout=io.StringIO())

    # then it asked once, holding the lock every sealer takes
    assert locked == [True]


def test_the_operations_page_on_a_web_host_without_the_log_says_sealing_is_held(setup, settings):  # noqa: F811
    # given a block published and then lost by a restore, and the worker's seal refused for it
    _published_then_restored(2)
    deposit(1)
    assert tasks.seal() is None
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, operator)

    # when the operator opens the operations page on a web host, which has no checkpoint log (it is the
    # worker hosts'; docs/operations.md, "Several machines")
    worker_log = settings.LEDGER_CHECKPOINT_LOG
    settings.LEDGER_CHECKPOINT_LOG = worker_log.with_name("web-host-has-none.log")
    page = client.get("/operations/").content.decode()

    # then it says sealing is held, and why, as the worker found it
    assert 'id="ledger-held-alert"' in page and "behind the checkpoint of block 1" in page

    # and once the worker seals again (the right copy restored: here, the log as the database holds it), the
    # page says nothing more
    worker_log.write_text("")
    settings.LEDGER_CHECKPOINT_LOG = worker_log
    assert tasks.seal() is not None
    settings.LEDGER_CHECKPOINT_LOG = worker_log.with_name("web-host-has-none.log")
    assert 'id="ledger-held-alert"' not in client.get("/operations/").content.decode()


def test_held_sealing_halts_the_market_once_and_again_after_a_resume_while_held(setup, settings):  # noqa: F811
    from decimal import Decimal

    from core import errors as err
    from core.models import AuditEvent
    from exchange.services import OrderRequest, order_place
    from registry import services as registry
    from registry.models import MarketState

    # given a market open with a quote and a funded investor, then a restored older database beside the checkpoint
    # log of what was published
    genesis, _ = setup
    _checkpoint_log_append(signed_note(genesis))
    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000")
    operator = market.user(Role.EXCHANGE_OPERATOR)
    _published_then_restored(3)
    assert not MarketState.objects.filter(halted=True).exists()
    audits, waiting = AuditEvent.objects.count(), PendingEntry.objects.count()

    # when the seal task runs, twice
    assert tasks.seal() is None
    assert tasks.seal() is None

    # then the exchange halted the market itself, once: its reason says why in both languages, recorded without an
    # actor, and its HALT entry waits with the rest (nothing sealed)
    state = MarketState.objects.get()
    assert state.halted and state.reason == registry.LEDGER_HELD_REASON
    assert "账本无法封存" in state.reason and "The ledger cannot be sealed" in state.reason
    assert AuditEvent.objects.count() == audits + 1
    assert AuditEvent.objects.get(action="market_halt").actor is None
    assert PendingEntry.objects.count() == waiting + 1
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]
    # and an order is refused as in any halt
    request = OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "held-1")
    with pytest.raises(err.MarketHalted):
        order_place(placed_by=investor.owner, account=investor, request=request)

    # when an operator resumes while the database still lacks what was published
    registry.market_resume(actor=operator, reason="restored, checking")
    assert not MarketState.objects.get().halted
    assert tasks.seal() is None

    # then the next seal halts it again
    assert MarketState.objects.get().halted and AuditEvent.objects.filter(action="market_halt").count() == 2
    assert list(Block.objects.values_list("height", flat=True)) == [genesis.height]


def test_a_market_halted_by_an_operator_is_left_as_it_is_when_sealing_is_held(setup, settings):  # noqa: F811
    from registry import services as registry
    from registry.models import MarketState

    # given a market an operator halted, then a restored older database
    genesis, _ = setup
    _checkpoint_log_append(signed_note(genesis))
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    registry.market_halt(actor=operator, reason="end of day checks")
    _published_then_restored(2)
    before, waiting = list(MarketState.objects.values()), PendingEntry.objects.count()

    # when the seal task is held
    assert tasks.seal() is None

    # then the operator's halt and its reason stand; nothing more is written
    assert list(MarketState.objects.values()) == before
    assert PendingEntry.objects.count() == waiting
