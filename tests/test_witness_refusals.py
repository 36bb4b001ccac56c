"""A witness's refusal is recorded once (found by outside testers: the client recorded the same refused head on
every beat, a ``ledger_witnessrefusal`` row every 5 s, and the operations page warned of 13 refused checkpoints
where 4 blocks were refused)."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import Role
from ledger import checkpoint, keys, witness, witnessing
from ledger.models import WitnessRefusal
from surveillance.models import Alert, Rule
from tests.conftest import build_market, log_in
from tests.test_cosigning import InProcess, seal, setup  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def _split_view(settings, head) -> None:
    """The exchange's key also signed another tree of the head's size, and the witness co-signed that one."""
    body = checkpoint.body(
        origin=settings.LEDGER_ORIGIN,
        tree_size=head.tree_size,
        root=bytes(32),
        height=head.height,
        block_hash=bytes(32),
    )
    forged = checkpoint.sign(body, [keys.signers_for_seal()[0][1]])
    assert witness.add_checkpoint(f"old 0\n\n{forged}".encode()).status == 200


class Refusing:
    """A witness that answers every request with the one refusal it is set to."""

    def __init__(self, status: int, body: str) -> None:
        self.status, self.body, self.requests = status, body, 0

    def __call__(self, url: str, body: bytes) -> witnessing.Reply:
        self.requests += 1
        return witnessing.Reply(self.status, "text/plain; charset=utf-8", self.body)


def _banner(client) -> str:
    page = client.get("/operations/").content.decode()
    start = page.find('id="split-view-alert"')
    return page[start : page.find("</p>", start)] if start >= 0 else ""


def test_the_same_refusal_on_every_beat_is_recorded_once(setup, settings):  # noqa: F811 (a fixture)
    # given a head the witness refuses as a split view
    head = seal(4)
    _split_view(settings, head)
    post = InProcess()
    operator = build_market().user(Role.EXCHANGE_OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, operator)

    # when beat asks the witness again and again (every 5 s) with the head unchanged
    for _ in range(5):
        assert witnessing.cosign_head(post=post) == 0

    # then it was asked each time, but the refusal is recorded once, and the regulator has one alert
    assert len(post.requests) == 10  # two a beat: the first 409 tells the witness's size, tried once more
    refusal = WitnessRefusal.objects.get()
    assert (refusal.witness, refusal.block_id, refusal.status, refusal.split_view) == (
        "regulator.test/witness",
        head.height,
        409,
        True,
    )
    assert Alert.objects.filter(rule__code=Rule.Code.SPLIT_VIEW).count() == 1
    assert witnessing.split_view_blocks() == [head.height]
    # and the operations page warns of one refused checkpoint
    assert "refused 1 checkpoint this exchange signed" in _banner(client)

    # when the next block is refused too (its consistency proof from the forged tree cannot verify), on
    # several beats
    nxt = seal(2)
    for _ in range(3):
        witnessing.cosign_head(post=Refusing(422, "the consistency proof does not verify\n"))

    # then each refused block is recorded once, and the page counts the two refused checkpoints
    assert list(WitnessRefusal.objects.order_by("id").values_list("block_id", flat=True)) == [head.height, nxt.height]
    assert witnessing.split_view_blocks() == [head.height, nxt.height]
    assert "refused 2 checkpoints this exchange signed" in _banner(client)


def test_another_refusal_of_the_same_block_is_recorded(setup):  # noqa: F811 (a fixture)
    # given a head the witness refused with a 422 (its proof did not verify), recorded
    head = seal(3)
    witnessing.cosign_head(post=Refusing(422, "the consistency proof does not verify\n"))
    assert list(WitnessRefusal.objects.values_list("status", "split_view")) == [(422, True)]

    # when the witness later refuses the same block for another reason (it no longer trusts the exchange's
    # key), on several beats
    for _ in range(3):
        witnessing.cosign_head(post=Refusing(403, "the checkpoint carries no signature of a key of that log\n"))
    # and for the same status with another answer
    witnessing.cosign_head(post=Refusing(403, "this witness does not trust that key any more\n"))

    # then each different refusal is recorded, each once, all of the same block
    rows = WitnessRefusal.objects.order_by("id")
    assert [(r.status, r.split_view, r.answer) for r in rows] == [
        (422, True, "the consistency proof does not verify\n"),
        (403, False, "the checkpoint carries no signature of a key of that log\n"),
        (403, False, "this witness does not trust that key any more\n"),
    ]
    assert {r.block_id for r in rows} == {head.height}
    # and the split views are one checkpoint
    assert witnessing.split_view_blocks() == [head.height]


def test_a_witness_not_told_of_a_rotated_key_logs_one_error_then_cosigns_again_once_it_trusts_it(
    setup,  # noqa: F811 (a fixture)
    settings,
    caplog,
):
    import logging

    from ledger.models import Cosignature, WitnessState

    # given a witness that co-signed the head, and the exchange rotated its key without telling it
    post = InProcess()
    seal(1)
    witnessing.cosign_head(post=post)
    keys.key_rotate()
    rotation = seal(1)
    assert witnessing.cosign_head(post=post) == 1  # the old key signs the rotation block too

    # when three more blocks are sealed, each asked of the witness (on several beats)
    caplog.set_level(logging.INFO, logger="ledger.witnessing")
    refused = []
    for _ in range(3):
        refused.append(seal(1))
        witnessing.cosign_head(post=post)
        witnessing.cosign_head(post=post)

    # then each refused block is recorded, but the one cause is logged as an ERROR once, the others at INFO
    answer = "the checkpoint carries no signature of a key of that log"
    rows = WitnessRefusal.objects.order_by("id")
    assert [(r.block_id, r.status, r.split_view) for r in rows] == [(b.height, 403, False) for b in refused]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        f"witness regulator.test/witness refused block {refused[0].height} (HTTP 403): {answer}\n"
    ]
    assert f"refused block {refused[2].height} too (HTTP 403), as the blocks before it" in caplog.text
    # and the operations page's card says what the witness said, not only its status
    state = WitnessState.objects.get()
    assert state.last_error == f"refused: HTTP 403: {answer}"
    assert state.cosigned_size == rotation.tree_size
    assert not Alert.objects.filter(rule__code=Rule.Code.SPLIT_VIEW).exists()

    # when the witness is told to trust the new key
    new = keys.signers_for_seal()[0][0]
    witness.log_trust(
        origin=settings.LEDGER_ORIGIN, verifier_keys=[checkpoint.verifier_key(new.name, bytes(new.public_key))]
    )
    assert witnessing.cosign_head(post=post) == 1

    # then it co-signs the head, consistent with the rotation block it co-signed, and the card is clear
    state.refresh_from_db()
    assert (state.cosigned_size, state.last_error) == (refused[-1].tree_size, "")
    assert Cosignature.objects.filter(block=refused[-1]).exists()
    assert not Cosignature.objects.filter(block__in=refused[:-1]).exists()

    # when the key is rotated again, the witness again not told: a new episode is one new ERROR
    caplog.clear()
    keys.key_rotate()
    seal(1)
    witnessing.cosign_head(post=post)
    later = seal(1)
    witnessing.cosign_head(post=post)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"witness regulator.test/witness refused block {later.height} (HTTP 403): {answer}\n"
    ]


def test_a_witness_untrusts_a_retired_key_which_then_gets_no_cosignature(setup, settings, tmp_path):  # noqa: F811
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from django.core.management import CommandError, call_command

    from ledger.models import SigningKey, WitnessedLog
    from ledger.services import signed_note

    # given a witness that trusted the exchange's old key and, after a rotation, its new one
    post = InProcess()
    old = SigningKey.objects.get()
    stolen = load_pem_private_key((tmp_path / "keys" / f"{old.key_id}.pem").read_bytes(), password=None)
    keys.key_rotate()
    seal(1)
    new = SigningKey.objects.get(status=SigningKey.Status.ACTIVE)
    vkey = lambda k: checkpoint.verifier_key(k.name, bytes(k.public_key))  # noqa: E731
    witness.log_trust(origin=settings.LEDGER_ORIGIN, verifier_keys=[vkey(new)])
    assert witnessing.cosign_head(post=post) == 1

    # when the regulator untrusts the retired key
    call_command("ledger_witness", "untrust", settings.LEDGER_ORIGIN, vkey(old))

    # then a checkpoint the retired key alone signs (its file kept by someone) is refused, and the new key's is
    # co-signed
    head = seal(1)
    forged = checkpoint.sign(head.checkpoint, [checkpoint.Signer(name=old.name, private_key=stolen)])
    logged = WitnessedLog.objects.get()
    answer = witness.add_checkpoint(witnessing.request_body(head, logged.tree_size, forged))
    assert (answer.status, answer.body) == (403, "the checkpoint carries no signature of a key of that log\n")
    assert witness.add_checkpoint(witnessing.request_body(head, logged.tree_size, signed_note(head))).status == 200
    assert WitnessedLog.objects.get().verifier_keys.split() == [vkey(new)]

    # and the last key, or a key it does not hold, is refused with nothing changed
    with pytest.raises(CommandError, match="would keep no key"):
        call_command("ledger_witness", "untrust", settings.LEDGER_ORIGIN, vkey(new))
    with pytest.raises(CommandError, match="not a key this witness trusts"):
        call_command("ledger_witness", "untrust", settings.LEDGER_ORIGIN, vkey(old))
    with pytest.raises(CommandError, match="does not witness"):
        call_command("ledger_witness", "untrust", "other.example/log", vkey(new))
    assert WitnessedLog.objects.get().verifier_keys.split() == [vkey(new)]
