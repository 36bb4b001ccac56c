"""The ledger API (DESIGN.md §8): every proof it serves verifies offline, and a doctored one does not."""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal

import pytest

from core.models import Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger import merkle
from ledger.models import Block, Leaf
from ledger.services import block_seal
from ledger.verifier import VerificationFailed, verify_consistency, verify_inclusion
from tests.conftest import api_for


@pytest.fixture
def chain(market):
    """Three blocks, a trade in the second; an auditor's and the buyer's API clients."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")
    block_seal()
    for n in range(2):
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", f"p{n}"),
        )
        block_seal()
    auditor = api_for(market.user(Role.AUDITOR))
    trusted = [(k["name"], base64.b64decode(k["public_key"]), None) for k in auditor.get("/api/v1/ledger/keys/").json()]
    return auditor, api_for(buyer.owner), api_for(market.investor().owner), trusted


def test_every_entry_is_proven_in_every_checkpoint_at_or_after_it(chain):
    auditor, _buyer, _other, trusted = chain
    sizes = list(Block.objects.order_by("height").values_list("tree_size", flat=True))
    assert len(sizes) == 3
    for leaf in Leaf.objects.select_related("entry").order_by("leaf_index"):
        entry = auditor.get(f"/api/v1/ledger/entries/{leaf.leaf_index}/").json()
        assert (entry["kind"], entry["leaf_hash"]) == (leaf.entry.kind, bytes(leaf.entry.leaf_hash).hex())
        assert merkle.leaf_hash(base64.b64decode(entry["canonical"])).hex() == entry["leaf_hash"]
        for size in sizes:
            resp = auditor.get(f"/api/v1/ledger/entries/{leaf.leaf_index}/proof/?tree_size={size}")
            if size <= leaf.leaf_index:
                assert resp.status_code == 400, resp.content  # a checkpoint before the entry proves nothing
                assert resp.json()["code"] == "leaf_not_in_tree"
                continue
            assert "OK" in verify_inclusion(resp.json(), trusted)


def test_a_checkpoint_that_ends_before_the_leaf_is_leaf_not_in_tree_not_no_checkpoint(chain):
    # (found by an outside tester: entries/388/proof/?tree_size=388, a signed checkpoint, answered
    # not_a_checkpoint "The checkpoint of tree size 388 precedes leaf 388.")
    from django.utils import translation

    auditor, buyer, _other, trusted = chain
    trade = Trade.objects.order_by("id").first()
    index = Leaf.objects.get(entry_id=trade.entry_id).leaf_index
    # given the signed checkpoint whose tree ends just before the trade's leaf (its size is the leaf's index)
    ends_before = Block.objects.get(tree_size=index)
    paths = [
        f"/api/v1/ledger/entries/{index}/proof/?tree_size={ends_before.tree_size}",
        f"/api/v1/trades/{trade.pk}/proof/?tree_size={ends_before.tree_size}",
    ]
    for client, path in zip((auditor, buyer), paths, strict=True):
        # when a proof against it is asked for
        with translation.override("en"):
            resp = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
        # then a 400 with a code of its own, naming the checkpoint's leaves
        assert resp.status_code == 400, resp.content
        assert resp.json() == {
            "code": "leaf_not_in_tree",
            "message": f"The checkpoint of tree size {index} does not contain leaf {index}: "
            f"its leaves are 0 to {index - 1}.",
        }
    # and a size that is no checkpoint is still not_a_checkpoint, on both
    beyond = Block.objects.order_by("-tree_size").first().tree_size + 1
    for client, path in zip((auditor, buyer), paths, strict=True):
        resp = client.get(path.replace(f"tree_size={index}", f"tree_size={beyond}"))
        assert (resp.status_code, resp.json()["code"]) == (400, "not_a_checkpoint")
    # and the next checkpoint, which contains the leaf, proves it on both
    contains = Block.objects.filter(tree_size__gt=index).order_by("tree_size").first()
    for client, path in zip((auditor, buyer), paths, strict=True):
        bundle = client.get(path.replace(f"tree_size={index}", f"tree_size={contains.tree_size}")).json()
        assert bundle["tree_size"] == contains.tree_size and "OK" in verify_inclusion(bundle, trusted)


def test_the_schema_documents_the_proofs_error_codes(chain):
    auditor = chain[0]
    schema = auditor.get("/api/schema/?format=json").json()
    for path in ("/api/v1/ledger/entries/{index}/proof/", "/api/v1/trades/{trade_id}/proof/"):
        responses = schema["paths"][path]["get"]["responses"]
        assert "`leaf_not_in_tree`" in responses["400"]["description"], path
        assert "`not_a_checkpoint`" in responses["400"]["description"], path
        assert "`not_sealed`" in responses["409"]["description"], path


def test_consistency_between_every_pair_of_checkpoints_verifies_offline(chain):
    auditor, _buyer, _other, trusted = chain
    sizes = list(Block.objects.order_by("height").values_list("tree_size", flat=True))
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            bundle = auditor.get(f"/api/v1/ledger/consistency/?from={old}&to={new}").json()
            assert "OK" in verify_consistency(bundle, trusted)
    head = auditor.get("/api/v1/ledger/head/").json()
    assert head["tree_size"] == sizes[-1]


def _flip(hex_string: str) -> str:
    raw = bytearray(bytes.fromhex(hex_string))
    raw[0] ^= 1
    return raw.hex()


@pytest.mark.parametrize(
    "doctor",
    [
        lambda b: b.__setitem__("leaf_hash", _flip(b["leaf_hash"])),
        lambda b: b.__setitem__("proof", [_flip(b["proof"][0]), *b["proof"][1:]]),
        lambda b: b.__setitem__("proof", b["proof"][:-1]),
        lambda b: b.__setitem__("leaf_index", b["leaf_index"] + 1),
        lambda b: b.__setitem__("checkpoint", b["checkpoint"].replace("\n\n", "\n\n ", 1)),
        lambda b: b.__setitem__("entry", base64.b64encode(base64.b64decode(b["entry"]) + b" ").decode()),
    ],
    ids=["leaf-hash", "proof-hash", "short-proof", "other-index", "signature", "entry-bytes"],
)
def test_a_doctored_trade_proof_is_refused_offline(chain, doctor):
    _auditor, buyer, _other, trusted = chain
    trade = Trade.objects.order_by("id").first()
    bundle = buyer.get(f"/api/v1/trades/{trade.pk}/proof/").json()
    assert "OK" in verify_inclusion(bundle, trusted)
    bad = copy.deepcopy(bundle)
    doctor(bad)
    with pytest.raises((VerificationFailed, ValueError)):
        verify_inclusion(bad, trusted)


def test_only_the_parties_and_supervisors_read_a_trades_entry_bytes(chain):
    auditor, buyer, other, _trusted = chain
    trade = Trade.objects.order_by("id").first()
    index = Leaf.objects.get(entry_id=trade.entry_id).leaf_index
    assert "canonical" in auditor.get(f"/api/v1/ledger/entries/{index}/").json()
    assert "canonical" in buyer.get(f"/api/v1/ledger/entries/{index}/").json()
    seen = other.get(f"/api/v1/ledger/entries/{index}/").json()
    assert "canonical" not in seen and seen["leaf_hash"]  # anyone may check inclusion, not read the trade
    assert "entry" not in other.get(f"/api/v1/ledger/entries/{index}/proof/").json()
    assert other.get(f"/api/v1/trades/{trade.pk}/proof/").status_code == 404
    assert other.get("/api/v1/ledger/entries/").status_code == 403
    assert json.loads(base64.b64decode(buyer.get(f"/api/v1/trades/{trade.pk}/proof/").json()["entry"]))["kind"] == (
        "TRADE"
    )


def test_whoever_sees_a_trade_reads_its_entry_the_same_way_through_the_ledger_and_its_proof(chain, market):
    # (found by a probe: the buyer's broker's staff got the entry's bytes from trades/{id}/proof/ but only its hash
    # from ledger/entries/{index}/)
    from core.models import Broker

    _auditor, _buyer, _other, _trusted = chain
    trade = Trade.objects.order_by("id").first()
    index = Leaf.objects.get(entry_id=trade.entry_id).leaf_index
    # given the staff of the buyer's broker, and staff of another broker
    own_staff = api_for(market.staff)
    elsewhere = Broker.objects.create(code="B777", name="Elsewhere", fee_bps="2.5", fee_minimum="5")
    other_staff = api_for(market.user(Role.BROKER_STAFF, broker=elsewhere))
    # then the buyer's broker's staff read the bytes both ways, the same bytes
    through_ledger = own_staff.get(f"/api/v1/ledger/entries/{index}/").json()
    through_proof = own_staff.get(f"/api/v1/trades/{trade.pk}/proof/").json()
    assert through_ledger["canonical"] == through_proof["entry"]
    assert "entry" in own_staff.get(f"/api/v1/ledger/entries/{index}/proof/").json()
    # and another broker's staff neither
    assert "canonical" not in other_staff.get(f"/api/v1/ledger/entries/{index}/").json()
    assert other_staff.get(f"/api/v1/trades/{trade.pk}/proof/").status_code == 404


def test_the_parties_read_their_trades_settlement_and_hold_entries_others_do_not(chain, market):
    from settlement.models import Settlement, SettlementAction
    from settlement.services import trade_hold, trade_release, trade_settle

    # given the chain's first trade held, released and settled, each written to the ledger and sealed
    _auditor, buyer, other, _trusted = chain
    trade = Trade.objects.order_by("id").first()
    trade_hold(actor=market.depository, trade_id=trade.pk, reason="Court order 7")
    trade_release(actor=market.depository, trade_id=trade.pk, reason="Order lifted")
    assert trade_settle(trade_id=trade.pk)
    block_seal()
    entries = [a.entry_id for a in SettlementAction.objects.filter(trade=trade).order_by("id")]
    entries.append(Settlement.objects.get(trade=trade).entry_id)

    for entry_id in entries:
        index = Leaf.objects.get(entry_id=entry_id).leaf_index
        # when the buyer asks for the entry, then they get its bytes
        mine = buyer.get(f"/api/v1/ledger/entries/{index}/").json()
        assert json.loads(base64.b64decode(mine["canonical"]))["payload"]["trade_id"] == trade.pk
        # and another investor gets only what anyone may check inclusion with
        seen = other.get(f"/api/v1/ledger/entries/{index}/").json()
        assert "canonical" not in seen and seen["leaf_hash"] == mine["leaf_hash"]
