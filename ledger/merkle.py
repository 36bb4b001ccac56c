"""RFC 6962 / RFC 9162 Merkle tree: hashing, proofs, and their verification.

Pure Python (hashlib only): the offline verifier imports this module alone.

* leaf hash  = SHA-256(0x00 ‖ data)
* node hash  = SHA-256(0x01 ‖ left ‖ right)
* MTH({})    = SHA-256("")
* MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

Storage-agnostic: proof *generation* takes a ``subtree`` callable returning
MTH(D[start:end]) for any range, so the database can answer from its cache of
perfect subtrees (see ``ledger.models.Node``) and tests from a plain list.
Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

# The checks an outside verifier runs are defined once, in the standalone offline verifier (it runs as one
# file, with Python and cryptography alone); the exchange uses the same code.
from .verifier import HASH_SIZE as HASH_SIZE
from .verifier import ProofError as ProofError
from .verifier import _check_hashes as _check_hashes
from .verifier import leaf_hash as leaf_hash
from .verifier import merkle_verify_consistency as verify_consistency  # noqa: F401 (re-exported)
from .verifier import merkle_verify_inclusion as verify_inclusion  # noqa: F401 (re-exported)
from .verifier import node_hash as node_hash
from .verifier import root_from_inclusion_proof as root_from_inclusion_proof

EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, iteratively (no recursion depth limit)."""
    if not hashes:
        return EMPTY_ROOT
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


def subtree_from_list(hashes: Sequence[bytes]) -> Subtree:
    """A ``subtree`` callable over an in-memory list of leaf hashes."""

    def subtree(start: int, end: int) -> bytes:
        return root_from_leaf_hashes(hashes[start:end])

    return subtree


# --------------------------------------------------------------------------
# Appending: a compact range of perfect subtrees covering [0, size)


class Frontier:
    """The perfect subtrees that cover the leaves appended so far, largest first.

    ``append`` returns every perfect subtree it completes, as (level, index,
    hash) with the subtree covering leaves [index·2^level, (index+1)·2^level):
    storing those lets any later proof be built from O(log n) lookups.
    """

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("a frontier holds one hash per set bit of its size")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        completed = [(0, self.size, leaf)]
        node, index, level = leaf, self.size, 0
        while (self.size >> level) & 1:  # merge while the level is occupied
            node = node_hash(self.hashes.pop(), node)
            level += 1
            index >>= 1
            completed.append((level, index, node))
        self.hashes.append(node)
        self.size += 1
        return completed

    def append_subtree(self, level: int, node: bytes) -> None:
        """Append the 2^level leaves whose perfect subtree hashes to ``node`` (the size must be a multiple of
        2^level): the same frontier as appending them one by one."""
        step = 1 << level
        if self.size % step:
            raise ValueError(f"a subtree of {step} leaves cannot start at leaf {self.size}")
        size = self.size
        while (size >> level) & 1:
            node = node_hash(self.hashes.pop(), node)
            level += 1
        self.hashes.append(node)
        self.size = size + step

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = node_hash(left, node)
        return node


def perfect_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect subtree over ``leaves`` (aligned at 0), level by level: ``levels[k][i]`` covers leaves
    [i·2^k, (i+1)·2^k). One pass of SHA-256 per node, no per-leaf bookkeeping."""
    sha256 = hashlib.sha256
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2], strict=False)  # an odd last node waits for the next level
        level = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
        levels.append(level)
    return levels


def subtree_from_perfect(perfect: Callable[[int, int], bytes]) -> Subtree:
    """MTH(D[start:end]) from a lookup of perfect aligned subtrees ``perfect(level, index)``."""

    def subtree(start: int, end: int) -> bytes:
        n = end - start
        if n <= 0:
            raise ValueError("empty range")
        if n & (n - 1) == 0 and start % n == 0:
            return perfect(n.bit_length() - 1, start // n)
        k = _split(n)
        return node_hash(subtree(start, start + k), subtree(start + k, end))

    return subtree


# --------------------------------------------------------------------------
# Proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1)


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    if not 0 <= old_size <= new_size:
        raise ValueError("need 0 ≤ old size ≤ new size")
    if old_size == 0 or old_size == new_size:
        return []
    path: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                path.append(subtree(start, end))
            break
        k = _split(n)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
            m -= k
            complete = False
    path.reverse()
    return path


# --------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)
