"""The witness node (issue 13): C2SP tlog-witness add-checkpoint, checked against a log written here.

The log in this file is an independent implementation written from the specifications' text (RFC 9162
§2.1 for the tree and its consistency proofs, C2SP signed-note / tlog-checkpoint for the note, C2SP
tlog-cosignature for checking what the witness returns); it uses none of ``ledger``'s code.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from ledger import checkpoint as checkpoint_module
from ledger import witness
from ledger.models import SplitViewEvidence, WitnessedCheckpoint, WitnessedLog

pytestmark = pytest.mark.django_db

ORIGIN = "example.test/log"


# --- An independent log (RFC 9162 + C2SP), written from the specifications ----------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1: MTH of a list of leaf inputs."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m: int, leaves: list[bytes]) -> list[bytes]:
    return subproof(m, leaves, True)


class Log:
    """A log that signs C2SP checkpoints with one Ed25519 key (signature type 0x01)."""

    def __init__(self, name: str = ORIGIN, origin: str = ORIGIN) -> None:
        self.name, self.origin = name, origin
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def key_hash(self) -> bytes:
        return _h(self.name.encode() + b"\n" + b"\x01" + self.public)[:4]

    def vkey(self) -> str:
        key = base64.b64encode(b"\x01" + self.public).decode()
        return f"{self.name}+{self.key_hash().hex()}+{key}"

    def body(self, leaves: list[bytes]) -> str:
        return f"{self.origin}\n{len(leaves)}\n{base64.b64encode(mth(leaves)).decode()}\n"

    def note(self, leaves: list[bytes], *, extra_lines: str = "") -> str:
        text = self.body(leaves)
        sig = self.key.sign(text.encode())
        return text + "\n" + extra_lines + f"— {self.name} {base64.b64encode(self.key_hash() + sig).decode()}\n"


def request(old: int, proof: list[bytes], note: str) -> bytes:
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + note).encode()


def check_cosignature(line: str, body: str, witness_name: str, witness_public: bytes) -> int:
    """C2SP tlog-cosignature: the line's key hash, then ts[8] ‖ Ed25519 over "cosignature/v1\\ntime T\\n" ‖ body."""
    dash, name, b64 = line.rstrip("\n").split(" ")
    assert (dash, name) == ("—", witness_name)
    blob = base64.b64decode(b64)
    assert blob[:4] == _h(witness_name.encode() + b"\n" + b"\x04" + witness_public)[:4]
    ts = int.from_bytes(blob[4:12], "big")
    message = f"cosignature/v1\ntime {ts}\n".encode() + body.encode()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(witness_public).verify(blob[12:], message)  # raises if bad
    return ts


def leaves_of(n: int, tag: bytes = b"e") -> list[bytes]:
    return [tag + str(i).encode() for i in range(n)]


@pytest.fixture
def the_witness(tmp_path, settings):
    settings.WITNESS_KEY_FILE = tmp_path / "w" / "witness.pem"
    settings.WITNESS_NAME = "regulator.test/witness"
    assert witness.key_create()
    vkey = witness.verifier_key()
    name, rest = vkey.split("+", 1)
    public = base64.b64decode(rest.split("+", 1)[1])[1:]
    return name, public


@pytest.fixture
def log(the_witness):
    log = Log()
    witness.log_trust(origin=ORIGIN, verifier_keys=[log.vkey()])
    return log


def _state():
    row = WitnessedLog.objects.get(origin=ORIGIN)
    return row.tree_size, bytes(row.root) if row.root is not None else None


# --- add-checkpoint, the happy path -------------------------------------------------------------------


def test_first_checkpoint_is_cosigned_and_the_cosignature_verifies_independently(the_witness, log):
    # given a witness that knows the log, and a log of 5 entries
    leaves = leaves_of(5)
    # when the log submits its first checkpoint (old 0, no proof)
    answer = witness.add_checkpoint(request(0, [], log.note(leaves)), now=1_700_000_000)
    # then one cosignature/v1 line comes back that a verifier written from the spec accepts
    assert answer.status == 200, answer.body
    assert answer.body.count("\n") == 1 and answer.body.startswith("— ")
    ts = check_cosignature(answer.body, log.body(leaves), *the_witness)
    assert ts == 1_700_000_000
    # and the witness persisted the checkpoint before answering
    assert _state() == (5, mth(leaves))
    assert WitnessedCheckpoint.objects.filter(origin=ORIGIN, tree_size=5).count() == 1


def test_a_consistent_extension_is_cosigned(the_witness, log):
    # given the witness co-signed size 5
    leaves = leaves_of(13)
    assert witness.add_checkpoint(request(0, [], log.note(leaves[:5]))).status == 200
    # when the log submits size 13 with the RFC 9162 consistency proof from 5
    answer = witness.add_checkpoint(request(5, consistency(5, leaves), log.note(leaves)))
    # then it is co-signed and the witness moved to 13
    assert answer.status == 200, answer.body
    check_cosignature(answer.body, log.body(leaves), *the_witness)
    assert _state() == (13, mth(leaves))


def test_unknown_signatures_and_extension_lines_are_ignored(the_witness, log):
    # given a checkpoint with two extension lines and a signature line of a key the witness does not know
    leaves = leaves_of(3)
    body = f"{ORIGIN}\n3\n{base64.b64encode(mth(leaves)).decode()}\nblock 0 {'A' * 43}=\nanother extension\n"
    sig = log.key.sign(body.encode())
    stranger = "— other.example/key " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"
    note = body + "\n" + stranger + f"— {log.name} {base64.b64encode(log.key_hash() + sig).decode()}\n"
    # when it is submitted
    answer = witness.add_checkpoint(request(0, [], note))
    # then the witness co-signs the whole body, extension lines included
    assert answer.status == 200, answer.body
    check_cosignature(answer.body, body, *the_witness)


def test_the_same_checkpoint_again_is_cosigned_again(the_witness, log):
    leaves = leaves_of(4)
    assert witness.add_checkpoint(request(0, [], log.note(leaves))).status == 200
    answer = witness.add_checkpoint(request(4, [], log.note(leaves)))
    assert answer.status == 200
    assert _state() == (4, mth(leaves))
    assert WitnessedCheckpoint.objects.filter(origin=ORIGIN).count() == 1


# --- refusals: each changes nothing --------------------------------------------------------------------


def test_a_stale_old_size_gets_409_with_the_witness_size(the_witness, log):
    leaves = leaves_of(8)
    assert witness.add_checkpoint(request(0, [], log.note(leaves[:6]))).status == 200
    # when the log believes the witness is at 0
    answer = witness.add_checkpoint(request(0, [], log.note(leaves)))
    # then 409, text/x.tlog.size, the size the witness holds
    assert (answer.status, answer.content_type, answer.body) == (409, "text/x.tlog.size", "6\n")
    assert _state() == (6, mth(leaves[:6]))
    assert not SplitViewEvidence.objects.exists()


def test_a_bad_consistency_proof_is_422_and_records_nothing(the_witness, log):
    leaves = leaves_of(10)
    first = log.note(leaves[:4])
    assert witness.add_checkpoint(request(0, [], first)).status == 200
    # given a fork: the log rewrote entry 2 and signs the longer tree, proving from its own fork
    fork = leaves[:2] + [b"rewritten"] + leaves[3:]
    offered = log.note(fork)
    # when it submits with the (fork's) proof from 4
    answer = witness.add_checkpoint(request(4, consistency(4, fork), offered))
    # then the witness refuses and stays at 4, co-signing nothing
    assert answer.status == 422
    assert _state() == (4, mth(leaves[:4]))
    # and keeps no evidence: a proof that does not verify says nothing of the log, whoever sent it
    assert not SplitViewEvidence.objects.exists()


def test_the_logs_genuine_checkpoint_with_a_forged_proof_is_refused_and_then_cosigned(the_witness, log):
    # (found by a probe: anyone could send the log's next checkpoint, read from the exchange before it reached
    # the witness, with a flipped proof, and the witness recorded a split view between two consistent checkpoints)
    leaves = leaves_of(10)
    assert witness.add_checkpoint(request(0, [], log.note(leaves[:4]))).status == 200
    genuine, proof = log.note(leaves), consistency(4, leaves)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    # when an outsider sends it with a flipped proof, or with none
    answers = [witness.add_checkpoint(request(4, bad, genuine)).status for bad in (flipped, [])]
    # then both are refused, the witness stays at 4 and no split view is recorded
    assert answers == [422, 422] and _state() == (4, mth(leaves[:4]))
    assert not SplitViewEvidence.objects.exists()
    # and the log's own request, with the genuine proof, is co-signed
    assert witness.add_checkpoint(request(4, proof, genuine)).status == 200
    assert _state() == (10, mth(leaves)) and not SplitViewEvidence.objects.exists()


def test_sizes_beyond_uint64_or_of_thousands_of_digits_are_400_not_500(the_witness, log):
    # (found by a probe: 4,301 digits made Python's int() refuse the conversion, and the witness answered 500)
    leaves = leaves_of(3)
    note = log.note(leaves)
    body, sep, sigs = note.partition("\n\n")
    origin, _size, rest = body.split("\n", 2)
    for size in ("9" * 4301, str(2**64)):
        huge = f"{origin}\n{size}\n{rest}"
        assert witness.add_checkpoint(f"old {size}\n\n{note}".encode()).status == 400
        assert witness.add_checkpoint(f"old 0\n\n{huge}{sep}{sigs}".encode()).status == 400
    # and a size the parser takes but the witness's bigint column cannot hold is a 400 too (found by a review)
    for size in (2**63, 2**64 - 1):
        big = f"{origin}\n{size}\n{rest}\n"
        signature = base64.b64encode(log.key_hash() + log.key.sign(big.encode())).decode()
        answer = witness.add_checkpoint(f"old 0\n\n{big}\n— {log.name} {signature}\n".encode())
        assert (answer.status, answer.body) == (400, f"this witness keeps tree sizes up to {2**63 - 1}\n")
    assert checkpoint_module.uint64(str(2**64 - 1)) == 2**64 - 1
    assert [checkpoint_module.uint64(t) for t in (str(2**64), "01", "+1", "1_0", "", "9" * 4301)] == [None] * 6
    assert not WitnessedCheckpoint.objects.exists() and not SplitViewEvidence.objects.exists()


def test_a_second_root_for_a_cosigned_size_is_a_split_view(the_witness, log):
    leaves = leaves_of(6)
    held = log.note(leaves)
    assert witness.add_checkpoint(request(0, [], held)).status == 200
    # when the log signs another tree of the same size
    other = log.note(leaves_of(6, b"x"))
    answer = witness.add_checkpoint(request(6, [], other))
    # then 409 and evidence of the split view
    assert (answer.status, answer.body) == (409, "6\n")
    ev = SplitViewEvidence.objects.get()
    assert (ev.kind, ev.held, ev.offered) == (SplitViewEvidence.Kind.SAME_SIZE, held, other)
    assert _state() == (6, mth(leaves))


def test_an_older_size_with_another_root_is_caught_from_history(the_witness, log):
    leaves = leaves_of(9)
    assert witness.add_checkpoint(request(0, [], log.note(leaves[:3]))).status == 200
    assert witness.add_checkpoint(request(3, consistency(3, leaves), log.note(leaves))).status == 200
    # when the log shows someone a different tree of size 3 (one the witness co-signed before)
    answer = witness.add_checkpoint(request(3, [], log.note(leaves_of(3, b"y"))))
    assert answer.status == 409
    assert SplitViewEvidence.objects.get().kind == SplitViewEvidence.Kind.SAME_SIZE
    assert _state() == (9, mth(leaves))


def _signed(log: Log, text: str, *, extra_lines: str = "") -> str:
    """A note of ``text`` (any body, extension lines included) signed by the log's key."""
    sig = log.key.sign(text.encode())
    return text + "\n" + extra_lines + f"— {log.name} {base64.b64encode(log.key_hash() + sig).decode()}\n"


def _with_block_line(log: Log, leaves: list[bytes], block_hash: bytes) -> str:
    return log.body(leaves) + f"block 7 {base64.b64encode(block_hash).decode()}\n"


def test_the_same_root_under_another_block_line_is_a_split_view_and_replaces_nothing(the_witness, log):
    # (found by an outside tester: the witness co-signed a second note of the size it held, same root, its
    # block line changed, and then held that one)
    leaves = leaves_of(6)
    held = _signed(log, _with_block_line(log, leaves, b"\x01" * 32))
    assert witness.add_checkpoint(request(0, [], held)).status == 200
    # given a note signed by the log's key, of the same origin, size and root, with another block line
    offered = _signed(log, _with_block_line(log, leaves, b"\x02" * 32))
    # when it is sent with old = the size the witness holds (and from an old size of 0)
    answers = [witness.add_checkpoint(request(old, [], offered)) for old in (6, 0)]
    # then both are refused, 409 with the size it holds, and no cosignature comes back
    assert [(a.status, a.content_type, a.body) for a in answers] == [(409, "text/x.tlog.size", "6\n")] * 2
    # and the two signed notes are kept once as evidence of a split view of the same root
    ev = SplitViewEvidence.objects.get()
    assert (ev.kind, ev.held, ev.offered, ev.old_size) == (SplitViewEvidence.Kind.SAME_ROOT, held, offered, 6)
    # and the witness still holds the note it co-signed, nothing else
    row = WitnessedLog.objects.get(origin=ORIGIN)
    assert (row.tree_size, bytes(row.root), row.checkpoint) == (6, mth(leaves), held)
    assert list(WitnessedCheckpoint.objects.values_list("tree_size", "checkpoint")) == [(6, held)]


def test_an_older_size_under_another_block_line_is_caught_from_history(the_witness, log):
    leaves = leaves_of(9)
    held = _signed(log, _with_block_line(log, leaves[:3], b"\x01" * 32))
    assert witness.add_checkpoint(request(0, [], held)).status == 200
    assert witness.add_checkpoint(request(3, consistency(3, leaves), log.note(leaves))).status == 200
    # when the log shows a size-3 note it did not show the witness, the same root with another block line
    offered = _signed(log, _with_block_line(log, leaves[:3], b"\x03" * 32))
    answer = witness.add_checkpoint(request(3, [], offered))
    # then it is refused as a split view, and the witness stays at 9 with size 3 as it co-signed it
    assert (answer.status, answer.body) == (409, "9\n")
    assert SplitViewEvidence.objects.get().kind == SplitViewEvidence.Kind.SAME_ROOT
    assert _state() == (9, mth(leaves))
    assert WitnessedCheckpoint.objects.get(tree_size=3).checkpoint == held


def test_an_extension_line_added_or_dropped_is_another_checkpoint(the_witness, log):
    leaves = leaves_of(4)
    held = _signed(log, _with_block_line(log, leaves, b"\x01" * 32))
    assert witness.add_checkpoint(request(0, [], held)).status == 200
    # when the same origin, size, root and block line come without it, or with one more line
    bare = _signed(log, log.body(leaves))
    more = _signed(log, _with_block_line(log, leaves, b"\x01" * 32) + "another extension\n")
    # then each is refused and kept as evidence; the witness holds what it held
    assert [witness.add_checkpoint(request(4, [], n)).status for n in (bare, more)] == [409, 409]
    assert sorted(SplitViewEvidence.objects.values_list("offered", flat=True)) == sorted([bare, more])
    assert WitnessedLog.objects.get(origin=ORIGIN).checkpoint == held


def test_the_same_body_with_other_signature_lines_is_cosigned_again_and_the_held_note_kept(the_witness, log):
    leaves = leaves_of(5)
    text = _with_block_line(log, leaves, b"\x01" * 32)
    held = _signed(log, text)
    assert witness.add_checkpoint(request(0, [], held)).status == 200
    # given the same body with a co-signer's line added (a key the witness does not know)
    stranger = "— other.example/key " + base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"
    again = _signed(log, text, extra_lines=stranger)
    # when it is sent with old = its size (C2SP tlog-witness: old equal to the size, an identical root)
    answer = witness.add_checkpoint(request(5, [], again), now=1_700_000_123)
    # then it is co-signed again, over the same body
    assert answer.status == 200, answer.body
    assert check_cosignature(answer.body, text, *the_witness) == 1_700_000_123
    # and the witness still holds the note it first co-signed; no evidence, no second record
    assert WitnessedLog.objects.get(origin=ORIGIN).checkpoint == held
    assert list(WitnessedCheckpoint.objects.values_list("tree_size", "checkpoint")) == [(5, held)]
    assert not SplitViewEvidence.objects.exists()


@pytest.mark.parametrize(
    "case",
    [
        "unknown origin",
        "unknown key",
        "forged signature",
        "old larger",
        "no blank line",
        "bad old line",
        "leading zero",
        "bad proof line",
        "too many proof lines",
        "proof from zero",
        "not utf-8",
        "no signature",
    ],
)
def test_bad_requests_get_their_status_and_change_nothing(the_witness, log, case):
    leaves = leaves_of(5)
    assert witness.add_checkpoint(request(0, [], log.note(leaves[:2]))).status == 200
    before = _state()
    note = log.note(leaves)
    proof = consistency(2, leaves)
    bodies = {
        "unknown origin": (request(2, proof, Log(origin="other.test/log").note(leaves)), 404),
        "unknown key": (request(2, proof, Log().note(leaves)), 403),
        "forged signature": (
            request(
                2,
                proof,
                note.replace(note.split(" ")[-1], base64.b64encode(log.key_hash() + bytes(64)).decode() + "\n"),
            ),
            403,
        ),
        "old larger": (request(7, [], note), 400),
        "no blank line": (b"old 2\n" + note.encode().replace(b"\n\n", b"\n"), 400),
        "bad old line": (request(2, proof, note).replace(b"old 2", b"old two"), 400),
        "leading zero": (request(2, proof, note).replace(b"old 2", b"old 02"), 400),
        "bad proof line": (request(2, [b"short"], note), 400),
        "too many proof lines": (request(2, [bytes(32)] * 64, note), 400),
        "proof from zero": (request(0, [bytes(32)], note), 409),
        "not utf-8": (b"old 2\n\xff\n\n" + note.encode(), 400),
        "no signature": (request(2, proof, log.body(leaves) + "\n"), 400),
    }
    body, status = bodies[case]
    answer = witness.add_checkpoint(body)
    assert answer.status == status, (case, answer)
    assert _state() == before
    assert WitnessedCheckpoint.objects.count() == 1
    assert not SplitViewEvidence.objects.exists()


def test_a_nonempty_proof_from_zero_is_422(the_witness, log):
    answer = witness.add_checkpoint(request(0, [bytes(32)], log.note(leaves_of(3))))
    assert answer.status == 422
    assert _state() == (0, None)


def test_log_trust_refuses_a_cosignature_key_for_a_log(the_witness):
    vkey = witness.verifier_key()  # a type 0x04 key
    with pytest.raises(ValueError):
        witness.log_trust(origin="x.test/log", verifier_keys=[vkey])
    assert not WitnessedLog.objects.filter(origin="x.test/log").exists()


def test_trusting_and_untrusting_keys_stamp_the_rows_updated_at_and_nothing_else(the_witness, log, capsys):
    # given the witnessed log's row, with a co-signed checkpoint, last changed a day ago
    assert witness.add_checkpoint(request(0, [], log.note(leaves_of(3)))).status == 200
    day_ago = timezone.now() - dt.timedelta(days=1)
    WitnessedLog.objects.filter(origin=ORIGIN).update(updated_at=day_ago)
    held = _state(), WitnessedLog.objects.get(origin=ORIGIN).checkpoint
    new = Log()

    # when the regulator trusts the log's new key, then untrusts the old one
    call_command("ledger_witness", "trust", ORIGIN, new.vkey())
    trusted = WitnessedLog.objects.get(origin=ORIGIN)
    call_command("ledger_witness", "untrust", ORIGIN, log.vkey())
    untrusted = WitnessedLog.objects.get(origin=ORIGIN)

    # then each change is stamped, after the one before it; the co-signed checkpoint is as it was
    assert day_ago < trusted.updated_at < untrusted.updated_at
    assert trusted.verifier_keys.split() == [log.vkey(), new.vkey()] and untrusted.verifier_keys.split() == [new.vkey()]
    assert (_state(), untrusted.checkpoint) == held


# --- over HTTP ------------------------------------------------------------------------------------------


@override_settings(ROOT_URLCONF="config.witness_urls")
def test_http_interface(the_witness, log):
    client = Client()
    leaves = leaves_of(7)
    # GET is not the protocol
    assert client.get("/add-checkpoint").status_code == 405
    ok = client.post("/add-checkpoint", request(0, [], log.note(leaves[:3])), content_type="text/plain")
    assert ok.status_code == 200
    check_cosignature(ok.content.decode(), log.body(leaves[:3]), *the_witness)
    stale = client.post("/add-checkpoint", request(0, [], log.note(leaves)), content_type="text/plain")
    assert (stale.status_code, stale["Content-Type"], stale.content) == (409, "text/x.tlog.size", b"3\n")
    # the status page, for the regulator and for machines
    page = client.get("/")
    assert page.status_code == 200 and b"no-split-view" in page.content and ORIGIN.encode() in page.content
    status = json.loads(client.get("/", HTTP_ACCEPT="application/json").content)
    assert status["verifier_key"] == witness.verifier_key()
    assert status["logs"][0]["tree_size"] == 3 and status["split_views"] == []
    # a split view shows on the page
    client.post("/add-checkpoint", request(3, [], log.note(leaves_of(3, b"z"))), content_type="text/plain")
    assert b"split-view-alert" in client.get("/").content
    assert len(json.loads(client.get("/", HTTP_ACCEPT="application/json").content)["split_views"]) == 1


@pytest.mark.parametrize("venue", ["open", "cn-regional-2017"])
def test_the_witness_page_names_the_venue_rules_in_its_footer_as_every_page(the_witness, log, settings, venue):
    # given the exchange's venue rule profile, and the witness node's addresses
    settings.VENUE_PROFILE = venue
    settings.ROOT_URLCONF = "config.witness_urls"
    # when the regulator opens the witness's page
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/")
    # then its footer names the profile, as every page's does
    assert page.status_code == 200
    assert f'<span class="venue-profile" data-profile="{venue}">Venue rules: {venue} (' in page.content.decode()


def test_the_witness_command_sets_a_witness_up(tmp_path, settings, capsys):
    from django.core.management import CommandError, call_command

    settings.WITNESS_KEY_FILE = tmp_path / "cmd" / "witness.pem"
    settings.WITNESS_NAME = "regulator.test/witness"
    # init creates the key once and prints the verifier key
    call_command("ledger_witness", "init")
    first = capsys.readouterr().out.strip()
    assert (
        first.startswith("regulator.test/witness+")
        and (tmp_path / "cmd" / "witness.pem").stat().st_mode & 0o777 == 0o600
    )
    call_command("ledger_witness", "init")
    assert capsys.readouterr().out.strip() == first
    # trust takes a log's verifier keys, and refuses a malformed one with nothing stored
    log = Log()
    call_command("ledger_witness", "trust", ORIGIN, log.vkey())
    assert WitnessedLog.objects.get(origin=ORIGIN).verifier_keys == log.vkey()
    with pytest.raises(CommandError):
        call_command("ledger_witness", "trust", "other.test/log", "not-a-key")
    assert not WitnessedLog.objects.filter(origin="other.test/log").exists()
    # show lists the logs and the split views
    assert witness.add_checkpoint(request(0, [], log.note(leaves_of(2)))).status == 200
    witness.add_checkpoint(request(2, [], log.note(leaves_of(2, b"q"))))
    call_command("ledger_witness", "show")
    out = capsys.readouterr().out
    assert f"log {ORIGIN}: co-signed up to size 2" in out and "SPLIT VIEW" in out


def test_ledger_keys_prints_the_origin_and_the_verifier_keys(settings, capsys):
    from django.core.management import call_command

    from ledger.services import block_seal, entry_append

    entry_append(kind="DEPOSIT", payload={"account": "A1", "amount": "1.00"})
    block_seal()
    call_command("ledger_keys")
    origin, vkey = capsys.readouterr().out.split()
    assert origin == settings.LEDGER_ORIGIN
    name, key_type, _ = checkpoint_module.parse_verifier_key(vkey)
    assert (name, key_type) == (settings.LEDGER_ORIGIN, b"\x01")  # a new ledger's key is named like its origin
