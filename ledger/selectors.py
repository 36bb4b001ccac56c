"""Reads of the ledger: heads, blocks, entries, and proofs built from the node cache."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Count, Prefetch, Q, QuerySet

from . import merkle
from .models import Block, BlockSignature, Cosignature, Leaf, Node, PendingEntry, SigningKey


class ProofUnavailable(ValueError):
    """The asked-for proof cannot be made (sizes that are not checkpoints, leaf not yet sealed, …)."""


def head(*, using: str = "default") -> Block | None:
    return Block.objects.using(using).order_by("-height").first()


def block_at_size(tree_size: int) -> Block | None:
    return Block.objects.filter(tree_size=tree_size).first()


def block_at_height(height: int, *, using: str = "default") -> Block | None:
    return Block.objects.using(using).filter(height=height).first()


def blocks_newest_first(*, using: str = "default") -> QuerySet[Block]:
    """Blocks for listing, with ``signature_count``; the frontier and header bytes are left in the database."""
    return (
        Block.objects.using(using)
        .defer("frontier", "header")
        .annotate(signature_count=Count("signatures"))
        .order_by("-height")
    )


def block_signatures(block: Block) -> QuerySet[BlockSignature]:
    """In the order of the signature lines of the block's signed note."""
    return block.signatures.select_related("key").order_by("key__name", "key_id")


def block_leaves(block: Block, *, using: str = "default") -> QuerySet[Leaf]:
    """The block's leaves in index order, with their entries but not the entries' bytes."""
    return (
        Leaf.objects.using(using)
        .filter(block=block)
        .select_related("entry")
        .defer("entry__canonical")
        .order_by("leaf_index")
    )


def blocks_signed(blocks: QuerySet[Block]) -> QuerySet[Block]:
    """``blocks`` with their signatures and co-signatures, in the orders ``services.signed_note`` and the API's
    ``block_json`` read them: three queries however many blocks (a list of checkpoints read them a block each)."""
    signatures = BlockSignature.objects.select_related("key")
    return blocks.prefetch_related(
        Prefetch("signatures", queryset=signatures.order_by("key__name", "key_id"), to_attr="signatures_by_name"),
        Prefetch("signatures", queryset=signatures.order_by("key_id"), to_attr="signatures_by_key_id"),
        Prefetch(
            "cosignatures", queryset=Cosignature.objects.order_by("witness", "key_hash"), to_attr="cosignatures_sorted"
        ),
    )


def leaf_at(leaf_index: int) -> Leaf | None:
    return Leaf.objects.select_related("entry", "block").filter(leaf_index=leaf_index).first()


def signing_keys() -> QuerySet[SigningKey]:
    return SigningKey.objects.order_by("created_at", "key_id")


def entries_waiting(*, using: str = "default") -> int:
    """How many entries wait for the sealer."""
    return PendingEntry.objects.using(using).count()


def _prove_many(builds: list[Callable[[merkle.Subtree], list[bytes]]]) -> list[list[bytes]]:
    """Run each of ``builds`` twice: once to learn which perfect subtrees they read, then with them all fetched in
    one query (an evidence bundle proves many entries: a query each grew with the bundle)."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    for build in builds:
        build(merkle.subtree_from_perfect(record))
    if not wanted:
        return [build(merkle.subtree_from_perfect(record)) for build in builds]
    by_level: dict[int, set[int]] = {}
    for lv, ix in wanted:
        by_level.setdefault(lv, set()).add(ix)
    where = Q()
    for lv, indexes in by_level.items():
        where |= Q(level=lv, index__in=indexes)
    rows = Node.objects.filter(where).values_list("level", "index", "hash")
    found = {(lv, ix): bytes(h) for lv, ix, h in rows}
    missing = wanted - found.keys()
    if missing:
        raise ProofUnavailable(f"the node cache lacks {sorted(missing)[:3]}")
    subtree = merkle.subtree_from_perfect(lambda lv, ix: found[(lv, ix)])
    return [build(subtree) for build in builds]


def _prove(build: Callable[[merkle.Subtree], list[bytes]]) -> list[bytes]:
    return _prove_many([build])[0]


def _inclusion_build(leaf_index: int, tree_size: int) -> Callable[[merkle.Subtree], list[bytes]]:
    if not 0 <= leaf_index < tree_size:
        raise ProofUnavailable(f"leaf {leaf_index} is not in a tree of size {tree_size}")
    return lambda subtree: merkle.inclusion_proof(leaf_index, tree_size, subtree)


def inclusion_proof(leaf_index: int, tree_size: int) -> list[bytes]:
    return _prove(_inclusion_build(leaf_index, tree_size))


def inclusion_proofs(leaf_indexes: list[int], tree_size: int) -> dict[int, list[bytes]]:
    """The inclusion proof of each leaf in the tree of ``tree_size``, their nodes read in one query."""
    proofs = _prove_many([_inclusion_build(ix, tree_size) for ix in leaf_indexes])
    return dict(zip(leaf_indexes, proofs, strict=True))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    if not 0 < old_size <= new_size:
        raise ProofUnavailable("need 0 < from ≤ to")
    return _prove(lambda subtree: merkle.consistency_proof(old_size, new_size, subtree))


def leaf_of_entry(entry_id: int) -> Leaf | None:
    return Leaf.objects.filter(entry_id=entry_id).select_related("block").first()


def leaf_indexes_of_entries(entry_ids, *, using: str = "default") -> dict[int, int]:
    """The record (leaf) number of each sealed entry of ``entry_ids``, by entry id (one query; none for those
    still waiting)."""
    if not entry_ids:
        return {}
    return dict(Leaf.objects.using(using).filter(entry_id__in=entry_ids).values_list("entry_id", "leaf_index"))
