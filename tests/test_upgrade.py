"""The upgrade test: a database made by the last tree before the apps were layered (commit 320b4b9) is
migrated by this tree's ``manage.py migrate`` and keeps every balance, trade, ledger entry and block; the
ledger still verifies and replays, and the exchange trades, seals and settles on it.

It checks out 320b4b9 as a ``git worktree`` and runs both trees' ``manage.py`` in subprocesses on a
PostgreSQL database of its own (created and dropped here, on the server the test run uses), so it takes
a minute or so. Select it alone with ``-m upgrade``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from django.conf import settings

pytestmark = pytest.mark.upgrade

ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "320b4b9"  # the last commit before users, securities and balances moved apps (e01fc08)

# Rows that the upgrade must leave exactly as they were.
KEPT_TABLES = [
    "settlement_cashbalance",
    "settlement_position",
    "exchange_trade",
    "ledger_entry",
    "ledger_block",
    "ledger_blocksignature",
    "ledger_leaf",
]

# Run in the old tree's `manage.py shell`: investor1 buys on mm's ask and sells on its bid, then the
# entries are sealed, the trades settled (a sweep, as beat would) and the settlement entries sealed.
OLD_TRADING = """
import json
from decimal import Decimal
import exchange.models
from exchange.models import Account, Trade, User
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from settlement.tasks import sweep

user = User.objects.get(username="investor1")
account = Account.objects.get(owner=user)
orders = [
    order_place(placed_by=user, account=account, request=OrderRequest(*request))[0]
    for request in [
        ("830001", "buy", 100, Decimal("12.55"), "IOC", "upgrade-old-1"),
        ("830001", "sell", 100, Decimal("12.45"), "IOC", "upgrade-old-2"),
    ]
]
sealed = block_seal()
settled = sweep()
block_seal()
print("RESULT " + json.dumps({
    "models": exchange.models.__file__,
    "orders": [(o.side, o.status) for o in orders],
    "sealed_leaves": sealed.leaves,
    "settled": settled,
    "trades": sorted(Trade.objects.values_list("quantity", "price", "status")),
}, default=str))
"""

# The same with the new tree's modules: investor3 buys 830002 on mm's ask and sells 830001 on its bid.
NEW_TRADING = """
import json
from decimal import Decimal
import core.models
from core.models import Account, User
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from settlement.tasks import sweep

user = User.objects.get(username="investor3")
account = Account.objects.get(owner=user)
orders = [
    order_place(placed_by=user, account=account, request=OrderRequest(*request))[0]
    for request in [
        ("830002", "buy", 300, Decimal("8.25"), "IOC", "upgrade-new-1"),
        ("830001", "sell", 100, Decimal("12.45"), "IOC", "upgrade-new-2"),
    ]
]
sealed = block_seal()
settled = sweep()
block_seal()
print("RESULT " + json.dumps({
    "models": core.models.__file__,
    "orders": [(o.side, o.status) for o in orders],
    "sealed_leaves": sealed.leaves,
    "settled": settled,
    "trades": sorted(Trade.objects.values_list("quantity", "price", "status")),
}, default=str))
"""


# The ledger checks, run after the code above in the same ``manage.py shell`` (one start of Django, not three): each
# command exits non-zero on a failure, as from the command line.
CHECKS = """
from django.core.management import call_command
call_command("ledger_verify", "--no-progress")
call_command("ledger_replay", "--check")
"""


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture
def old_tree(tmp_path):
    """A checkout of OLD_COMMIT beside this one (a git worktree), removed afterwards."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the upgrade test checks out the old tree with git worktree")
    if _git("rev-parse", "--git-dir", check=False).returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: the upgrade test needs commit {OLD_COMMIT}")
    if _git("cat-file", "-e", f"{OLD_COMMIT}^{{commit}}", check=False).returncode != 0:
        pytest.skip(f"commit {OLD_COMMIT} is not in this clone (a shallow clone?): `git fetch --unshallow` first")
    path = tmp_path / f"old-{OLD_COMMIT}"
    _git("worktree", "add", "--detach", str(path), OLD_COMMIT)
    try:
        yield path
    finally:
        _git("worktree", "remove", "--force", str(path), check=False)
        _git("worktree", "prune", check=False)


def _connect(dbname: str):
    """An autocommit connection to ``dbname`` on the PostgreSQL server the test run uses."""
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname=dbname,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def upgrade_db():
    """A new, empty database on the test run's PostgreSQL server, dropped afterwards: (name, its URL)."""
    name = f"upgrade_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = _connect("postgres")
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        url = urlsplit(settings.DATABASE_URL)._replace(path=f"/{name}").geturl()
        yield name, url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class Site:
    """One database and data folder (ledger keys, checkpoint log, KYC keys) that both trees run on."""

    def __init__(self, db_name: str, db_url: str, data: Path) -> None:
        self.db_name, self.data = db_name, data
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"PYTHONPATH", "DATABASE_TEST_NAME", "LEDGER_KEY_DIR", "LEDGER_CHECKPOINT_LOG"}
            and not k.startswith("KYC_")
        }
        env.update(
            DATABASE_URL=db_url,
            REDIS_URL=os.environ.get("REDIS_URL") or settings.REDIS_URL,
            EXCHANGE_DATA_DIR=str(data),
            EXCHANGE_DEMO="1",
            DJANGO_SETTINGS_MODULE="config.settings",
            # Nothing here should queue a task; if something did, no worker of another test would take it.
            CELERY_QUEUE=f"upgrade-{db_name}",
        )
        self.env = env

    def manage(self, tree: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=tree,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def ok(self, tree: Path, *args: str) -> str:
        done = self.manage(tree, *args)
        assert done.returncode == 0, f"manage.py {' '.join(args)} in {tree}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def shell(self, tree: Path, code: str) -> dict:
        out = self.ok(tree, "shell", "-c", code)
        results = [line[len("RESULT ") :] for line in out.splitlines() if line.startswith("RESULT ")]
        assert len(results) == 1, out
        return json.loads(results[0])

    def query(self, sql: str) -> list[tuple]:
        conn = _connect(self.db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]
        finally:
            conn.close()

    def rows(self) -> dict[str, list[tuple]]:
        return {table: self.query(f"SELECT * FROM {table} ORDER BY 1") for table in KEPT_TABLES}

    def content_types(self) -> set[tuple[str, str]]:
        return set(self.query("SELECT app_label, model FROM django_content_type"))

    def entry_kinds(self) -> dict[str, int]:
        return dict(self.query("SELECT kind, count(*) FROM ledger_entry GROUP BY kind"))

    def applied(self, app: str) -> list[str]:
        return [n for (n,) in self.query(f"SELECT name FROM django_migrations WHERE app = '{app}' ORDER BY id")]


def test_upgrade_from_320b4b9_keeps_the_ledger_and_trades_on(old_tree, upgrade_db, tmp_path):
    site = Site(*upgrade_db, data=tmp_path / "data")

    # Given a database made by the old tree: migrated, the demo market loaded, two trades sealed and settled
    site.ok(old_tree, "migrate", "--noinput")
    site.ok(old_tree, "demo_data")
    old = site.shell(old_tree, OLD_TRADING + CHECKS)  # and its ledger verifies and replays
    assert old["models"] == str(old_tree / "exchange" / "models.py")
    assert old["orders"] == [["buy", "filled"], ["sell", "filled"]]
    assert old["sealed_leaves"] == 13  # the demo market's 11 entries and the 2 trades
    assert old["settled"] == 2
    assert old["trades"] == [[100, "12.45", "settled"], [100, "12.55", "settled"]]
    assert site.applied("core") == []
    assert {("exchange", "user"), ("exchange", "security"), ("settlement", "cashbalance")} <= site.content_types()
    assert site.entry_kinds() == {"KEY_ROTATION": 1, "DEPOSIT": 7, "ISSUE": 3, "TRADE": 2, "SETTLEMENT": 2}
    assert site.query("SELECT count(*) FROM ledger_pendingentry") == [(0,)]
    before = site.rows()
    assert {table: len(rows) for table, rows in before.items()} == {
        "settlement_cashbalance": 8,  # 5 investors, 2 market makers, the broker's fees
        "settlement_position": 14,
        "exchange_trade": 2,
        "ledger_entry": 15,
        "ledger_block": 2,
        "ledger_blocksignature": 2,
        "ledger_leaf": 15,
    }

    # When this tree migrates it
    out = site.ok(ROOT, "migrate", "--noinput")

    # Then core.0001 was recorded first, the moved models' content types were relabelled, and balances,
    # trades, ledger entries and blocks are exactly as before
    assert "Recorded core.0001_initial (state only) on a database made before the move." in out
    assert site.applied("core")[:2] == ["0001_initial", "0002_content_types"]  # later core migrations follow
    types = site.content_types()
    moved = {
        ("core", "user"),
        ("core", "broker"),
        ("core", "account"),
        ("core", "auditevent"),
        ("registry", "security"),
        ("balances", "cashbalance"),
        ("balances", "position"),
    }
    assert moved <= types
    stale = {("exchange", m) for m in ("user", "broker", "account", "auditevent", "security")}
    stale |= {("settlement", "cashbalance"), ("settlement", "position")}
    assert types & stale == set()
    after = site.rows()
    # exchange.0008 added Trade.mode (the last column): the old trades were all market making
    assert {row[-1] for row in after["exchange_trade"]} == {"market_making"}
    after["exchange_trade"] = [row[:-1] for row in after["exchange_trade"]]
    assert after == before
    # … the ledger verifies against the same keys and checkpoint log and replays to the same balances, and
    # nothing is left to migrate
    checked = site.ok(ROOT, "shell", "-c", CHECKS + 'call_command("migrate", "--plan")')
    assert "No planned migration operations." in checked

    # When the new tree trades, seals and settles on the upgraded database
    new = site.shell(ROOT, NEW_TRADING + CHECKS)

    # Then its orders fill and settle beside the old trades, and the ledger still verifies and replays (CHECKS)
    assert new["models"] == str(ROOT / "core" / "models.py")
    assert new["orders"] == [["buy", "filled"], ["sell", "filled"]]
    assert new["sealed_leaves"] == 2
    assert new["settled"] == 2
    assert new["trades"] == [
        [100, "12.45", "settled"],
        [100, "12.45", "settled"],
        [100, "12.55", "settled"],
        [300, "8.25", "settled"],
    ]
    assert site.entry_kinds() == {"KEY_ROTATION": 1, "DEPOSIT": 7, "ISSUE": 3, "TRADE": 4, "SETTLEMENT": 4}
    assert site.query("SELECT count(*) FROM ledger_pendingentry") == [(0,)]
    after = site.rows()
    assert {table: len(rows) for table, rows in after.items()} == {
        "settlement_cashbalance": 8,
        "settlement_position": 15,  # investor3 holds 830002 now
        "exchange_trade": 4,
        "ledger_entry": 19,
        "ledger_block": 4,
        "ledger_blocksignature": 4,
        "ledger_leaf": 19,
    }
    after["exchange_trade"] = [row[:-1] for row in after["exchange_trade"]]  # without Trade.mode, as above
    for table in ["exchange_trade", "ledger_entry", "ledger_block", "ledger_blocksignature", "ledger_leaf"]:
        assert after[table][: len(before[table])] == before[table], table
    # the old entries keep their unsalted version 1 bytes; the new tree's are salted version 2, in one tree
    versions = site.query(
        "SELECT convert_from(canonical, 'UTF8')::jsonb ->> 'v', count(*) FROM ledger_entry GROUP BY 1 ORDER BY 1"
    )
    assert versions == [("1", 15), ("2", 4)]
    # (and the ledger verified and replayed after the new tree's trades: NEW_TRADING + CHECKS)
