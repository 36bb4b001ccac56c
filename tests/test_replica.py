"""A replica copies and verifies another node's ledger, and refuses a rewritten history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import Role
from exchange.services import OrderRequest, order_place
from ledger.checkpoint import key_id
from ledger.models import Block, Entry, Leaf, ReplicaCheckpoint, ReplicaEntry, SigningKey
from ledger.replica import Fetch, ReplicationRefused, replica_sync, source_error, trust_keys
from ledger.services import block_seal
from tests.conftest import api_for
from tests.tampering import superuser_rewrite

SOURCE = "https://exchange.test"


def api_fetch(client) -> Fetch:
    """The replica's fetch through a test client, its errors told apart as ``http_fetcher`` tells them."""

    def fetch(path):
        resp = client.get("/api/v1/ledger/" + path)
        if resp.status_code != 200:
            raise source_error(path, resp.status_code, resp.content)
        return resp.json()

    return fetch


def source_node(market):
    """A source node with two blocks, its key trusted for ``SOURCE``: (a regulator who reads it, trade_and_seal)."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")
    n = iter(range(1000))

    def trade_and_seal():
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", f"r{next(n)}"),
        )
        return block_seal().block

    block_seal()
    trade_and_seal()
    key = SigningKey.objects.get()
    trust_keys(SOURCE, [(key.name, bytes(key.public_key), None)])
    return market.user(Role.REGULATOR), trade_and_seal


@pytest.fixture
def node(market):
    """The source's fetch (as a regulator) and a way to trade and seal one more block."""
    regulator, trade_and_seal = source_node(market)
    return api_fetch(api_for(regulator)), trade_and_seal


def test_first_sync_copies_every_block_and_entry_then_only_new_ones(node):
    fetch, trade_and_seal = node

    first = replica_sync(source=SOURCE, fetch=fetch)

    assert (first.blocks, first.height, first.tree_size) == (2, 1, Leaf.objects.count())
    copied = {e.leaf_index: bytes(e.canonical) for e in ReplicaEntry.objects.filter(source=SOURCE)}
    ours = {lf.leaf_index: bytes(lf.entry.canonical) for lf in Leaf.objects.select_related("entry")}
    assert copied == ours
    head = Block.objects.order_by("-height").first()
    held = ReplicaCheckpoint.objects.get(source=SOURCE, height=1)
    assert bytes(held.root) == bytes(head.root)

    trade_and_seal()
    second = replica_sync(source=SOURCE, fetch=fetch)
    assert (second.blocks, second.height) == (1, 2)
    assert replica_sync(source=SOURCE, fetch=fetch).blocks == 0


def _superuser(sql: str, params=None) -> None:
    superuser_rewrite(sql, params, which="USER")


def test_a_forked_history_is_refused_and_nothing_is_stored(node):
    # given a replica holding blocks 0 and 1
    fetch, trade_and_seal = node
    replica_sync(source=SOURCE, fetch=fetch)
    before = ReplicaEntry.objects.count(), ReplicaCheckpoint.objects.count()

    # when the source's operator drops block 1 and seals a different block 1 with the node's own key
    leaves = list(Leaf.objects.filter(block_id=1).values_list("leaf_index", flat=True))
    _superuser(
        "DELETE FROM ledger_blocksignature WHERE block_id = 1; DELETE FROM ledger_leaf WHERE block_id = 1;"
        "DELETE FROM ledger_node WHERE level = 0 AND index = ANY(%s); DELETE FROM ledger_block WHERE height = 1",
        [leaves],
    )
    Entry.objects.create(
        kind="DEPOSIT", canonical=b"{}", leaf_hash=bytes(32), recorded_at=Block.objects.get().sealed_at
    )
    trade_and_seal()

    # then the replica refuses, and stores nothing more
    with pytest.raises(ReplicationRefused, match="block 1 at the source differs"):
        replica_sync(source=SOURCE, fetch=fetch)
    assert (ReplicaEntry.objects.count(), ReplicaCheckpoint.objects.count()) == before


def test_a_truncated_source_is_refused(node):
    fetch, trade_and_seal = node
    trade_and_seal()
    replica_sync(source=SOURCE, fetch=fetch)
    _superuser(
        "DELETE FROM ledger_blocksignature WHERE block_id = 2; DELETE FROM ledger_leaf WHERE block_id = 2;"
        "DELETE FROM ledger_block WHERE height = 2"
    )
    with pytest.raises(ReplicationRefused, match="fewer than"):
        replica_sync(source=SOURCE, fetch=fetch)


def test_a_checkpoint_signed_by_an_untrusted_key_is_refused(node):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.checkpoint import public_bytes

    fetch, _ = node
    other = public_bytes(Ed25519PrivateKey.generate().public_key())
    source = "https://someone-else.test"
    trust_keys(source, [("otc-exchange.local", other, None)])
    with pytest.raises(ReplicationRefused, match="not signed by any key this replica trusts"):
        replica_sync(source=source, fetch=fetch)
    assert not ReplicaCheckpoint.objects.filter(source=source).exists()
    assert key_id(other)


def test_the_command_exits_non_zero_and_says_refused_on_a_rewritten_history(node, monkeypatch, capsys):
    from django.core.management import CommandError, call_command

    from ledger.management.commands import ledger_replicate

    # given the command pulling through the API (its HTTP client replaced by the test client)
    fetch, trade_and_seal = node
    monkeypatch.setattr(ledger_replicate, "http_fetcher", lambda source, token: fetch)
    call_command("ledger_replicate", "--from", SOURCE, "--token", "t")
    assert "replicated 2 block(s)" in capsys.readouterr().out

    # when the source rewrites its last block, then the command fails loudly (exit status 1 from manage.py)
    leaves = list(Leaf.objects.filter(block_id=1).values_list("leaf_index", flat=True))
    _superuser(
        "DELETE FROM ledger_blocksignature WHERE block_id = 1; DELETE FROM ledger_leaf WHERE block_id = 1;"
        "DELETE FROM ledger_node WHERE level = 0 AND index = ANY(%s); DELETE FROM ledger_block WHERE height = 1",
        [leaves],
    )
    trade_and_seal()
    held = ReplicaCheckpoint.objects.count()
    with pytest.raises(CommandError, match="refused"):
        call_command("ledger_replicate", "--from", SOURCE, "--token", "t")
    assert "REFUSED" in capsys.readouterr().err
    assert ReplicaCheckpoint.objects.count() == held
