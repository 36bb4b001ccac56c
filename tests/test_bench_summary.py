"""`make bench`'s summary table, saved runs and their comparison (scripts/bench_summary.py; no database)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_summary", Path(__file__).resolve().parent.parent / "scripts" / "bench_summary.py"
)
bench_summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_summary)


def _results(*, orders: float, ping: float, gross_p99: float) -> dict:
    return {
        "orders": {"phases": {"ping": {"rate": ping}, "orders": {"rate": orders}}},
        "settlement": {
            "capacity": {
                "gross": 1200,
                "gross_seconds": 1.0,
                "one_by_one": 100,
                "one_by_one_seconds": 1.0,
                "net": 300,
                "net_seconds": 0.5,
            },
            "backlog": {"rate": 100.0},
            "latency": {"gross": {"matched": 50, "settled_in_window": 50, "settled": 50, "p50": 0.2, "p99": gross_p99}},
        },
    }


def test_each_figure_is_judged_against_its_aim_as_a_ratio_or_an_absolute_value():
    rows = {r["figure"]: r for r in bench_summary.summary_rows(_results(orders=30, ping=100, gross_p99=0.7))}

    # a ratio: orders ÷ ping = 0.30, below the 0.35 aim
    assert rows["orders/s ÷ ping/s (API)"]["ratio"] == pytest.approx(0.30)
    assert rows["orders/s ÷ ping/s (API)"]["met"] is False
    # an absolute figure with no baseline: 1,200 trades/s meets ≥ 1,000
    assert rows["gross settled/s of a backlog"]["baseline"] is None
    assert rows["gross settled/s of a backlog"]["met"] is True
    # batches against one trade a transaction in the same run: 12×, above the 10× aim
    assert rows["  in batches ÷ one trade a transaction"]["ratio"] == pytest.approx(12.0)
    assert rows["  in batches ÷ one trade a transaction"]["met"] is True
    # an upper bound: p99 0.7 s misses ≤ 0.5 s
    assert rows["sustained: gross match → settled p99"]["met"] is False
    # and a part that did not run has no rows
    assert not any(name.startswith(("seal", "verify")) for name in rows)


def test_a_saved_run_is_compared_figure_by_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_RUNS_DIR", str(tmp_path))
    paths = []
    for n, (orders, p99) in enumerate([(30, 0.7), (45, 0.4)]):
        results = _results(orders=orders, ping=100, gross_p99=p99)
        rows = bench_summary.summary_rows(results)
        paths.append(
            bench_summary.save(rows, results, cores=2, load=(1.0, 2.0), args={"started": f"2026-01-0{n + 1}T000000Z"})
        )

    # each run is a JSON file in the folder, with its machine and summary
    saved = json.loads(paths[0].read_text())
    assert (saved["cores"], saved["load_average"], saved["started"]) == (2, [1.0, 2.0], "2026-01-01T000000Z")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-01T000000Z.json", "2026-01-02T000000Z.json"]

    # and comparing them prints each figure of A and B, B ÷ A, and both verdicts
    assert bench_summary.compare(str(paths[0]), str(paths[1])) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("orders/s ÷ ping/s"))
    assert line.split()[-8:-3] == ["0.300", "0.450", "1.500", "≥", "0.350"], line
    assert line.endswith("MISS / pass")
    p99 = next(x for x in out.splitlines() if x.startswith("sustained: gross match → settled p99"))
    assert "0.700" in p99 and "0.400" in p99 and "MISS / pass" in p99


@pytest.mark.parametrize("errors, figure, met", [(0, "events ÷ polling", True), (201, "(with errors)", False)])
def test_the_live_figure_is_not_met_when_pages_got_errors(errors, figure, met):
    # given a live part whose event streams spent half of polling's CPU, with or without failed pages
    live = {
        "pages": 200,
        "polling": {"cpu_per_s": 1.6, "errors": 0},
        "events": {"cpu_per_s": 0.7, "errors": errors},
    }
    (row,) = bench_summary.summary_rows({"live": live})
    # then it is met only if every page got its stream: pages that got nothing cost nothing
    assert figure in row["figure"] and row["met"] is met and row["ratio"] == pytest.approx(0.7 / 1.6)


@pytest.mark.parametrize(
    ("settled", "p99", "aim", "met"),
    [
        (50, 0.5, 0.95, True),  # as many as matched
        (49, 0.5, 0.95, True),  # one trade short: matched in the window's last p99 seconds, still in flight
        (47, 0.5, 0.95, False),  # short by more than one p99's worth (50 trades over 10 s × 0.5 s = 2.5)
        (49, 0.2, 0.98, True),  # a shorter p99 allows fewer in flight: 1 − 0.2 / 10
        (25, 5.0, 0.95, False),  # half pace: its long p99 does not loosen the aim beyond 1 − 0.5 / 10
    ],
)
def test_keeping_pace_allows_the_trades_still_in_flight_when_the_window_closes(settled, p99, aim, met):
    results = _results(orders=30, ping=100, gross_p99=p99)
    results["settlement"]["measured_seconds"] = 10.0
    results["settlement"]["latency"]["gross"]["settled_in_window"] = settled

    row = {r["figure"]: r for r in bench_summary.summary_rows(results)}["sustained: gross settled ÷ matched"]

    # the aim is 1 less the share of the window a p99 latency (at most 0.5 s) takes
    assert row["aim"] == pytest.approx(aim)
    assert row["met"] is met


def test_the_ledger_rows_set_verification_beside_sha256_and_beside_parsing_alone():
    # given a ledger run: 1,000 leaves verified in 0.1 s, hashed in 0.01 s and parsed in 0.04 s (best of each)
    ledger = {
        "copy_seconds": [0.1, 0.1],
        "sealed": 1000,
        "seal_seconds": 0.5,
        "entries": 1000,
        "verified": 1000,
        "verify_seconds": [0.2, 0.1],
        "total_leaves": 1000,
        "sha_seconds": [0.01, 0.02],
        "parse_seconds": [0.05, 0.04],
    }
    # when the summary is made
    rows = {r["figure"]: r for r in bench_summary.summary_rows({"ledger": ledger})}
    # then verification is 0.1 of SHA-256 (missing its 0.2 aim), and parsing alone is a quarter of it
    assert rows["verify entries/s ÷ SHA-256/s"]["ratio"] == pytest.approx(0.1)
    assert rows["verify entries/s ÷ SHA-256/s"]["met"] is False
    assert rows["  parsing each entry alone (orjson) ÷ SHA-256/s"]["ratio"] == pytest.approx(0.25)
    assert rows["  parsing each entry alone (orjson) ÷ SHA-256/s"]["met"] is None


def test_the_pool_rows_set_make_runs_server_with_its_pool_beside_the_same_server_without():
    # given a pool part in which pings ran 3 times as fast with the pool and orders 1.5 times
    phases = {
        "ping, no pool": {"rate": 100.0},
        "ping, pooled": {"rate": 300.0},
        "order, no pool": {"rate": 40.0},
        "order, pooled": {"rate": 60.0},
    }

    # when the summary is made
    rows = {r["figure"]: r for r in bench_summary.summary_rows({"pool": {"phases": phases}})}

    # then each is a ratio against the unpooled server of the same run, with no aim to judge
    pings, orders = (
        rows["make run's server, pings/s: pooled ÷ no pool"],
        rows["make run's server, orders/s: pooled ÷ no pool"],
    )
    assert (pings["value"], pings["baseline"], pings["ratio"]) == (300.0, 100.0, pytest.approx(3.0))
    assert (orders["value"], orders["baseline"], orders["ratio"]) == (60.0, 40.0, pytest.approx(1.5))
    assert pings["met"] is None and orders["met"] is None
    assert len(rows) == 2
