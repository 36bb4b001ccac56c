"""Personal data at rest (DESIGN.md §7): AES-256-GCM with a key ring, and blind indexes.

What it protects: an investor's real name (on the KYC profile and on the account), ID number, phone and
address. It lives in ``core`` because the account (``core.models.Account``) holds an encrypted copy of its
holder's name, which ``core.names`` decrypts for those who may see it.

Keys come from ``KYC_DATA_KEYS`` (``kid:base64,kid:base64``; the first is the
one that encrypts) or, when unset, from ``settings.KYC_KEY_DIR`` (one
``<kid>.key`` file of 32 random bytes, mode 600, and ``primary`` naming the
encrypting key), created on first use. Rotation adds a key and makes it
primary; older keys still decrypt until ``kyc_reencrypt`` (the ``kyc_rotate_key`` command) has rewritten every
value with the new one.

A ciphertext is ``b"k1" ‖ kid (8 ASCII bytes) ‖ nonce (12) ‖ AES-GCM(data)``,
with the kid as associated data, so a value cannot be moved to another key id.

Files (the KYC ID documents, ``encrypt_bytes``) are ``b"d1" ‖ kid ‖ nonce ‖ AES-GCM(bytes)`` with
``b"d1" ‖ kid ‖ context`` as associated data: the caller's context names what the bytes belong to (a document's
identity), so a ciphertext copied to another document's row, or read as a text value, fails to decrypt.

Blind index: HMAC-SHA256 under a separate index key, of the normalized value
(``normalize_identifier``), so one identity is found (and counted once)
without decrypting anything. The normalization folds compatibility forms
(NFKC: fullwidth ``１１０１…ｘ`` is ``1101…X``), so that one identifier written
two ways cannot get two indexes; ``kyc.services`` stores only identifiers that
are plain ASCII after it and refuses the rest (Arabic-Indic digits, which NFKC
leaves as they are, among them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import time
import unicodedata
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

MAGIC = b"k1"
FILE_MAGIC = b"d1"


class DecryptionFailed(ValueError):
    """A ciphertext that is not one, names a key the ring does not hold, or fails its authentication tag."""


class KeyRing:
    def __init__(self, keys: dict[str, bytes], primary: str, index_key: bytes) -> None:
        if primary not in keys:
            raise ValueError("the primary key is not in the ring")
        self.keys, self.primary, self.index_key = keys, primary, index_key

    def encrypt(self, text: str) -> bytes:
        kid = self.primary.encode()
        nonce = os.urandom(12)
        return MAGIC + kid + nonce + AESGCM(self.keys[self.primary]).encrypt(nonce, text.encode(), kid)

    def decrypt(self, blob: bytes) -> str:
        blob = bytes(blob)
        if blob[:2] != MAGIC:
            raise ValueError("not an encrypted value")
        kid, nonce, data = blob[2:10], blob[10:22], blob[22:]
        key = self.keys.get(kid.decode())
        if key is None:
            raise ValueError(f"no key {kid.decode()} in the ring")
        return AESGCM(key).decrypt(nonce, data, kid).decode()

    def encrypt_bytes(self, data: bytes, *, context: bytes) -> bytes:
        """``data`` encrypted with the primary key, bound to ``context`` (it must be given again to decrypt)."""
        kid = self.primary.encode()
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.primary]).encrypt(nonce, data, FILE_MAGIC + kid + context)
        return FILE_MAGIC + kid + nonce + sealed

    def decrypt_bytes(self, blob: bytes, *, context: bytes) -> bytes:
        """The bytes ``encrypt_bytes`` encrypted under this ``context``; ``DecryptionFailed`` otherwise."""
        blob = bytes(blob)
        if blob[:2] != FILE_MAGIC or len(blob) < 22 + 16:
            raise DecryptionFailed("not an encrypted file")
        kid, nonce, data = blob[2:10], blob[10:22], blob[22:]
        key = self.keys.get(kid.decode("ascii", "replace"))
        if key is None:
            raise DecryptionFailed(f"no key {kid.decode('ascii', 'replace')} in the ring")
        try:
            return AESGCM(key).decrypt(nonce, data, FILE_MAGIC + kid + context)
        except InvalidTag as exc:
            raise DecryptionFailed("the authentication tag does not match: altered, or not this one's") from exc

    def key_of(self, blob: bytes) -> str:
        return bytes(blob)[2:10].decode()

    def index(self, value: str) -> str:
        return self._hmac(normalize_identifier(value))

    def name_index(self, name: str) -> list[str]:
        """The blind indexes of a real name's words (``normalize_name``), by which the name is found.

        A search for some words finds the names that have every one of them (an array containment, which
        a GIN index serves): "陈静 Chen Jing" is found by "陈静", "chen jing" or "JING", never by a part of
        a word (a substring search would need the names in the clear). The words are hashed with a domain
        prefix, so a name's index never equals an ID number's.
        """
        return sorted({self._hmac("name:" + word) for word in normalize_name(name).split(" ") if word})

    def _hmac(self, text: str) -> str:
        return hmac.new(self.index_key, text.encode(), hashlib.sha256).hexdigest()


def normalize_name(value: str) -> str:
    """A name as it is searched: NFKC (fullwidth letters are ASCII ones), case folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def normalize_identifier(value: str) -> str:
    """The one form of an ID number or phone number that is validated, stored and indexed.

    NFKC first (fullwidth digits and letters, the ideographic space and the like
    become their ASCII forms), then without whitespace, then upper-case. A value
    that is not ASCII after NFKC is returned as it is, not upper-cased: upper-casing
    could turn some non-ASCII letters into ASCII ones ("ß" into "SS"), and the
    caller must still see that it was not ASCII, and refuse it.
    """
    text = "".join(unicodedata.normalize("NFKC", value).split())
    return text.upper() if text.isascii() else text


def _new_kid() -> str:
    return secrets.token_hex(4)


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class KeyFolderUnsafe(RuntimeError):
    """The key folder is writable by other users: its keys are not to be trusted."""


def _folder() -> Path:
    folder = Path(settings.KYC_KEY_DIR)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Whoever can write the folder can name a key of their own primary (every value written after it then opens
    # for them), and the ring reads the folder again whenever it changes: refused, as ssh refuses a loose ~/.ssh.
    mode = folder.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyFolderUnsafe(
            f"the personal data key folder {folder} is writable by other users (mode {stat.S_IMODE(mode):o}): "
            "chmod 700 it, and check that no key in it was planted"
        )
    return folder


@lru_cache(maxsize=1)
def _ring_for(dir_key: str, stamp: tuple[int, int] | None = None) -> KeyRing:
    """The ring of the key folder ``dir_key`` (or of ``KYC_DATA_KEYS``); ``stamp`` (the folder's and its primary
    file's modification times) only makes a changed folder read again."""
    env = os.environ.get("KYC_DATA_KEYS")
    env_index = os.environ.get("KYC_INDEX_KEY")
    # the folder (made, and its mode checked) only where a key is read from it
    folder = Path(dir_key) if env and env_index else _folder()
    index_path = folder / "index.key"
    if env_index:
        index_key = base64.b64decode(env_index)
    else:
        if not index_path.exists():
            _write_secret(index_path, secrets.token_bytes(32))
        index_key = index_path.read_bytes()
    if env:
        pairs = [item.split(":", 1) for item in env.split(",") if item]
        keys = {kid: base64.b64decode(b64) for kid, b64 in pairs}
        return KeyRing(keys, pairs[0][0], index_key)
    primary_path = folder / "primary"
    # ``primary`` before the keys: ``rotate`` writes the new key before naming it primary, so a primary read first
    # is in the keys listed after it, even while a rotation runs in another process (read after them, it could
    # name a key written since the listing: "the primary key is not in the ring", a 500).
    for _ in range(5):
        primary = primary_path.read_text().strip() if primary_path.exists() else ""
        keys = {p.stem: p.read_bytes() for p in folder.glob("*.key") if p.stem != "index"}
        if primary in keys or not keys:
            break
        time.sleep(0.01)  # another process's first key, written and not named primary yet
    if not keys:
        kid = _new_kid()
        _write_whole(folder / f"{kid}.key", AESGCM.generate_key(bit_length=256))
        _write_whole(primary_path, kid.encode())
        # The key just written, not ``primary`` read back: a process starting at the same moment may have named its
        # own first key there since; the folder's change makes both read the folder again on their next use.
        keys, primary = {kid: (folder / f"{kid}.key").read_bytes()}, kid
    return KeyRing(keys, primary, index_key)


def _folder_stamp(folder: Path) -> tuple[int, int] | None:
    try:
        return folder.stat().st_mtime_ns, (folder / "primary").stat().st_mtime_ns
    except FileNotFoundError:
        return None


def ring() -> KeyRing:
    """The key ring, read again when the key folder changed: ``kyc_rotate_key`` runs in its own process while the
    web and worker processes go on, and a ring cached before it lacked the new key, so that every value it had
    re-encrypted failed to decrypt there until a restart (found by a probe: the broker's queue answered 500 and
    each ID document "failed its integrity check"). Two ``stat`` calls a use; with ``KYC_DATA_KEYS`` the ring
    changes only with a restart, as documented."""
    folder = Path(settings.KYC_KEY_DIR)
    stamp = None if os.environ.get("KYC_DATA_KEYS") else _folder_stamp(folder)
    return _ring_for(str(folder), stamp)


def _write_whole(path: Path, data: bytes) -> None:
    """Write ``path`` (mode 600) so that a reader sees either no file or the whole of it, never a part."""
    part = path.with_name(f".{path.name}.part")
    part.unlink(missing_ok=True)
    _write_secret(part, data)
    os.replace(part, path)


def rotate() -> str:
    """Add a new data key to the folder ring and make it primary. Returns its id."""
    if os.environ.get("KYC_DATA_KEYS"):
        raise RuntimeError("keys come from KYC_DATA_KEYS: rotate there (put the new key first)")
    folder = _folder()
    kid = _new_kid()
    # Each file whole before it is seen: other processes read the folder again as soon as it changes.
    _write_whole(folder / f"{kid}.key", AESGCM.generate_key(bit_length=256))
    _write_whole(folder / "primary", kid.encode())
    _ring_for.cache_clear()
    return kid


def mask_id_number(value: str) -> str:
    value = "".join(value.split())
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_phone(value: str) -> str:
    digits = "".join(value.split())
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


def mask_address(value: str) -> str:
    value = value.strip()
    return value[:6] + "…" if len(value) > 6 else "…"


def mask_reference(reference: str) -> str:
    """A legal order's reference as its holder sees it (notifications, the freezes page, the API): its first two
    characters (or its bracketed year) and its last, the rest hidden. The holder learns that an order exists and
    can name it to the broker, not its full number."""
    reference = reference.strip()
    if len(reference) <= 4:
        return "***"
    # A court's number opens with its year in brackets, "(2026)沪74执123号": shown whole, "(2026)***号", where
    # the first two characters left an unclosed "(2***号".
    opened = _YEAR_BRACKET.match(reference)
    if opened and len(reference) > opened.end() + 1:
        return f"{opened[0]}***{reference[-1]}"
    return f"{reference[:2]}***{reference[-1]}"


_YEAR_BRACKET = re.compile(r"[(（〔\[]\d{4}[)）〕\]]")
