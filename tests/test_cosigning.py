"""Co-signed checkpoints (issue 13): the exchange asks its witness to co-sign each new head, stores the
cosignature/v1 line, serves it with the checkpoint, and notices a witness that refuses (split view)."""

from __future__ import annotations

import base64
import urllib.error
from decimal import Decimal

import pytest
from django.db import transaction

from ledger import checkpoint, keys, witness, witnessing
from ledger.models import Block, Cosignature, SigningKey, SplitViewEvidence, WitnessRefusal, WitnessState
from ledger.services import block_seal, entry_append, signed_note
from ledger.verifier import main as verifier_main
from surveillance.models import Alert, Rule

pytestmark = pytest.mark.django_db


def deposit(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")})


def seal(n: int = 2) -> Block:
    deposit(n)
    return block_seal().block


class InProcess:
    """The witness's own add_checkpoint behind the client's ``post``, counting the requests."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.down = False

    def __call__(self, url: str, body: bytes) -> witnessing.Reply:
        assert url == "http://witness.test/add-checkpoint"
        if self.down:
            raise urllib.error.URLError("connection refused")
        self.requests.append(body)
        answer = witness.add_checkpoint(body)
        return witnessing.Reply(answer.status, answer.content_type, answer.body)


@pytest.fixture
def setup(settings, tmp_path):
    """A sealed genesis block, and a witness that trusts the exchange's key and is configured on the exchange
    (and the surveillance rules: a transactional test before this one may have flushed the migration's)."""
    from surveillance.services import rules_seed

    rules_seed()
    settings.WITNESS_KEY_FILE = tmp_path / "witness" / "witness.pem"
    settings.WITNESS_NAME = "regulator.test/witness"
    witness.key_create()
    vkey = witness.verifier_key()
    genesis = seal()
    key = SigningKey.objects.get()
    witness.log_trust(
        origin=settings.LEDGER_ORIGIN, verifier_keys=[checkpoint.verifier_key(key.name, bytes(key.public_key))]
    )
    settings.LEDGER_WITNESSES = [f"http://witness.test {vkey}"]
    settings.LEDGER_FINAL_COSIGNATURES = 1
    return genesis, vkey


def old_sizes(requests: list[bytes]) -> list[int]:
    return [int(r.split(b"\n", 1)[0].split(b" ")[1]) for r in requests]


def test_the_head_is_cosigned_once_and_served_with_the_checkpoint(setup, tmp_path, capsys):
    genesis, vkey = setup
    post = InProcess()
    # given no co-signature yet: not final
    assert witnessing.final_height() is None
    # when the exchange asks the witness
    assert witnessing.cosign_head(post=post) == 1
    # then the block's signed note carries the witness's cosignature/v1 line, which verifies
    cosig = Cosignature.objects.get()
    assert (cosig.block_id, cosig.witness) == (genesis.height, "regulator.test/witness")
    note = signed_note(genesis)
    name, _, public = checkpoint.parse_verifier_key(vkey)
    assert [n for n, _, _ in checkpoint.verified_cosigners(checkpoint.parse(note), [(name, public)])] == [name]
    assert witnessing.final_height() == genesis.height
    # and the offline verifier accepts it under "the exchange and at least one witness"
    path = tmp_path / "cp.txt"
    path.write_text(note)
    key = SigningKey.objects.get()
    trusted = f"{key.name}={base64.b64encode(bytes(key.public_key)).decode()}"
    argv = ["checkpoint", str(path), "--key", trusted, "--witness", vkey, "--min-witnesses", "1"]
    assert verifier_main(argv) == 0
    assert "regulator.test/witness" in capsys.readouterr().out
    # when asked again with nothing new: no request, nothing added
    assert witnessing.cosign_head(post=post) == 0
    assert len(post.requests) == 1 and Cosignature.objects.count() == 1


def test_a_burst_of_blocks_costs_one_request_with_a_proof_from_the_last_cosigned_size(setup):
    genesis, _ = setup
    post = InProcess()
    witnessing.cosign_head(post=post)
    # given three more blocks
    blocks = [seal(n) for n in (1, 2, 3)]
    # when the co-signing task runs once
    assert witnessing.cosign_head(post=post) == 1
    # then only the newest was sent, from the genesis size, and the witness accepted the proof
    assert old_sizes(post.requests) == [0, genesis.tree_size]
    assert list(Cosignature.objects.order_by("block_id").values_list("block_id", flat=True)) == [
        genesis.height,
        blocks[-1].height,
    ]
    # and every block up to the newest is final
    assert witnessing.final_height() == blocks[-1].height
    assert WitnessState.objects.get().cosigned_size == blocks[-1].tree_size


def test_a_forgotten_state_is_recovered_from_the_witness_409(setup):
    post = InProcess()
    witnessing.cosign_head(post=post)
    head = seal(3)
    # given the exchange lost what the witness co-signed
    WitnessState.objects.all().delete()
    # when it asks from 0
    assert witnessing.cosign_head(post=post) == 1
    # then the 409 told it the size, and the second request succeeded
    assert old_sizes(post.requests)[1:] == [0, head.tree_size - 3]
    assert Cosignature.objects.filter(block=head).exists()
    assert not WitnessRefusal.objects.exists()


def test_an_unreachable_witness_is_retried_later(setup):
    post = InProcess()
    post.down = True
    assert witnessing.cosign_head(post=post) == 0
    assert WitnessState.objects.get().last_error.startswith("unreachable")
    assert not Cosignature.objects.exists() and witnessing.final_height() is None
    post.down = False
    assert witnessing.cosign_head(post=post) == 1
    assert WitnessState.objects.get().last_error == ""


def test_a_split_view_is_refused_recorded_on_both_sides(setup, settings):
    genesis, _ = setup
    head = seal(4)
    # given the exchange's key also signed another tree of the head's size, and the witness co-signed that one
    forged_root = bytes(32)
    body = checkpoint.body(
        origin=settings.LEDGER_ORIGIN,
        tree_size=head.tree_size,
        root=forged_root,
        height=head.height,
        block_hash=bytes(32),
    )
    signer = keys.signers_for_seal()[0][1]
    forged = checkpoint.sign(body, [signer])
    assert witness.add_checkpoint(f"old 0\n\n{forged}".encode()).status == 200
    post = InProcess()
    # when the exchange asks the witness to co-sign its real head
    assert witnessing.cosign_head(post=post) == 0
    # then the witness refused, kept both signed checkpoints, and the exchange recorded a split view
    evidence = SplitViewEvidence.objects.get()
    assert evidence.kind == SplitViewEvidence.Kind.SAME_SIZE and evidence.held == forged
    refusal = WitnessRefusal.objects.get()
    assert (refusal.block_id, refusal.status, refusal.split_view) == (head.height, 409, True)
    assert not Cosignature.objects.exists()
    assert witnessing.final_height() is None
    # and the regulator has an alert, once however often it is refused
    witnessing.cosign_head(post=post)
    alert = Alert.objects.get(rule__code=Rule.Code.SPLIT_VIEW)
    assert (alert.block_height, alert.detail["witness"]) == (head.height, "regulator.test/witness")


def test_a_rewritten_block_of_the_same_root_is_refused_as_a_split_view_on_both_sides(setup, settings):
    # (found by an outside tester: a superuser re-sealed a block with the same root and a new block hash, the
    # cosign task sent it, and the witness co-signed it: two checkpoints of one block both co-signed)
    from ledger.models import WitnessedLog
    from tests.tampering import LEDGER_TABLES, superuser_rewrite

    post = InProcess()
    head = seal(3)
    assert witnessing.cosign_head(post=post) == 1
    original = witnessing.checkpoint_note(head)
    assert witnessing.final_height() == head.height
    # given a database superuser rewrote the head block: another block hash under the same root, signed again
    # with the exchange's key, and the witness's co-signature dropped
    signer = keys.signers_for_seal()[0][1]
    new_hash = bytes(32)
    body = checkpoint.body(
        origin=settings.LEDGER_ORIGIN,
        tree_size=head.tree_size,
        root=bytes(head.root),
        height=head.height,
        block_hash=new_hash,
    )
    assert body != head.checkpoint
    superuser_rewrite(
        "UPDATE ledger_block SET checkpoint = %s, block_hash = %s WHERE height = %s;"
        "UPDATE ledger_blocksignature SET signature = %s WHERE block_id = %s;"
        "DELETE FROM ledger_cosignature WHERE block_id = %s",
        [body, new_hash, head.height, signer.private_key.sign(body.encode()), head.height, head.height],
        tables=[*LEDGER_TABLES, "ledger_cosignature"],
    )
    rewritten = witnessing.checkpoint_note(Block.objects.get(pk=head.height))
    # when the co-signing task runs (twice: beat asks again)
    assert [witnessing.cosign_head(post=post), witnessing.cosign_head(post=post)] == [0, 0]
    # then the witness refused it (409 at the size it holds) and kept both notes as evidence of one root
    evidence = SplitViewEvidence.objects.get()
    assert (evidence.kind, evidence.held, evidence.offered) == (
        SplitViewEvidence.Kind.SAME_ROOT,
        original,
        rewritten,
    )
    assert WitnessedLog.objects.get(origin=settings.LEDGER_ORIGIN).checkpoint == original
    # and the exchange recorded a split view, once, with an alert for the regulator and a clear last error
    refusal = WitnessRefusal.objects.get()
    assert (refusal.block_id, refusal.status, refusal.split_view, refusal.old_size) == (
        head.height,
        409,
        True,
        head.tree_size,
    )
    assert witnessing.split_view_blocks() == [head.height]
    alert = Alert.objects.get(rule__code=Rule.Code.SPLIT_VIEW)
    assert (alert.block_height, alert.detail["witness"]) == (head.height, "regulator.test/witness")
    state = WitnessState.objects.get()
    assert state.last_error == (
        f"refused: HTTP 409 at size {head.tree_size}, the witness co-signed another checkpoint of it"
    )
    # and nothing co-signs the rewritten block: it is not final
    assert not Cosignature.objects.exists() and witnessing.final_height() is None
    assert state.cosigned_size == head.tree_size


def test_the_operations_page_shows_the_witnesses_and_a_split_view(setup, settings, client):
    from core.models import Role
    from tests.conftest import build_market, log_in

    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    log_in(client, operator)
    page = client.get("/operations/").content.decode()
    assert 'id="witnesses"' in page and "regulator.test/witness" in page and 'id="split-view-alert"' not in page
    # given the exchange's key signed a second tree of the head's size, which the witness co-signed
    head = seal(2)
    body = checkpoint.body(
        origin=settings.LEDGER_ORIGIN,
        tree_size=head.tree_size,
        root=bytes(32),
        height=head.height,
        block_hash=bytes(32),
    )
    forged = checkpoint.sign(body, [keys.signers_for_seal()[0][1]])
    assert witness.add_checkpoint(f"old 0\n\n{forged}".encode()).status == 200
    # when the exchange asks for its real head
    witnessing.cosign_head(post=InProcess())
    # then the operator sees the split view
    page = client.get("/operations/").content.decode()
    assert 'id="split-view-alert"' in page and 'id="witness-refusals"' in page


def test_settlement_waits_for_the_cosignature_only_when_told(setup, settings, monkeypatch):
    from settlement import tasks as settlement_tasks

    class Recorder:
        """settle_block: what ran where it was called, and what was queued."""

        def __init__(self) -> None:
            self.ran: list[int] = []
            self.queued: list[int] = []

        def __call__(self, height, **kwargs):
            self.ran.append(height)

        def delay(self, height, **kwargs):
            self.queued.append(height)

    settle_block = Recorder()
    monkeypatch.setattr(settlement_tasks, "settle_block", settle_block)
    monkeypatch.setattr(settlement_tasks.settle_net, "delay", lambda: None)
    genesis, _ = setup
    # without the setting, the seal task settles the block there and then
    settlement_tasks.block_sealed(genesis.height)
    assert (settle_block.ran, settle_block.queued) == ([genesis.height], [])
    # with it, sealing settles nothing ...
    settings.SETTLEMENT_AWAITS_COSIGNATURE = True
    settle_block.ran.clear()
    head = seal(2)
    settlement_tasks.block_sealed(head.height)
    assert (settle_block.ran, settle_block.queued) == ([], [])
    # ... and the co-signature of the head queues the settlement of every block it made final
    witnessing.cosign_head(post=InProcess())
    assert (settle_block.ran, settle_block.queued) == ([], [genesis.height, head.height])


def test_the_block_page_lists_the_witness_cosignature(setup, client):
    from core.models import Role
    from tests.conftest import build_market, log_in

    genesis, _ = setup
    witnessing.cosign_head(post=InProcess())
    log_in(client, build_market().user(Role.AUDITOR))
    page = client.get(f"/ledger/blocks/{genesis.height}/").content.decode()
    assert 'class="cosignature" data-witness="regulator.test/witness"' in page
    assert page.count("— regulator.test/witness ") == 1  # the line in the signed note shown


def test_an_evidence_bundle_names_the_witness_that_cosigned_it_so_removing_its_line_fails(setup, tmp_path):
    # given a co-signed head, and an evidence bundle of its entries
    import json
    import shlex

    from auditing.selectors import evidence_bundle
    from ledger.api import keys_json
    from ledger.models import Entry

    _genesis, vkey = setup
    witnessing.cosign_head(post=InProcess())
    bundle = evidence_bundle(subject={"account": "A0"}, events=[], entries=list(Entry.objects.all()), by="auditor")
    (tmp_path / "ledger-keys.json").write_text(json.dumps(keys_json()))

    def verify(b) -> int:
        (tmp_path / "bundle.json").write_text(json.dumps(b))
        argv = shlex.split(b["command"])[2:]  # after "python ledger/verifier.py"
        return verifier_main([str(tmp_path / a) if a.endswith(".json") else a for a in argv])

    # then its printed command names the witness, and it verifies as printed
    assert f"--witness {vkey}" in bundle["command"]
    assert verify(bundle) == 0
    # but not once the witness's line is taken out of the checkpoint
    lines = bundle["checkpoint"].split("\n")
    stripped = {**bundle, "checkpoint": "\n".join(line for line in lines if "regulator.test/witness" not in line)}
    assert verify(stripped) == 1
