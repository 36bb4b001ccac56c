"""Reads of the ledger: heads, blocks, entries, and proofs built from the node cache."""

from __future__ import annotations

from collections.abc import Callable

from . import merkle
from .models import Block, Leaf, Node


class ProofUnavailable(ValueError):
    """The asked-for proof cannot be made (sizes that are not checkpoints, leaf not yet sealed, …)."""


def head() -> Block | None:
    return Block.objects.order_by("-height").first()


def block_at_size(tree_size: int) -> Block | None:
    return Block.objects.filter(tree_size=tree_size).first()


def _prove(build: Callable[[merkle.Subtree], list[bytes]]) -> list[bytes]:
    """Run ``build`` twice: once to learn which perfect subtrees it reads, then with them fetched in one query."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    build(merkle.subtree_from_perfect(record))
    if not wanted:
        return build(merkle.subtree_from_perfect(record))
    levels = {lv for lv, _ in wanted}
    rows = Node.objects.filter(level__in=levels, index__in={ix for _, ix in wanted}).values_list(
        "level", "index", "hash"
    )
    found = {(lv, ix): bytes(h) for lv, ix, h in rows}
    missing = wanted - found.keys()
    if missing:
        raise ProofUnavailable(f"the node cache lacks {sorted(missing)[:3]}")
    return build(merkle.subtree_from_perfect(lambda lv, ix: found[(lv, ix)]))


def inclusion_proof(leaf_index: int, tree_size: int) -> list[bytes]:
    if not 0 <= leaf_index < tree_size:
        raise ProofUnavailable(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    return _prove(lambda subtree: merkle.inclusion_proof(leaf_index, tree_size, subtree))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    if not 0 < old_size <= new_size:
        raise ProofUnavailable("need 0 < from ≤ to")
    return _prove(lambda subtree: merkle.consistency_proof(old_size, new_size, subtree))


def leaf_of_entry(entry_id: int) -> Leaf | None:
    return Leaf.objects.filter(entry_id=entry_id).select_related("block").first()
