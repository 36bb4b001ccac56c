"""C2SP formats both ways, and verification that trusts no single party (DESIGN.md §4, issue 13 items 1 and 4).

Every checkpoint and co-signature checked here comes from a writer written in this file from the
specifications' text (C2SP signed-note, tlog-checkpoint, tlog-cosignature), not from ``ledger``:
what our parser and verifier accept is what any conforming log or witness produces.
"""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from django.db import transaction

from core.models import Role
from ledger import checkpoint
from ledger.models import Block, SigningKey
from ledger.services import block_seal, entry_append, signed_note
from ledger.verification import Report, verify_chain
from ledger.verifier import Policy, VerificationFailed, main, verify_checkpoint, verify_inclusion
from tests.conftest import api_for

# --- An independent writer, from the specifications' text -------------------------------------

ED25519_TYPE = b"\x01"  # signed-note: "0x01 — Ed25519 signatures"
COSIG_TYPE = b"\x04"  # signed-note: "0x04 — Timestamped Ed25519 witness cosignatures"


def spec_raw(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def spec_key_id(name: str, sig_type: bytes, public: bytes) -> bytes:
    """signed-note: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\x0a" + sig_type + public).digest()[:4]


def spec_vkey(name: str, sig_type: bytes, public: bytes) -> str:
    """Go's note verifier key: <name>+<hash as 8 hex digits>+<base64(type || key)>."""
    return "%s+%08x+%s" % (  # noqa: UP031 - the format string of Go's note package
        name,
        int.from_bytes(spec_key_id(name, sig_type, public), "big"),
        base64.standard_b64encode(sig_type + public).decode("ascii"),
    )


def spec_body(origin: str, size: int, root: bytes, extensions: list[str]) -> str:
    """tlog-checkpoint: origin, decimal size, base64 root, then optional non-empty extension lines."""
    return "".join(line + "\n" for line in [origin, str(size), base64.standard_b64encode(root).decode(), *extensions])


def spec_signature_line(name: str, blob: bytes) -> str:
    """signed-note: em dash, space, key name, space, base64 signature, newline."""
    return "\u2014 " + name + " " + base64.standard_b64encode(blob).decode() + "\n"


def spec_ed25519_line(name: str, private: Ed25519PrivateKey, text: str) -> str:
    return spec_signature_line(name, spec_key_id(name, ED25519_TYPE, spec_raw(private)) + private.sign(text.encode()))


def spec_cosignature_line(name: str, private: Ed25519PrivateKey, text: str, timestamp: int) -> str:
    """tlog-cosignature: sign "cosignature/v1\\n" + "time <ts>\\n" + body; blob = key ID || u64 ts || signature."""
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + text.encode()
    signature = private.sign(message)
    return spec_signature_line(
        name, spec_key_id(name, COSIG_TYPE, spec_raw(private)) + timestamp.to_bytes(8, "big") + signature
    )


def spec_note(text: str, lines: list[str]) -> str:
    """signed-note: the text, a blank line, the signature lines."""
    return text + "\n" + "".join(lines)


def spec_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def spec_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- Fixtures ----------------------------------------------------------------------------------

ORIGIN = "exchange.example/ledger"
WITNESS = "regulator.example/witness"
TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def parties():
    return {
        "exchange": Ed25519PrivateKey.generate(),
        "witness": Ed25519PrivateKey.generate(),
        "other_witness": Ed25519PrivateKey.generate(),
        "stranger": Ed25519PrivateKey.generate(),
    }


def two_leaf_proof(parties, *, extensions=None, cosigners=("witness",), exchange=True) -> dict:
    """An inclusion bundle for leaf 0 of a two-leaf tree, its checkpoint signed and co-signed by the spec writer."""
    a, b = spec_leaf(b"entry a"), spec_leaf(b"entry b")
    root = spec_node(a, b)
    block_hash = hashlib.sha256(b"header").digest()
    ext = extensions if extensions is not None else [f"block 1 {base64.b64encode(block_hash).decode()}"]
    text = spec_body(ORIGIN, 2, root, ext)
    lines = [spec_ed25519_line(ORIGIN, parties["exchange"], text)] if exchange else []
    names = {"witness": WITNESS, "other_witness": "depository.example/witness", "stranger": "stranger.example/w"}
    lines += [spec_cosignature_line(names[who], parties[who], text, TIME) for who in cosigners]
    return {
        "type": "inclusion",
        "leaf_index": 0,
        "tree_size": 2,
        "leaf_hash": a.hex(),
        "proof": [b.hex()],
        "checkpoint": spec_note(text, lines),
    }


def exchange_trusted(parties):
    return [(ORIGIN, spec_raw(parties["exchange"]), None)]


def witness_policy(parties, *, require_exchange=True, minimum=1, also_other=False) -> Policy:
    witnesses = [(WITNESS, COSIG_TYPE, spec_raw(parties["witness"]))]
    if also_other:
        witnesses.append(("depository.example/witness", COSIG_TYPE, spec_raw(parties["other_witness"])))
    trusted = exchange_trusted(parties) if require_exchange else []
    return Policy(trusted, tuple(witnesses), minimum, require_exchange)


def flip_in_line(note: str, name: str, byte_index: int) -> str:
    """The note with one byte of ``name``'s signature blob flipped."""
    out = []
    for line in note.split("\n"):
        if line.startswith(f"\u2014 {name} "):
            blob = bytearray(base64.b64decode(line.split(" ")[2]))
            blob[byte_index] ^= 0x01
            line = f"\u2014 {name} {base64.b64encode(bytes(blob)).decode()}"
        out.append(line)
    return "\n".join(out)


# --- Parsing: unknown signatures of any type, any number of extension lines ---------------------


def test_a_checkpoint_with_unknown_cosignatures_of_any_type_verifies(parties):
    # given a checkpoint signed by the exchange and carrying lines of keys the verifier does not know:
    # a witness's cosignature/v1, another Ed25519 key, and a made-up type with a longer signature
    bundle = two_leaf_proof(parties, cosigners=("witness", "stranger"))
    text = bundle["checkpoint"].split("\n\n")[0] + "\n"
    odd = spec_signature_line("ecdsa.example/log", b"\x12\x34\x56\x78" + bytes(71))
    note = bundle["checkpoint"] + spec_ed25519_line("csd.example", parties["other_witness"], text) + odd

    # when only the exchange's key is trusted
    # then the checkpoint verifies and every unknown line was kept, not refused
    assert verify_checkpoint(note, exchange_trusted(parties)) == f"checkpoint {ORIGIN} size 2 block 1: signature OK"
    assert [name for name, _, _ in checkpoint.parse(note).signatures] == [
        ORIGIN,
        WITNESS,
        "stranger.example/w",
        "csd.example",
        "ecdsa.example/log",
    ]
    assert "OK" in verify_inclusion({**bundle, "checkpoint": note}, exchange_trusted(parties))

    # and a checkpoint signed by nobody the verifier knows is still refused
    with pytest.raises(VerificationFailed, match="not signed by any trusted key"):
        verify_checkpoint(note, [("exchange.example/other", spec_raw(parties["stranger"]), None)])


def test_the_specifications_example_cosigned_checkpoint_parses(parties):
    # given the example of C2SP tlog-cosignature, a checkpoint with the log's and a witness's line
    note = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo"
        "+zyWE+xeMcTOAYQ8=\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
        "qhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    cp = checkpoint.parse(note)

    # then it reads as a three-line checkpoint with no block line, two signatures,
    # the witness's being a timestamp (the spec's "time 1679315147") and an Ed25519 signature
    assert (cp.origin, cp.tree_size, cp.height, cp.extensions) == ("example.com/behind-the-sofa", 20852163, None, ())
    (log_name, _, log_sig), (w_name, _, w_sig) = cp.signatures
    assert (log_name, len(log_sig), w_name, len(w_sig)) == (
        "example.com/behind-the-sofa",
        64,
        "witness.example.com/w1",
        72,
    )
    assert int.from_bytes(w_sig[:8], "big") == 1679315147
    # and, with none of its keys trusted, no line counts and nothing raises
    assert checkpoint.verified_signers(cp, [("witness.example.com/w1", spec_raw(parties["witness"]))]) == []
    assert checkpoint.verified_cosigners(cp, [("example.com/behind-the-sofa", spec_raw(parties["witness"]))]) == []


@pytest.mark.parametrize(
    ("extensions", "height"),
    [
        ([], None),
        (["block 1 " + base64.b64encode(bytes(32)).decode(), "ext one", "another: extension line"], 1),
        (["first opaque line", "block 7 " + base64.b64encode(bytes(32)).decode(), "x"], 7),
        (["a", "b", "c", "d"], None),
    ],
    ids=["none", "block-then-two", "block-in-the-middle", "four-opaque"],
)
def test_a_checkpoint_with_any_number_of_extension_lines_verifies(parties, extensions, height):
    # given a checkpoint with these extension lines, signed by the exchange and co-signed by the witness
    bundle = two_leaf_proof(parties, extensions=extensions)

    # then the proof verifies under the policy, and the extension lines are all kept
    assert "OK" in verify_inclusion(bundle, witness_policy(parties))
    cp = checkpoint.parse(bundle["checkpoint"])
    assert cp.extensions == tuple(extensions)
    assert cp.height == height


@pytest.mark.parametrize(
    "broken",
    [
        lambda n: n.replace("\n2\n", "\n02\n", 1),  # leading zero
        lambda n: n.replace(f"{ORIGIN}\n2\n", f"{ORIGIN}\n2\n\n", 1),  # an empty extension line
        lambda n: n.replace("\u2014 ", "- ", 1),  # not an em dash
        lambda n: n.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}+x ", 1),  # a plus in a key name
        lambda n: n.replace("\n2\n", "\n2\t\n", 1),  # a control character
    ],
    ids=["leading-zero", "empty-extension", "no-em-dash", "plus-in-name", "control-char"],
)
def test_a_malformed_note_is_refused(parties, broken):
    note = broken(two_leaf_proof(parties)["checkpoint"])
    with pytest.raises(VerificationFailed):
        verify_checkpoint(note, exchange_trusted(parties))


# signed-note: "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus (U+002B)
# characters", and the note no ASCII control character below U+0020. Anything else is a key name, printable or
# not: Go's note.Open reads these notes (isValidName), so do aics-tlog and an auditor's verifier written from the
# spec (checked from outside on 2026-12-07), while ours refused the whole note for another key's line.
SPEC_VALID_NAMES = [
    "wit\u200dness.example/w",  # a zero-width joiner (a format character)
    "wit\u00adness.example/w",  # a soft hyphen
    "w\ue000.example/w",  # a private-use character
    "w\x7f.example/w",  # DEL: not below U+0020
    "w\x80.example/w",  # a C1 control
    "见证.example/w",
]


@pytest.mark.parametrize("name", SPEC_VALID_NAMES, ids=["zwj", "soft-hyphen", "private-use", "del", "c1", "cjk"])
def test_an_unknown_keys_line_under_any_name_the_spec_allows_is_ignored_not_refused(parties, name):
    # given the exchange's checkpoint co-signed by a key the verifier does not know, whose name the spec allows
    bundle = two_leaf_proof(parties)
    text = bundle["checkpoint"].split("\n\n")[0] + "\n"
    note = bundle["checkpoint"] + spec_ed25519_line(name, parties["stranger"], text)

    # when only the exchange's key is trusted
    # then the note verifies and the unknown line is kept, as the spec's "MUST ignore signatures from unknown keys"
    assert verify_checkpoint(note, exchange_trusted(parties)) == f"checkpoint {ORIGIN} size 2 block 1: signature OK"
    assert checkpoint.parse(note).signatures[-1][0] == name
    # and the same key, trusted under that name (a verifier key string), verifies as a co-signer
    vkey = spec_vkey(name, ED25519_TYPE, spec_raw(parties["stranger"]))
    assert checkpoint.parse_verifier_key(vkey) == (name, ED25519_TYPE, spec_raw(parties["stranger"]))
    assert checkpoint.verified_signers(checkpoint.parse(note), [(name, spec_raw(parties["stranger"]))]) == [
        (name, spec_raw(parties["stranger"]))
    ]


@pytest.mark.parametrize(
    "name",
    ["w\u00a0x.example", "w x.example", "w\u3000x.example", "w+x.example", "w\tx.example", ""],
    ids=["nbsp", "space", "ideographic-space", "plus", "tab", "empty"],
)
def test_a_line_under_a_name_the_spec_forbids_is_a_malformed_note(parties, name):
    # given the exchange's checkpoint with another line whose key name has a Unicode space or a plus, or is empty
    bundle = two_leaf_proof(parties)
    line = "\u2014 " + name + " " + base64.standard_b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode() + "\n"
    # then the note is refused as malformed (Go's note.Open: errMalformedNote), and no verifier key has that name
    with pytest.raises(VerificationFailed):
        verify_checkpoint(bundle["checkpoint"] + line, exchange_trusted(parties))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.parse_verifier_key(name + "+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode())


# --- The witness policy ---------------------------------------------------------------------------


def test_a_cosigned_proof_passes_the_policy_offline(parties, tmp_path, capsys):
    # given a proof whose checkpoint the exchange signed and the witness co-signed
    bundle = two_leaf_proof(parties)
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(bundle))
    exchange_vkey = spec_vkey(ORIGIN, ED25519_TYPE, spec_raw(parties["exchange"]))
    witness_vkey = spec_vkey(WITNESS, COSIG_TYPE, spec_raw(parties["witness"]))

    # when the verifier runs with "the exchange and at least one of these witnesses"
    code = main(
        ["inclusion", str(path), "--key", exchange_vkey, "--require", "exchange"]
        + ["--witness", witness_vkey, "--min-witnesses", "1"]
    )

    # then it passes and names the witness and the time it co-signed
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"co-signed by 1 of 1 witnesses ({WITNESS} (co-signed at 2026-01-01T00:00:00Z = {TIME}))" in out

    # and the witnesses alone also vouch for it when the policy drops the exchange
    assert "OK" in verify_inclusion(bundle, witness_policy(parties, require_exchange=False))


@pytest.mark.parametrize(
    "doctor",
    [
        lambda n: flip_in_line(n, WITNESS, 4 + 8 + 10),  # a byte of the co-signature's Ed25519 signature
        lambda n: flip_in_line(n, WITNESS, 4 + 7),  # a byte of its timestamp
        lambda n: n.replace("ext one", "ext onf", 1),  # a byte of the checkpoint (an extension line)
    ],
    ids=["cosignature-byte", "timestamp-byte", "checkpoint-byte"],
)
def test_a_flipped_byte_fails_the_policy(parties, tmp_path, capsys, doctor):
    # given a co-signed proof with one byte flipped
    ext = ["block 1 " + base64.b64encode(bytes(32)).decode(), "ext one"]
    bundle = two_leaf_proof(parties, extensions=ext)
    bundle["checkpoint"] = doctor(bundle["checkpoint"])
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(bundle))

    # then the library refuses it, even when only the witness's co-signature is required...
    with pytest.raises(VerificationFailed):
        verify_inclusion(bundle, witness_policy(parties, require_exchange=False))
    # ...and so does the command, with exit status 1
    witness_vkey = spec_vkey(WITNESS, COSIG_TYPE, spec_raw(parties["witness"]))
    args = ["inclusion", str(path), "--require", "none", "--witness", witness_vkey]
    assert main(args) == 1
    assert "FAILED" in capsys.readouterr().err


def test_a_checkpoint_the_witness_has_not_cosigned_is_reported_as_such(parties, tmp_path, capsys):
    # given a proof signed by the exchange, co-signed by another witness but not by the one required
    bundle = two_leaf_proof(parties, cosigners=("other_witness",))
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(bundle))
    witness_vkey = spec_vkey(WITNESS, COSIG_TYPE, spec_raw(parties["witness"]))

    # then the exchange's signature alone still verifies (the old behaviour)...
    assert "OK" in verify_inclusion(bundle, exchange_trusted(parties))
    # ...but the policy that asks for the witness refuses it, saying so
    with pytest.raises(VerificationFailed, match="NOT CO-SIGNED"):
        verify_inclusion(bundle, witness_policy(parties))
    exchange = f"{ORIGIN}={base64.b64encode(spec_raw(parties['exchange'])).decode()}"
    assert main(["inclusion", str(path), "--key", exchange, "--witness", witness_vkey]) == 1
    err = capsys.readouterr().err
    assert "NOT CO-SIGNED by the required witnesses: 0 of the 1 required" in err
    assert witness_vkey in err

    # and two of two witnesses are not met by one co-signature, while one of two is
    bundle = two_leaf_proof(parties, cosigners=("witness",))
    with pytest.raises(VerificationFailed, match="1 of the 2 required"):
        verify_inclusion(bundle, witness_policy(parties, minimum=2, also_other=True))
    assert "OK" in verify_inclusion(bundle, witness_policy(parties, minimum=1, also_other=True))


def test_a_witness_policy_without_a_witness_is_bad_usage(parties, tmp_path):
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(two_leaf_proof(parties)))
    with pytest.raises(SystemExit, match="--require none"):
        main(["inclusion", str(path), "--require", "none"])
    witness_vkey = spec_vkey(WITNESS, COSIG_TYPE, spec_raw(parties["witness"]))
    with pytest.raises(SystemExit, match="min-witnesses"):
        main(["inclusion", str(path), "--require", "none", "--witness", witness_vkey, "--min-witnesses", "2"])
    with pytest.raises(SystemExit, match="witness"):  # a cosignature/v1 key is not an exchange key
        main(["inclusion", str(path), "--key", witness_vkey])
    exchange_as_witness = spec_vkey(ORIGIN, ED25519_TYPE, spec_raw(parties["exchange"]))
    with pytest.raises(SystemExit, match="vouch for itself"):  # the exchange cannot be its own witness
        main(["inclusion", str(path), "--key", exchange_as_witness, "--witness", exchange_as_witness])


# --- Verifier key strings -----------------------------------------------------------------------


def test_verifier_keys_match_gos_format_and_round_trip(parties):
    # given a key built by hand from the spec: name "example.com/log", public key bytes 0..31
    public = bytes(range(32))
    digest = hashlib.sha256(b"example.com/log\n\x01" + public).digest()
    by_hand = "example.com/log+" + digest[:4].hex() + "+" + base64.b64encode(b"\x01" + public).decode()

    # then ours equals it and Go's "%s+%08x+%s" form, and parses back
    assert (
        checkpoint.verifier_key("example.com/log", public) == by_hand == spec_vkey("example.com/log", b"\x01", public)
    )
    assert checkpoint.parse_verifier_key(by_hand) == ("example.com/log", b"\x01", public)
    # and the cosignature/v1 type gives another hash for the same name and key
    cosig = checkpoint.verifier_key("example.com/log", public, checkpoint.COSIGNATURE_V1)
    assert cosig.split("+")[1] != by_hand.split("+")[1]
    assert checkpoint.parse_verifier_key(cosig) == ("example.com/log", b"\x04", public)

    # and the example verifier key of Go's golang.org/x/mod/sumdb/note documentation parses
    name, key_type, go_public = checkpoint.parse_verifier_key(
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    assert (name, key_type, len(go_public)) == ("PeterNeumann", b"\x01", 32)
    assert (
        checkpoint.verifier_key(name, go_public) == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )

    # and random keys of both types round-trip
    for key_type in (b"\x01", b"\x04"):
        raw = spec_raw(parties["witness"])
        assert checkpoint.parse_verifier_key(spec_vkey(WITNESS, key_type, raw)) == (WITNESS, key_type, raw)


@pytest.mark.parametrize(
    "vkey",
    [
        "example.com/log+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # wrong hash
        "example.com/log+1234567+AQ==",  # seven hex digits
        "+" + "0" * 8 + "+AQ==",  # no name
        "example.com/log",  # no hash, no key
    ],
)
def test_a_malformed_verifier_key_is_refused(vkey):
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.parse_verifier_key(vkey)


# --- The node: keys/ publishes verifier keys; rotating to a key named like the origin ------------


def deposit(n: int) -> None:
    with transaction.atomic():
        for i in range(n):
            entry_append(kind="DEPOSIT", payload={"account": f"A{i}", "amount": Decimal("1.00")})


def test_the_keys_api_gives_each_keys_verifier_key(market, settings):
    # given a sealed ledger with the node's key
    block_seal()
    keys = api_for(market.user(Role.AUDITOR)).get("/api/v1/ledger/keys/").json()

    # then every key carries, beside what it had, the verifier key of its name and public key
    assert keys and all({"key_id", "name", "public_key", "status", "verifier_key"} <= set(k) for k in keys)
    for key in keys:
        public = base64.b64decode(key["public_key"])
        assert key["verifier_key"] == spec_vkey(key["name"], ED25519_TYPE, public)
        assert checkpoint.parse_verifier_key(key["verifier_key"]) == (key["name"], b"\x01", public)

    # and the head checkpoint verifies against the verifier key alone
    note = signed_note(Block.objects.order_by("-height").first())
    node = next(k for k in keys if k["local"])
    name, _, public = checkpoint.parse_verifier_key(node["verifier_key"])
    assert "signature OK" in verify_checkpoint(note, [(name, public, None)])


def test_a_rotation_moves_the_key_name_to_the_origin_without_changing_history(
    db, settings, capsys, django_capture_on_commit_callbacks, tmp_path
):
    # given a ledger whose key is named otherwise than the origin line
    settings.LEDGER_KEY_NAME, settings.LEDGER_ORIGIN = "otc-exchange.local", "otc-exchange.local/ledger"
    deposit(2)
    block_seal()
    before = {b.height: signed_note(b) for b in Block.objects.all()}
    old = SigningKey.objects.get()
    assert old.name != settings.LEDGER_ORIGIN

    # when the operator rotates to a key named like the origin
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ledger_rotate_key", "--name-origin")
    assert f"named {settings.LEDGER_ORIGIN}" in capsys.readouterr().out
    deposit(1)
    after = block_seal().block

    # then later checkpoints are signed by a key whose name is their origin line (C2SP SHOULD)
    note = signed_note(after)
    assert note.split("\n")[0] == settings.LEDGER_ORIGIN
    assert [name for name, _, _ in checkpoint.parse(note).signatures] == [settings.LEDGER_ORIGIN]
    # and the blocks already signed are unchanged, and the whole chain still verifies
    assert {h: signed_note(Block.objects.get(height=h)) for h in before} == before
    report = Report()
    verify_chain(report)
    assert report.ok, report.problems
    # and the offline verifier, given the published keys, accepts the old and the new checkpoints
    keys_file = tmp_path / "keys.json"
    from ledger.api import keys_json

    keys_file.write_text(json.dumps(keys_json()))
    for n in [*before.values(), note]:
        path = tmp_path / "cp.txt"
        path.write_text(n)
        assert main(["checkpoint", str(path), "--keys-file", str(keys_file)]) == 0
    # and nothing else moved: the old key is retired, one active key remains
    assert SigningKey.objects.get(pk=old.pk).status == SigningKey.Status.RETIRED
    assert list(SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).values_list("name", flat=True)) == [
        settings.LEDGER_ORIGIN
    ]


def test_a_key_name_the_format_cannot_carry_is_refused_by_rotation(db, settings):
    from ledger.keys import KeyError_, key_rotate

    deposit(1)
    block_seal()
    with pytest.raises(KeyError_, match="not a valid key name"):
        key_rotate(name="bad name+plus")
    # nor a name the format carries but no reader tells from another (an invisible joiner): others' keys may be
    # named so (a verifier ignores or reads their lines), the exchange's own are not
    with pytest.raises(KeyError_, match="printable"):
        key_rotate(name="otc-exchange.local/\u200dledger")
    assert SigningKey.objects.count() == 1  # nothing half-written


def test_a_plain_ed25519_cosigner_counts_as_a_witness_when_named_with_type_0x01(parties):
    # given a checkpoint the exchange signed and another institution co-signed with a plain note signature
    bundle = two_leaf_proof(parties, cosigners=())
    text = bundle["checkpoint"].split("\n\n")[0] + "\n"
    bundle["checkpoint"] += spec_ed25519_line("csd.example", parties["other_witness"], text)
    csd = ("csd.example", ED25519_TYPE, spec_raw(parties["other_witness"]))

    # then a policy naming it by its type 0x01 verifier key passes...
    policy = Policy(exchange_trusted(parties), (csd,), 1, True)
    assert "co-signed by 1 of 1 witnesses (csd.example)" in verify_inclusion(bundle, policy)
    # ...and the same key named as a cosignature/v1 witness does not: the key hash differs
    cosig = ("csd.example", COSIG_TYPE, spec_raw(parties["other_witness"]))
    with pytest.raises(VerificationFailed, match="NOT CO-SIGNED"):
        verify_inclusion(bundle, Policy(exchange_trusted(parties), (cosig,), 1, True))


def test_a_key_name_with_an_equals_sign_is_a_verifier_key_and_name_equals_base64_still_reads(parties):
    from ledger.verifier import load_trusted

    # given a verifier key whose name holds "=" (C2SP signed-note refuses only spaces, "+" and controls in a name)
    public = spec_raw(parties["exchange"])
    vkey = spec_vkey("exchange=one", ED25519_TYPE, public)
    # and a NAME=BASE64 whose base64 happens to hold "+<8 hex digits>+"
    odd = "A+12345678+" + "A" * 32 + "="
    assert len(base64.b64decode(odd, validate=True)) == 32

    # when the verifier's --key reads them
    trusted = load_trusted([vkey, f"plain={odd}"], None)

    # then the first is the verifier key it is (not NAME "exchange" with "one+…" as base64), the second NAME=BASE64
    assert trusted == [("exchange=one", public, None), ("plain", base64.b64decode(odd), None)]
    # and a verifier key of a wrong hash, with no "=" to fall back on, is still refused by name
    with pytest.raises(SystemExit, match="key hash|verifier key"):
        load_trusted([vkey.replace("exchange=one", "exchangeone")], None)
