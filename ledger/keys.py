"""The node's checkpoint-signing keys.

Private keys live in ``settings.LEDGER_KEY_DIR`` (mode 700), one PEM file per
key id (mode 600), created on first use; or they come from the environment
(``LEDGER_SIGNING_KEY``: the base64 of a raw 32-byte Ed25519 seed, or several
separated by commas; the first is the genesis key, a later one the next key
``key_rotate(from_env=True)`` introduces). They never appear in settings, logs
or the repository.

Whichever host's Celery worker takes a seal signs the block, so every worker
host needs the node's signing keys: the same ``LEDGER_SIGNING_KEY`` everywhere
(``manage.py ledger_keys --private`` prints it from the host that has them),
or the same ``LEDGER_KEY_DIR`` contents. A host without them refuses to seal
with ``KeyError_`` saying so (docs/operations.md, "Several machines").

Each key's introduction and retirement is a KEY_ROTATION ledger entry; the
``SigningKey`` table is the node's index of them. A retired key's private file
is deleted and ``signers_for_seal`` never returns it, so it cannot sign again.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .checkpoint import Signer, key_id, public_bytes, valid_key_name
from .models import EntryKind, SigningKey

log = logging.getLogger(__name__)


class KeyError_(RuntimeError):
    """The node cannot sign: a key is missing or unusable."""


def _nameable(name: str) -> bool:
    """A name the exchange may give a key: a C2SP key name (``checkpoint.valid_key_name``) that is also printable.
    The format allows invisible characters in others' key names (which verifiers read); ours stay legible."""
    return valid_key_name(name) and name.isprintable()


def _key_dir() -> Path:
    path = Path(settings.LEDGER_KEY_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _key_path(kid: str) -> Path:
    return _key_dir() / f"{kid}.pem"


def _write_private(private: Ed25519PrivateKey) -> str:
    kid = key_id(public_bytes(private.public_key()))
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(_key_path(kid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return kid


def _env_privates() -> list[Ed25519PrivateKey]:
    """The keys of ``LEDGER_SIGNING_KEY``: base64 seeds separated by commas (none when it is unset)."""
    keys = []
    for n, seed in enumerate((os.environ.get("LEDGER_SIGNING_KEY") or "").split(","), start=1):
        if not seed.strip():
            continue
        try:
            keys.append(Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed.strip(), validate=True)))
        except ValueError:
            raise KeyError_(
                f"LEDGER_SIGNING_KEY: seed {n} is not the base64 of a 32-byte Ed25519 seed (manage.py ledger_keygen)"
            ) from None
    return keys


def _env_private() -> Ed25519PrivateKey | None:
    """The genesis key from the environment: the first of ``LEDGER_SIGNING_KEY``."""
    return next(iter(_env_privates()), None)


def seed_of(private: Ed25519PrivateKey) -> str:
    """The base64 seed of ``private``, as ``LEDGER_SIGNING_KEY`` takes it."""
    return base64.b64encode(private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def _load_private(kid: str) -> Ed25519PrivateKey:
    for env_key in _env_privates():
        if key_id(public_bytes(env_key.public_key())) == kid:
            return env_key
    path = _key_path(kid)
    if not path.exists():
        raise KeyError_(
            f"the node's signing key {kid} is not on this host: neither {path} nor in LEDGER_SIGNING_KEY. "
            "Every host that runs a Celery worker seals blocks, so each needs the node's signing keys: set the "
            "same LEDGER_SIGNING_KEY on every worker host (`manage.py ledger_keys --private` on the host that "
            f"has the key prints it), or copy {kid}.pem into this host's LEDGER_KEY_DIR (folder 700, file 600)"
        )
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"{path} is not an Ed25519 key")
    return key


def _introduce(
    private: Ed25519PrivateKey, *, retire: SigningKey | None = None, name: str | None = None
) -> tuple[SigningKey, int]:
    from .services import entry_append

    public = public_bytes(private.public_key())
    key = SigningKey.objects.create(
        key_id=key_id(public),
        name=name or settings.LEDGER_KEY_NAME,
        public_key=public,
        local=True,
        created_at=timezone.now(),
    )
    payload = {
        "action": "rotate" if retire else "add",
        "key_id": key.key_id,
        "name": key.name,
        "algorithm": "ed25519",
        "public_key": base64.b64encode(public).decode(),
        "retire_key_id": retire.key_id if retire else None,
    }
    entry = entry_append(kind=EntryKind.KEY_ROTATION, payload=payload)
    return key, entry.pk


def signers_for_seal() -> list[tuple[SigningKey, Signer]]:
    """The keys that sign the next block; on a new ledger, the genesis key is created and recorded.

    Runs inside the sealing transaction (the advisory lock serializes it).
    """
    keys = list(SigningKey.objects.filter(local=True).exclude(status=SigningKey.Status.RETIRED).order_by("key_id"))
    if not keys and not SigningKey.objects.filter(local=True).exists():
        private = _env_private()
        if private is None and settings.SEVERAL_HOSTS:
            # A genesis key made in this host's folder would sign what no other worker host can (found by a review).
            raise KeyError_(
                "EXCHANGE_SEVERAL_HOSTS is set and LEDGER_SIGNING_KEY is not: the first seal would create a key "
                "on this host alone. Run `manage.py ledger_keygen` once and give its line to every worker host."
            )
        if private is None:
            private = Ed25519PrivateKey.generate()
            _write_private(private)
        keys = [_introduce(private)[0]]
        log.info("ledger: created the node signing key %s", keys[0].key_id)
    if not keys:
        raise KeyError_("no active local signing key: every key is retired")
    return [(k, Signer(name=k.name, private_key=_load_private(k.key_id))) for k in keys]


def private_keys_in_use() -> list[tuple[SigningKey, Ed25519PrivateKey]]:
    """The node's keys that sign (active, or retiring at the next block) with their private keys, as this host
    holds them (``KeyError_`` names one it does not hold)."""
    keys = SigningKey.objects.filter(local=True).exclude(status=SigningKey.Status.RETIRED).order_by("key_id")
    return [(k, _load_private(k.key_id)) for k in keys]


def _state_of(key: SigningKey) -> str:
    return f"retired in block {key.retired_in_block}" if key.retired_in_block is not None else key.status


class RotationPending(KeyError_):
    """A rotation entry is written but not sealed yet: the next seal completes it; no second one is made."""

    def __init__(self, key: SigningKey):
        self.key = key
        super().__init__(
            f"a rotation to key {key.key_id} ({key.name}) is already written and waits for the next block: "
            "seal it (`manage.py ledger_rotate_key` again, or the next seal); a new rotation only after that"
        )


def pending_rotation() -> SigningKey | None:
    """The key a written but not yet sealed rotation brings in (None when no node key is retiring)."""
    local = SigningKey.objects.filter(local=True)
    if not local.filter(status=SigningKey.Status.RETIRING).exists():
        return None
    return local.filter(status=SigningKey.Status.ACTIVE).order_by("-created_at").first()


@transaction.atomic
def key_rotate(*, name: str | None = None, from_env: bool = False) -> SigningKey:
    """Create a new node key and retire the current one(s) at the next block, which both sign.

    ``from_env``: instead of a new key file on this host, the new key is the one seed of
    ``LEDGER_SIGNING_KEY`` the ledger does not know yet (given to every worker host beforehand, so that any of
    them can seal the rotation and what follows).

    ``name`` is the new key's name (default ``LEDGER_KEY_NAME``). Rotating to a key named like the
    checkpoints' origin line (``LEDGER_ORIGIN``, as C2SP tlog-checkpoint recommends) changes the
    name of the signature lines from the next block on; the blocks already signed keep theirs.
    """
    from .services import SEAL_LOCK_KEY

    name = name or settings.LEDGER_KEY_NAME
    if not _nameable(name):
        raise KeyError_(f"{name!r} is not a valid key name: non-empty, printable, without spaces or '+'")
    with connection.cursor() as cur:
        # Wait for a running seal, and make the next one wait for this: a rotation committed between a seal's
        # choice of keys and its read of the waiting entries was sealed by the old key alone, which then never
        # retired and signed on, so that ledger_verify refused every later block (found by a probe). The lock
        # also puts two rotations run at once one after the other.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK_KEY])
    pending = pending_rotation()
    if pending is not None:
        raise RotationPending(pending)
    current = list(SigningKey.objects.select_for_update().filter(local=True, status=SigningKey.Status.ACTIVE))
    if not current:
        raise KeyError_("there is no active key to rotate; the first seal creates one")
    if from_env:
        known = {k.key_id: k for k in SigningKey.objects.all()}
        seeds = [(key_id(public_bytes(k.public_key())), k) for k in _env_privates()]
        fresh = [k for kid, k in seeds if kid not in known]
        if len(fresh) != 1:
            # Name what the seeds are: a seed of a key already used (a retired one above all) is never a new key.
            used = [f"{kid} ({_state_of(known[kid])})" for kid, _ in seeds if kid in known]
            raise KeyError_(
                "LEDGER_SIGNING_KEY must hold exactly one seed the ledger does not know yet "
                f"(it holds {len(fresh)}): add a new one from `manage.py ledger_keygen` after the current ones"
                + (f"; its seeds of keys already used: {', '.join(used)}, never a new key again" if used else "")
            )
        private = fresh[0]
    else:
        if os.environ.get("LEDGER_SIGNING_KEY") or settings.SEVERAL_HOSTS:
            # The keys come from the environment every worker host shares: a new key file here would sign on this
            # host alone, and every other worker would refuse to seal from the rotation on (found by a review).
            raise KeyError_(
                "the signing keys come from LEDGER_SIGNING_KEY (or EXCHANGE_SEVERAL_HOSTS is set): add a new seed from "
                "`manage.py ledger_keygen` after the current ones on every worker host, restart them, then rotate "
                "with --from-env"
            )
        private = Ed25519PrivateKey.generate()
        _write_private(private)
    new, entry_id = _introduce(private, retire=current[0], name=name)
    for old in current:
        old.status = SigningKey.Status.RETIRING
        old.retire_entry_id = entry_id
        old.save(update_fields=["status", "retire_entry_id"])
    return new


def retire_after_seal(keys: list[SigningKey], *, height: int, sealed_entry_ids: set[int]) -> None:
    """Retiring keys whose rotation entry this block sealed have signed it: retire them, drop their files."""
    retiring = [k for k in keys if k.status == SigningKey.Status.RETIRING and k.retire_entry_id in sealed_entry_ids]
    for key in retiring:
        key.status = SigningKey.Status.RETIRED
        key.retired_at = timezone.now()
        key.retired_in_block = height
        key.save(update_fields=["status", "retired_at", "retired_in_block"])

    def drop_files() -> None:
        for key in retiring:
            _key_path(key.key_id).unlink(missing_ok=True)

    transaction.on_commit(drop_files)


@transaction.atomic
def cosigner_register(*, name: str, public_key: bytes) -> SigningKey:
    """Register another institution's public key so that it may co-sign checkpoints (a ledger entry)."""
    from .services import entry_append

    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    if not _nameable(name):
        raise ValueError(f"{name!r} is not a valid key name: non-empty, printable, without spaces or '+'")
    kid = key_id(public_key)
    existing = SigningKey.objects.filter(key_id=kid).first()
    if existing is not None:
        return existing
    key = SigningKey.objects.create(
        key_id=kid, name=name, public_key=public_key, local=False, created_at=timezone.now()
    )
    entry_append(
        kind=EntryKind.KEY_ROTATION,
        payload={
            "action": "add",
            "cosigner": True,
            "key_id": kid,
            "name": name,
            "algorithm": "ed25519",
            "public_key": base64.b64encode(public_key).decode(),
            "retire_key_id": None,
        },
    )
    return key
