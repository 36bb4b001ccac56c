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
