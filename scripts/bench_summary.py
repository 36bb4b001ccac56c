"""`make bench`'s summary: one table of every figure beside its baseline and aim, saved as JSON, and compared.

Each part of the bench (``scripts/bench.py``, ``scripts/bench_ledger.py``)
returns its raw figures as a dict; ``summary_rows`` turns them into the rows
of the table printed first: the figure, its value, the baseline measured in
the same run, their ratio, the aim (issue 15) and whether the run met it.
``save`` writes the whole run (summary, raw figures, machine, commit) to
``docs/bench-runs/<UTC time>.json``; ``compare`` prints two saved runs side
by side (``make bench BENCH_ARGS="--compare A.json B.json"``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "docs" / "bench-runs"


def _row(
    figure: str, value: float, baseline: float | None, aim: float | None, unit: str, *, at_most: bool = False
) -> dict:
    """``unit`` is "ratio" (the value ÷ the baseline is judged) or the unit of an absolute figure."""
    ratio = value / baseline if baseline else None
    judged = ratio if unit == "ratio" else value
    met = None if judged is None or aim is None else (judged <= aim if at_most else judged >= aim)
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "aim": aim,
        "at_most": at_most,
        "unit": unit,
        "met": met,
    }


def summary_rows(results: dict) -> list[dict]:
    rows = []
    if orders := results.get("orders"):
        phases = orders["phases"]
        ping = phases["ping"]["rate"]
        rows.append(_row("orders/s ÷ ping/s (API)", phases["orders"]["rate"], ping, 0.35, "ratio"))
        if "orders, one security" in phases:
            rows.append(_row("  one security ÷ ping/s", phases["orders, one security"]["rate"], ping, 0.25, "ratio"))
        for name, phase in phases.items():
            if name.startswith("orders in batches"):
                rows.append(_row(f"  {name} ÷ ping/s", phase["rate"], ping, None, "ratio"))
    if pool := results.get("pool"):
        phases = pool["phases"]
        for kind, label in (("ping", "pings"), ("order", "orders")):
            rows.append(
                _row(
                    f"make run's server, {label}/s: pooled ÷ no pool",
                    phases[f"{kind}, pooled"]["rate"],
                    phases[f"{kind}, no pool"]["rate"],
                    None,
                    "ratio",
                )
            )
    if ledger := results.get("ledger"):
        copy = sum(ledger["copy_seconds"]) / len(ledger["copy_seconds"])
        rows.append(
            _row(
                "seal entries/s ÷ COPY rows/s",
                ledger["sealed"] / ledger["seal_seconds"],
                ledger["entries"] / copy,
                0.10,
                "ratio",
            )
        )
        rows.append(
            _row(
                "verify entries/s ÷ SHA-256/s",
                ledger["verified"] / min(ledger["verify_seconds"]),
                ledger["total_leaves"] / min(ledger["sha_seconds"]),
                0.20,
                "ratio",
            )
        )
        if ledger.get("verify_serial_seconds"):
            rows.append(
                _row(
                    "  verify with its workers ÷ in one process",
                    ledger["verified"] / min(ledger["verify_seconds"]),
                    ledger["verified"] / min(ledger["verify_serial_seconds"]),
                    None,
                    "ratio",
                )
            )
        if ledger.get("chain_seconds"):
            rows.append(
                _row(
                    "  chain alone (no business rows) ÷ SHA-256/s",
                    ledger["total_leaves"] / min(ledger["chain_seconds"]),
                    ledger["total_leaves"] / min(ledger["sha_seconds"]),
                    None,
                    "ratio",
                )
            )
        if ledger.get("parse_seconds"):
            rows.append(
                _row(
                    "  parsing each entry alone (orjson) ÷ SHA-256/s",
                    ledger["total_leaves"] / min(ledger["parse_seconds"]),
                    ledger["total_leaves"] / min(ledger["sha_seconds"]),
                    None,
                    "ratio",
                )
            )
    if witness := results.get("witness"):
        free, waits = witness["no_wait"], witness["awaits"]
        rows.append(_row("match → co-signed p99 (s)", free["cosigned"]["p99"], None, 1.0, "s", at_most=True))
        rows.append(
            _row(
                "match → settled p99: awaiting co-signing ÷ not",
                waits["settled"]["p99"],
                free["settled"]["p99"],
                3.0,
                "ratio",
                at_most=True,
            )
        )
    if live := results.get("live"):
        row = _row(
            f"server CPU, {live['pages']} pages: events ÷ polling",
            live["events"]["cpu_per_s"],
            live["polling"]["cpu_per_s"],
            0.5,
            "ratio",
            at_most=True,
        )
        if live["events"].get("errors") or live["polling"].get("errors"):  # pages that got nothing spend nothing
            row["figure"] += " (with errors)"
            row["met"] = False
        rows.append(row)
    if settlement := results.get("settlement"):
        cap, matched = settlement["capacity"], settlement["backlog"]["rate"]
        gross = cap["gross"] / cap["gross_seconds"] if cap["gross_seconds"] else 0.0
        net = cap["net"] / cap["net_seconds"] if cap["net_seconds"] else 0.0
        rows.append(_row("gross settled/s of a backlog ÷ matched/s", gross, matched, 1.0, "ratio"))
        rows.append(_row("gross settled/s of a backlog", gross, None, 1000.0, "trades/s"))
        if cap.get("one_by_one_seconds"):
            single = cap["one_by_one"] / cap["one_by_one_seconds"]
            rows.append(_row("  in batches ÷ one trade a transaction", gross, single, 10.0, "ratio"))
        rows.append(_row("net settled/s of a backlog ÷ matched/s", net, matched, 1.0, "ratio"))
        gross_lat = settlement["latency"]["gross"]
        if gross_lat["matched"]:
            # Keeping pace, settled in the window equals matched in it but for the trades in flight at its two
            # ends (matched in its last p99 seconds, and settled early in it after matching before it): an
            # estimate of exactly 1 that an aim of exactly 1 would fail in half the runs. So the aim allows one
            # p99's worth of trades, the p99 taken no longer than its own aim (0.5 s): a settlement that falls
            # behind has a p99 that grows with the window, and would otherwise loosen its own aim.
            window = settlement.get("measured_seconds") or 0.0
            in_flight = min(1.0, min(gross_lat["p99"], 0.5) / window) if window else 0.0
            rows.append(
                _row(
                    "sustained: gross settled ÷ matched",
                    gross_lat["settled_in_window"],
                    gross_lat["matched"],
                    round(1.0 - in_flight, 3),
                    "ratio",
                )
            )
        if gross_lat["settled"]:
            rows.append(_row("sustained: gross match → settled p99", gross_lat["p99"], None, 0.5, "s", at_most=True))
            rows.append(_row("  p50", gross_lat["p50"], None, 0.5, "s", at_most=True))
    return rows


def _number(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _aim(row: dict) -> str:
    if row["aim"] is None:
        return "—"
    unit = "" if row["unit"] == "ratio" else f" {row['unit']}"
    return ("≤ " if row["at_most"] else "≥ ") + _number(row["aim"]) + unit


def print_summary(rows: list[dict], *, cores: int, load: tuple[float, float], started: str) -> None:
    print(f"summary ({started}; cores {cores}; load average {load[0]:.2f} before, {load[1]:.2f} after)")
    wide = _label_width(r["figure"] for r in rows)
    print(f"{'figure':<{wide}}{'value':>10}{'baseline':>10}{'ratio':>8}{'aim':>18}  result")
    for r in rows:
        result = {True: "pass", False: "MISS", None: "—"}[r["met"]]
        print(
            f"{r['figure']:<{wide}}{_number(r['value']):>10}{_number(r['baseline']):>10}"
            f"{_number(r['ratio']):>8}{_aim(r):>18}  {result}"
        )


def _label_width(labels) -> int:
    """The figure column: the longest label and a space, at least 42 wide."""
    return max([42, *(len(label) + 1 for label in labels)])


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return ""


def save(rows: list[dict], results: dict, *, cores: int, load: tuple[float, float], args: dict) -> Path:
    """Write this run to docs/bench-runs/<UTC time>.json (BENCH_RUNS_DIR names another folder)."""
    folder = Path(os.environ.get("BENCH_RUNS_DIR") or RUNS)
    folder.mkdir(parents=True, exist_ok=True)
    started = args.get("started") or time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    path = folder / f"{started}.json"
    run = {
        "started": started,
        "commit": _commit(),
        "cores": cores,
        "load_average": list(load),
        "args": args,
        "summary": rows,
        "results": results,
    }
    path.write_text(json.dumps(run, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def compare(a: str, b: str) -> int:
    """Print two saved runs' summaries side by side: each figure's ratio (or value), and B ÷ A."""
    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in (a, b)]
    for label, run in zip("AB", runs, strict=True):
        load = run.get("load_average") or [0, 0]
        print(
            f"{label}: {run['started']} commit {run.get('commit') or '?'}; cores {run['cores']};"
            f" load average {load[0]:.2f} / {load[1]:.2f}"
        )
    by_figure = [{r["figure"]: r for r in run["summary"]} for run in runs]
    figures = list(by_figure[0]) + [f for f in by_figure[1] if f not in by_figure[0]]
    wide = _label_width(figures)
    print(f"{'figure':<{wide}}{'A':>10}{'B':>10}{'B ÷ A':>8}{'aim':>18}  A / B")
    for figure in figures:
        ra, rb = by_figure[0].get(figure), by_figure[1].get(figure)
        va, vb = (_judged(r) for r in (ra, rb))
        change = vb / va if va and vb is not None else None
        aim = _aim(ra or rb)
        met = " / ".join({True: "pass", False: "MISS", None: "—"}[r["met"] if r else None] for r in (ra, rb))
        print(f"{figure:<{wide}}{_number(va):>10}{_number(vb):>10}{_number(change):>8}{aim:>18}  {met}")
    return 0


def _judged(row: dict | None) -> float | None:
    if row is None:
        return None
    return row["ratio"] if row["unit"] == "ratio" else row["value"]
