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


@pytest.fixture(autouse=True)
def _keys(settings, tmp_path):
    settings.LEDGER_KEY_DIR = tmp_path / "keys"
    settings.LEDGER_CHECKPOINT_LOG = tmp_path / "checkpoints.log"


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


def test_verification_reads_one_moment_of_a_live_exchange(monkeypatch):
    # given a market with a sealed trade
    from exchange.services import OrderRequest, order_place
    from ledger import verification
    from settlement.services import cash_deposit
    from tests.conftest import build_market

    market = build_market()
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", ask_qty=5000)
    buyer = market.investor(cash="100000")

    def buy(ref: str) -> None:
        order_place(
            placed_by=buyer.owner,
            account=buyer,
            request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", ref),
        )

    buy("before")
    while block_seal() is not None:
        pass

    # when, after verification has read the chain and before it checks trades and cash, another connection
    # deposits cash, matches a trade and seals it (all committed)
    def live_exchange() -> None:
        try:
            cash_deposit(actor=market.staff, account=buyer, amount=Decimal("500.00"))
            buy("during")
            while block_seal() is not None:
                pass
        finally:
            connections.close_all()

    chain_checked = verification.verify_external_checkpoints

    def then_the_exchange_moves(*args, **kwargs):
        worker = threading.Thread(target=live_exchange)
        worker.start()
        worker.join()
        return chain_checked(*args, **kwargs)

    monkeypatch.setattr(verification, "verify_external_checkpoints", then_the_exchange_moves)
    during = verification.ledger_verify()

    # then that verification judged the ledger as it was when it began: nothing is wrong, the new trade unseen
    assert during.ok, [str(p) for p in during.problems]
    assert during.trades == 1
    assert Entry.objects.filter(kind="TRADE").count() == 2 and not PendingEntry.objects.exists()

    # and the next verification sees both trades and the deposit, and is just as clean
    monkeypatch.undo()
    after = verification.ledger_verify()
    assert after.ok, [str(p) for p in after.problems]
    assert (after.trades, after.leaves) == (2, Leaf.objects.count())
