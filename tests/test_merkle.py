"""The Merkle tree against the public RFC 6962 vectors and a naive recursive definition."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger import merkle

VECTORS = json.loads((Path(__file__).resolve().parent / "vectors" / "rfc6962-merkle.json").read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaves_hex"]]
LEAF_HASHES = [merkle.leaf_hash(d) for d in LEAVES]
ROOTS = {int(k): bytes.fromhex(v) for k, v in VECTORS["roots_by_size_hex"].items()}
SUBTREE = merkle.subtree_from_list(LEAF_HASHES)


# -- an independent, naive implementation: the RFC's recursive definitions -----------------


def naive_mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:])).digest()


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return naive_path(m, data[:k]) + [naive_mth(data[k:])]
    return naive_path(m - k, data[k:]) + [naive_mth(data[:k])]


def naive_subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [naive_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return naive_subproof(m, data[:k], b) + [naive_mth(data[k:])]
    return naive_subproof(m - k, data[k:], False) + [naive_mth(data[:k])]


# -- public vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_match_the_vectors(size):
    assert merkle.root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]


def test_empty_root():
    assert merkle.EMPTY_ROOT == ROOTS[0]


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"])
def test_inclusion_proof_vectors(vector):
    index, size = vector["leaf_index"], vector["tree_size"]
    expected = [bytes.fromhex(h) for h in vector["path_hex"]]
    assert merkle.inclusion_proof(index, size, SUBTREE) == expected
    merkle.verify_inclusion(index, size, LEAF_HASHES[index], expected, ROOTS[size])


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"])
def test_consistency_proof_vectors(vector):
    old, new = vector["old_size"], vector["new_size"]
    expected = [bytes.fromhex(h) for h in vector["path_hex"]]
    assert merkle.consistency_proof(old, new, SUBTREE) == expected
    merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


def _mutations(proof: list[bytes]):
    """Every malformed variant the vectors' rules list: flipped bit, missing, extra, wrong length."""
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 1
        yield "flipped", proof[:i] + [bytes(flipped)] + proof[i + 1 :]
        yield "missing", proof[:i] + proof[i + 1 :]
        yield "short node", proof[:i] + [proof[i][:31]] + proof[i + 1 :]
    yield "extra", [*proof, proof[0]]
    yield "extra zero", [*proof, bytes(32)]


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"])
def test_malformed_inclusion_proofs_are_rejected(vector):
    index, size = vector["leaf_index"], vector["tree_size"]
    proof = [bytes.fromhex(h) for h in vector["path_hex"]]
    for _name, bad in _mutations(proof):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, LEAF_HASHES[index], bad, ROOTS[size])
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(size, size, LEAF_HASHES[index], proof, ROOTS[size])  # index ≥ size
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size, LEAF_HASHES[index + 1], proof, ROOTS[size])  # another leaf


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"])
def test_malformed_consistency_proofs_are_rejected(vector):
    old, new = vector["old_size"], vector["new_size"]
    proof = [bytes.fromhex(h) for h in vector["path_hex"]]
    for _name, bad in _mutations(proof):
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, ROOTS[old], ROOTS[new], bad)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(0, new, ROOTS[0], ROOTS[new], proof)  # from size 0
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(0, new, ROOTS[0], ROOTS[new], [])


# -- against the naive definition, on random trees ----------------------------------------

leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=200, deadline=None)
@given(data=leaves)
def test_root_and_frontier_agree_with_the_naive_definition(data):
    hashes = [merkle.leaf_hash(d) for d in data]
    assert merkle.root_from_leaf_hashes(hashes) == naive_mth(data)
    # a frontier built leaf by leaf, with its completed perfect subtrees, answers every range
    frontier, perfect = merkle.Frontier(), {}
    for h in hashes:
        for level, index, node in frontier.append(h):
            perfect[(level, index)] = node
    assert frontier.root() == naive_mth(data)
    subtree = merkle.subtree_from_perfect(lambda level, index: perfect[(level, index)])
    assert subtree(0, len(data)) == naive_mth(data)


@settings(max_examples=200, deadline=None)
@given(data=leaves, pick=st.integers(min_value=0))
def test_inclusion_proofs_agree_with_the_naive_definition(data, pick):
    hashes = [merkle.leaf_hash(d) for d in data]
    size = len(data)
    index = pick % size
    proof = merkle.inclusion_proof(index, size, merkle.subtree_from_list(hashes))
    assert proof == naive_path(index, data)
    merkle.verify_inclusion(index, size, hashes[index], proof, naive_mth(data))


@settings(max_examples=200, deadline=None)
@given(data=leaves, pick=st.integers(min_value=0))
@example(data=[b"", b"x"], pick=0)  # once found by hypothesis: a "changed" newest leaf equal to the old one
def test_consistency_proofs_agree_with_the_naive_definition(data, pick):
    hashes = [merkle.leaf_hash(d) for d in data]
    new = len(data)
    old = pick % new + 1
    proof = merkle.consistency_proof(old, new, merkle.subtree_from_list(hashes))
    assert proof == (naive_subproof(old, data, True) if old < new else [])
    merkle.verify_consistency(old, new, naive_mth(data[:old]), naive_mth(data), proof)
    if old < new:
        with pytest.raises(merkle.ProofError):
            # the newest leaf changed (appending a byte always changes it, whatever it was)
            merkle.verify_consistency(old, new, naive_mth(data[:old]), naive_mth(data[:-1] + [data[-1] + b"!"]), proof)
