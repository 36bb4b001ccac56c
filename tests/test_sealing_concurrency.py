"""Concurrent sealers and writers on real PostgreSQL (committed transactions, one connection per thread)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections, transaction

from ledger.models import Block, Entry, Leaf, PendingEntry
from ledger.services import block_seal, entry_append
from ledger.verification import Report, verify_chain

pytestmark = pytest.mark.django_db(transaction=True)


def test_four_sealers_racing_two_writers_never_fork_skip_or_repeat_a_leaf():
    # given two writers appending 60 entries each while four sealers run in a loop
    stop = threading.Event()
    barrier = threading.Barrier(6)

    def writer(w: int) -> int:
        try:
            barrier.wait()
            for i in range(60):
                with transaction.atomic():
                    entry_append(kind="DEPOSIT", payload={"account": f"W{w}", "amount": Decimal("1.00"), "n": i})
            return 0
        finally:
            connections.close_all()

    def sealer() -> int:
        sealed = 0
        try:
            barrier.wait()
            while not stop.is_set():
                result = block_seal(max_leaves=7)
                sealed += result.leaves if result else 0
            return sealed
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        writers = [pool.submit(writer, w) for w in range(2)]
        sealers = [pool.submit(sealer) for _ in range(4)]
        for f in writers:
            f.result()
        stop.set()
        sealed = sum(f.result() for f in sealers)

    # when whatever still waits is sealed
    while (result := block_seal()) is not None:
        sealed += result.leaves

    # then every entry has exactly one leaf, the leaves are 0…n−1, and the chain verifies
    n = Entry.objects.count()
    assert n == 121 and sealed == n  # 120 deposits and the genesis key's entry
    assert not PendingEntry.objects.exists()
    assert sorted(Leaf.objects.values_list("leaf_index", flat=True)) == list(range(n))
    assert Leaf.objects.values("entry_id").distinct().count() == n
    heights = list(Block.objects.order_by("height").values_list("height", "first_leaf_index", "tree_size"))
    assert [h for h, _, _ in heights] == list(range(len(heights)))
    assert all(first == prev_size for (_, first, _), (_, _, prev_size) in zip(heights[1:], heights, strict=False))
    report = Report()
    verify_chain(report)
    assert report.ok, [str(p) for p in report.problems[:5]]
