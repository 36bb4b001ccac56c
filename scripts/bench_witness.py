"""The witness part of ``make bench`` (issue 13): what co-signing by the regulator's witness costs.

The market of the settlement part (gross securities only) runs twice under the same sustained orders, with a
real Celery worker, beat and a real witness process (``manage.py ledger_witness serve``, C2SP tlog-witness
over HTTP; its tables sit in the bench database beside the exchange's, which changes nothing it measures):

1. settlement does not wait (the default): match → settled, and match → co-signed, per trade;
2. ``SETTLEMENT_AWAITS_COSIGNATURE``: match → settled again, now behind the co-signature.

The exchange's signing key is given (``LEDGER_SIGNING_KEY``) so that the witness trusts it before the first
seal, as a regulator is told the key before the exchange opens.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def cosign_latency(*, since: float, until: float) -> dict:
    """(internal, in a subprocess) match → co-signed of the trades matched in [since, until): the first
    co-signature received for a checkpoint covering the trade's leaf."""
    import bench_ledger

    bench_ledger._django()
    import datetime as dt

    from exchange.models import Trade
    from ledger.models import Cosignature

    lo = dt.datetime.fromtimestamp(since, dt.UTC)
    hi = dt.datetime.fromtimestamp(until, dt.UTC)
    cosigned = sorted(Cosignature.objects.values_list("block__tree_size", "received_at"))
    done, waiting = [], 0
    for matched_at, leaf in Trade.objects.filter(matched_at__gte=lo, matched_at__lt=hi).values_list(
        "matched_at", "entry__leaf__leaf_index"
    ):
        at = next((r for size, r in cosigned if leaf is not None and size > leaf), None)
        if at is None:
            waiting += 1
        else:
            done.append((at - matched_at).total_seconds())
    return {
        "cosigned": len(done),
        "waiting": waiting,
        "p50": bench_ledger._percentile(done, 50),
        "p99": bench_ledger._percentile(done, 99),
        "requests": Cosignature.objects.count(),
    }


def _exchange_key() -> tuple[str, str]:
    """A signing key for the exchange: the seed for LEDGER_SIGNING_KEY and its public key (base64)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(seed).decode(), base64.b64encode(public).decode()


def _manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip()


def run_witness(args, env: dict, scratch: Path) -> dict:
    import bench
    import bench_ledger

    sys.path.insert(0, str(ROOT))
    from ledger import checkpoint

    seed, public = _exchange_key()
    origin = "otc-exchange.local/ledger"
    env = dict(env, LEDGER_SIGNING_KEY=seed, LEDGER_ORIGIN=origin, LEDGER_KEY_NAME=origin)
    wport = bench._free_port()
    wenv = dict(env, NODE_ROLE="witness", WITNESS_KEY_FILE=str(scratch / "witness.pem"), WITNESS_NAME="bench/witness")
    wenv.pop("LEDGER_SIGNING_KEY")
    witness_vkey = _manage(wenv, "ledger_witness", "init").splitlines()[-1]
    _manage(wenv, "ledger_witness", "trust", origin, checkpoint.verifier_key(origin, base64.b64decode(public)))
    wlog = open(scratch / "witness.log", "ab")
    witness = subprocess.Popen(
        [PY, "manage.py", "ledger_witness", "serve", "--bind", f"127.0.0.1:{wport}", "--workers", "2"],
        env=wenv,
        cwd=ROOT,
        stdout=wlog,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wlog.close()
    args.securities = max(2, args.securities)
    tokens, securities, modes = bench_ledger._seed(args, env)
    gross = [(code, price) for code, price in securities if modes[code] == "gross"]
    out: dict = {"witness": "bench/witness"}
    try:
        for name, awaits in (("no_wait", "0"), ("awaits", "1")):
            run_env = dict(
                env,
                LEDGER_WITNESSES=f"http://127.0.0.1:{wport} {witness_vkey}",
                LEDGER_FINAL_COSIGNATURES="1",
                SETTLEMENT_AWAITS_COSIGNATURE=awaits,
            )
            stack = bench_ledger.CeleryStack(env=run_env, scratch=scratch)
            server = bench.Server(
                env=stack.env, workers=args.workers, worker_class=args.worker_class, threads=args.threads
            )
            try:
                server.start(tokens[0])
                stack.start()
                stack.wait_ready()
                cpu = bench.ServerCpu(server.proc.pid, env["DATABASE_URL"])
                import multiprocessing

                with multiprocessing.get_context("fork").Pool(len(tokens)) as pool:
                    waits = "awaits" if awaits == "1" else "does not wait for"
                    bench.log(f"witness: sustained orders, settlement {waits} co-signing")
                    load = bench.Phase(f"orders, {name}")
                    since, until = bench_ledger.sustained_orders(
                        pool, cpu, load, tokens=tokens, securities=gross, port=server.port, args=args
                    )
                cpu.close()
                bench_ledger.drain(env, args.drain_seconds)
                latency = bench_ledger._run_json(env, "settle-latency", "--since", str(since), "--until", str(until))
                cosigned = json.loads(
                    subprocess.run(
                        [PY, __file__, "cosign-latency", "--since", str(since), "--until", str(until)],
                        env=env,
                        cwd=ROOT,
                        check=True,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                out[name] = {
                    "orders_per_s": load.rate,
                    "errors": load.error_count,
                    "settled": latency["gross"],
                    "cosigned": cosigned,
                }
            finally:
                stack.stop()
                server.stop()
    finally:
        os.killpg(witness.pid, signal.SIGTERM)
        witness.wait(15)
    return out


def report_witness(r: dict, cores: int) -> None:
    print()
    print(f"## Co-signing by the regulator's witness ({cores} cores)")
    print()
    print("| settlement | orders/s | match → co-signed p50 / p99 (s) | match → settled p50 / p99 (s) | settled |")
    print("|---|---:|---:|---:|---:|")
    for name, label in (("no_wait", "does not wait (default)"), ("awaits", "awaits the co-signature")):
        x = r[name]
        c, s = x["cosigned"], x["settled"]
        print(
            f"| {label} | {x['orders_per_s']:.1f} | {c['p50']:.3f} / {c['p99']:.3f} | {s['p50']:.3f} / {s['p99']:.3f}"
            f" | {s['settled']} of {s['matched']} |"
        )


if __name__ == "__main__":
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["cosign-latency"])
    parser.add_argument("--since", type=float, required=True)
    parser.add_argument("--until", type=float, required=True)
    a = parser.parse_args()
    print(json.dumps(cosign_latency(since=a.since, until=a.until)))
