"""Shared fixtures. State is set up through the services, as in production."""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from balances.models import CashBalance, Position
from balances.services import account_open, cash_deposit, securities_issue
from core.models import Account, Broker, Role, User
from core.roles import STAFF_ROLES
from demo.onboarding import approved_investor
from exchange.services import QuoteRequest, quote_publish
from registry.models import Security

_seq = itertools.count(1)

# Property tests run the same examples on every run ("ci"), so that a red suite means a
# change broke something, not that a new random example turned up; the failing examples
# hypothesis found are kept in the tests. HYPOTHESIS_PROFILE=explore searches afresh.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=1000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def _kyc_keys(tmp_path_factory):
    return tmp_path_factory.mktemp("kyc-keys")


@pytest.fixture(autouse=True)
def _test_settings(settings, _kyc_keys, tmp_path):
    settings.MARKET_ALWAYS_OPEN = True
    # The ledger signing key (created by the first seal) and the external checkpoint log of this test alone.
    settings.LEDGER_KEY_DIR = tmp_path / "keys"
    settings.LEDGER_CHECKPOINT_LOG = tmp_path / "checkpoints.log"
    # Personal-data keys of the test run, never the developer's .data. ID documents are in the database; their
    # folder of before (read by migration kyc 0006 alone, written by its reverse) is this test's, not created.
    settings.KYC_KEY_DIR = _kyc_keys
    settings.KYC_DOCUMENT_DIR = tmp_path / "kyc-documents"
    # Disclosure documents of this test alone (registry.disclosures).
    settings.DISCLOSURE_DIR = tmp_path / "disclosures"
    # Password hashing at full strength costs ~0.3 s a user; tests make many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test process wakes no sealer on commit (no worker reads its queue); tests of the wake-up turn it on.
    settings.LEDGER_SEAL_ON_COMMIT = False
    # Tests register many investors from one address; the throttle's own test sets a low rate.
    settings.KYC_REGISTRATION_RATE = "100000/hour"
    # Likewise the API's rates (core.api.throttles): a test client logs in and asks far faster than 50 a second
    # from one address (found by CI: a fast run of tests/test_tokens.py met the anonymous rate); the count is
    # still taken, and the rate limits' own tests set low rates.
    rate = "1000000/second"
    settings.API_RATE_TRADING = settings.API_RATE_WRITE = settings.API_RATE_READ = settings.API_RATE_ANON = rate


@pytest.fixture(autouse=True)
def _witnesses_asked(monkeypatch):
    """A sealing process asks its witnesses once whether they co-signed more than its database holds
    (``ledger.published.witness_held``); tests start as if they had agreed, and those of the asking set it back.
    The reason a held seal leaves in the cache for the operations page is dropped after the test."""
    from ledger import published

    monkeypatch.setattr(published, "_witness_reason", "")
    yield
    if published._page_told:  # a test whose seal was held: its reason is not left for the next test's pages
        from django.core.cache import cache

        cache.delete(published.CACHE_KEY)
        published._page_told = False


@pytest.fixture(autouse=True)
def _sweep_pacing_forgotten():
    """The sweep's keys in Redis (``settlement.sweeping``) that earlier tests or runs left on this worker's prefix:
    trade ids start again with each test database, so a back-off left by an earlier run made this one's trade wait,
    and a walk left held made its sweep do nothing (found by a review: the back-off test failed when run twice)."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    # And the notes of net windows that could not settle (``settlement.net_windows``): security codes repeat too.
    for pattern in ("settlement:sweep:*", "settlement:net:*"):
        if keys := list(client.scan_iter(match=cache.make_key(pattern), count=1000)):
            client.delete(*keys)


@pytest.fixture
def shanghai_day_held(monkeypatch):
    """Django's clock (``timezone.now``, which ``timezone.localdate``, ``shanghai_today`` and ``calendar.today``
    read) as it is, but held at the last instant of the Shanghai day the test began in should midnight there
    (16:00 UTC) pass during the test. For a test that reads "today" to build what it expects while the code
    reads it again, or that writes on one day and then asks for that day's statement, feed or register: the two
    readings fell on two days when midnight passed between them (found by crossing midnight inside the tests:
    a window as long as the test, once a day). Time goes on as usual otherwise, and a test that sets the clock
    itself (``mock.patch``) still does. Ask for it before the fixtures that write (``usefixtures`` does), so that
    their writes are held too."""
    import datetime as dt

    from django.utils import timezone

    from registry.calendar import SHANGHAI

    clock = timezone.now
    day = clock().astimezone(SHANGHAI).date()
    last = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=SHANGHAI)).astimezone(dt.UTC)
    last -= dt.timedelta(microseconds=1)
    monkeypatch.setattr(timezone, "now", lambda: min(clock(), last))


@pytest.fixture
def kyc_folders(settings, tmp_path):
    """Personal-data keys and the ID documents' folder of before kyc 0006 of this test alone (the cached key ring
    cleared around it)."""
    from core import crypto

    settings.KYC_KEY_DIR = tmp_path / "pii"
    settings.KYC_DOCUMENT_DIR = tmp_path / "documents"
    crypto._ring_for.cache_clear()
    yield
    crypto._ring_for.cache_clear()


@dataclass
class Market:
    """A small market: one broker with staff, a depository operator, market makers, a security."""

    broker: Broker
    staff: User
    checker: User
    depository: User
    security: Security

    def user(self, role: str = Role.INVESTOR, **kwargs) -> User:
        n = next(_seq)
        return User.objects.create_user(username=f"{role}{n}", password="pw-test-2026", role=role, **kwargs)

    def investor(
        self,
        *,
        cash: str | Decimal = "0",
        shares: int = 0,
        security: Security | None = None,
        level: int = 5,
        qualified: bool = False,
    ) -> Account:
        """A KYC-approved investor (opened by ``staff``, approved by ``checker``), funded as asked."""
        n = next(_seq)
        account = approved_investor(
            username=f"investor{n}",
            broker=self.broker,
            maker=self.staff,
            checker=self.checker,
            seq=n,
            password="pw-test-2026",
            level=level,
            qualified=qualified,
        )
        if Decimal(cash) > self.broker.cash_approval_threshold:  # two people, as at the counter
            cash_deposit(actor=self.checker, account=account, amount=Decimal(cash), proposed_by=self.staff)
        elif Decimal(cash) > 0:
            cash_deposit(actor=self.staff, account=account, amount=Decimal(cash))
        if shares:
            self.issue(account, shares, security=security)
        return Account.objects.select_related("broker", "owner").get(pk=account.pk)

    def market_maker(self, *, cash: str | Decimal = "1000000", shares: int = 100_000) -> Account:
        user = self.user(Role.MARKET_MAKER)
        account = account_open(kind=Account.Kind.MARKET_MAKER, name=user.username, owner=user)
        if Decimal(cash) > 0:
            cash_deposit(actor=self.depository, account=account, amount=Decimal(cash))
        if shares:
            self.issue(account, shares)
        return Account.objects.select_related("broker", "owner").get(pk=account.pk)

    def issue(self, account: Account, shares: int, *, security: Security | None = None) -> None:
        securities_issue(
            actor=self.depository, security_code=(security or self.security).code, allocations=[(account, shares)]
        )

    def quote(self, mm: Account, bid: str, ask: str, bid_qty: int = 1000, ask_qty: int = 1000, security=None):
        return quote_publish(
            user=mm.owner,
            request=QuoteRequest(
                security=(security or self.security).code,
                bid_price=Decimal(bid),
                bid_quantity=bid_qty,
                ask_price=Decimal(ask),
                ask_quantity=ask_qty,
            ),
        )

    def new_security(self, code: str, **fields) -> Security:
        defaults = {"name": code, "issuer": code, "risk_rating": 3, "reference_price": Decimal("10.00")}
        return Security.objects.create(code=code, **{**defaults, **fields})


def build_market() -> Market:
    broker = Broker.objects.create(
        code=f"B{next(_seq)}", name="Test Broker", fee_bps=Decimal("2.5"), fee_minimum=Decimal("5")
    )
    account_open(kind=Account.Kind.FEE, name="fees", broker=broker)
    n = next(_seq)
    staff = User.objects.create_user(
        username=f"staff{n}", password="pw-test-2026", role=Role.BROKER_STAFF, broker=broker
    )
    checker = User.objects.create_user(
        username=f"checker{n}", password="pw-test-2026", role=Role.BROKER_STAFF, broker=broker
    )
    depository = User.objects.create_user(username=f"csd{n}", password="pw-test-2026", role=Role.DEPOSITORY_OPERATOR)
    security = Security.objects.create(
        code=f"S{n}", name="Test Co", issuer="Test Co Ltd", risk_rating=3, reference_price=Decimal("10.00")
    )
    return Market(broker=broker, staff=staff, checker=checker, depository=depository, security=security)


@pytest.fixture
def market(db) -> Market:
    return build_market()


@pytest.fixture
def trading(market):
    """A market maker quoting 9.90 / 10.10 and an investor with cash and shares: (market, mm, investor)."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="50000", shares=500)
    return market, mm, investor


@pytest.fixture
def sup(market):
    """Two regulators, a quote 9.90 / 10.10, an investor with 1,000 shares and CNY 50,000: (market, reg1, reg2, mm,
    investor). For the supervision tests (their helpers: tests/supervision_fixtures.py)."""
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10", bid_qty=5000, ask_qty=5000)
    investor = market.investor(cash="50000", shares=1000)
    return market, reg1, reg2, mm, investor


def order_body(market, **over) -> dict:
    """A valid ``POST orders/`` body (an IOC buy of 100 at 10.10), with ``over`` replacing fields."""
    body = {
        "security": market.security.code,
        "side": "buy",
        "quantity": 100,
        "limit_price": "10.10",
        "time_in_force": "IOC",
        "client_order_id": "api-1",
    }
    return {**body, **over}


@pytest.fixture
def api():
    return APIClient()


_FLAG_PAUSED = "cleared by a test (account_flags_set)"


def account_flags_set(account_id: int, *, frozen: bool | None = None, trading_restricted: bool | None = None) -> None:
    """An account's ``frozen`` or ``trading_restricted`` flag as a test wants it, in the only way the database
    allows (supervision migration 0004: the flags follow the account's active freezes): an active whole-account
    freeze or trading restriction written directly (nothing held, nothing on the ledger), or every such one ended.
    For tests of what a flag does; how a freeze is made and what it holds is ``supervision.services``'s."""
    from django.utils import timezone

    from supervision.models import Freeze

    now = timezone.now()
    for kind, wanted in ((Freeze.Kind.ACCOUNT, frozen), (Freeze.Kind.TRADING, trading_restricted)):
        if wanted is None:
            continue
        active = Freeze.objects.filter(account_id=account_id, kind=kind, status=Freeze.Status.ACTIVE)
        # A flag cleared here and set again is the same freeze in force again (its id, reason and holdings), as a
        # test of "the instant before the approval" means it.
        paused = Freeze.objects.filter(account_id=account_id, kind=kind, end_reason=_FLAG_PAUSED).order_by("-pk")
        if not wanted:
            active.update(status=Freeze.Status.RELEASED, ended_at=now, end_reason=_FLAG_PAUSED)
        elif active.exists():
            pass
        elif (freeze := paused.first()) is not None:
            Freeze.objects.filter(pk=freeze.pk).update(status=Freeze.Status.ACTIVE, ended_at=None, end_reason="")
        else:
            n = next(_seq)
            proposer, approver = (
                User.objects.create_user(username=f"flag-regulator{n}-{k}", role=Role.REGULATOR) for k in (1, 2)
            )
            Freeze.objects.create(
                kind=kind,
                status=Freeze.Status.ACTIVE,
                account_id=account_id,
                legal_reference="test",
                reason="test",
                proposed_by=proposer,
                proposed_at=now,
                decided_by=approver,
                decided_at=now,
            )


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


class CountingRedis:
    """A real Redis client that counts its round trips: one per executed pipeline, one per other command.

    ``real`` is the client itself, for reading what was written without being counted."""

    def __init__(self, real) -> None:
        self.real, self.round_trips = real, 0

    def pipeline(self, **kwargs):
        pipe = self.real.pipeline(**kwargs)
        execute = pipe.execute

        def counted(*args, **kw):
            self.round_trips += 1
            return execute(*args, **kw)

        pipe.execute = counted
        return pipe

    def __getattr__(self, name: str):
        command = getattr(self.real, name)
        if not callable(command):
            return command

        def counted(*args, **kw):
            self.round_trips += 1
            return command(*args, **kw)

        return counted


def cash_of(account: Account) -> CashBalance:
    return CashBalance.objects.get(account=account)


def position_of(account: Account, security: Security) -> Position | None:
    return Position.objects.filter(account=account, security=security).first()


def snapshot() -> dict:
    """Every mutable business table, for asserting that a rejected request changed nothing."""
    tables = [
        "exchange_order",
        "exchange_quote",
        "exchange_trade",
        "ledger_entry",
        "settlement_cashbalance",
        "settlement_position",
        "exchange_security",
    ]
    out = {}
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = cur.fetchall()
    return out


def rows_written() -> int:
    """Rows inserted, updated or deleted so far by the test's transaction, in every table, savepoints rolled back
    included (PostgreSQL's own count, one query): a check of the whole database that held at one count holds at
    the same count, so property tests need not repeat it after a step that wrote nothing."""
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
        return cur.fetchone()[0]


# The staff's second factor (core.twofactor). Staff logins in tests go through the real code step: the
# code is computed from the device's key with django-otp's own RFC 6238 implementation.


def totp_enrol(user: User) -> TOTPDevice:
    """The user's confirmed authenticator (created with a random key if there is none)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return device


def totp_code(device: TOTPDevice, *, fresh: bool = True) -> str:
    """The device's current code. ``fresh``: forget the last code used, as the next 30-second step would,
    so that a test may log the same user in twice within one step (django-otp refuses a code used before)."""
    device.refresh_from_db()
    if fresh and (device.last_t >= 0 or device.throttling_failure_count):
        device.last_t = -1
        device.throttling_failure_count = 0
        device.throttling_failure_timestamp = None
        device.save(update_fields=["last_t", "throttling_failure_count", "throttling_failure_timestamp"])
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


def log_in(client, user: User) -> None:
    """Sign ``user`` in on a Django test client: the session, then, for a staff role, the code page with
    the current code of their authenticator (enrolled here if need be)."""
    client.force_login(user)
    if user.role in STAFF_ROLES:
        code = totp_code(totp_enrol(user))
        client.get("/otp/")  # the page, as a browser would see it first (and its CSRF cookie)
        csrf = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else ""
        response = client.post("/otp/", {"code": code, "next": "/", "csrfmiddlewaretoken": csrf})
        assert response.status_code == 302 and response["Location"] == "/", response


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, django_db_keepdb):
    """pytest-django's test database, and at its end the sessions a test left connected to it (a thread's
    connection never closed): named in a warning, so that the test can be found and mended, then ended, so that
    the database can be dropped (else "database … is being accessed by other users", and it is left behind).
    New connections are refused first: the live server, stopped after this when a browser test started it
    before the database, may still answer a page's last poll. A database kept for the next run (``--reuse-db``)
    takes connections again at the end, else that run could not open it ("not currently accepting
    connections")."""
    yield
    name = connection.settings_dict["NAME"]
    with django_db_blocker.unblock():
        connection.close()
        with connection._nodb_cursor() as cursor:  # from the server's maintenance database, as Django drops it
            cursor.execute(f"ALTER DATABASE {connection.ops.quote_name(name)} ALLOW_CONNECTIONS false")
            cursor.execute(
                "SELECT pid, application_name, state, left(query, 120) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            left = cursor.fetchall()
            if left:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [[r[0] for r in left]])
            if django_db_keepdb:
                cursor.execute(f"ALTER DATABASE {connection.ops.quote_name(name)} ALLOW_CONNECTIONS true")
    if left:
        import warnings

        warnings.warn(f"connections to the test database left open by tests, ended: {left}", stacklevel=1)


# The browser tests (tests/browser) skip with this in their reason when there is no Chromium; the run's summary
# says so loudly. The hook is here, not in tests/browser/conftest.py: under pytest-xdist only the controller
# writes the summary, and it loads this file (the test path's own) but not the conftests of its subfolders.
BROWSER_SKIPPED = "BROWSER TESTS SKIPPED"


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if BROWSER_SKIPPED in str(r.longrepr)]
    if not skipped:
        return
    reason = next((str(r.longrepr[2]) for r in skipped if isinstance(r.longrepr, tuple)), BROWSER_SKIPPED)
    reason = reason.removeprefix("Skipped: ")
    bar = "!" * (len(reason) + 8)
    terminalreporter.write_line("")
    terminalreporter.write_line(bar, red=True, bold=True)
    terminalreporter.write_line(f"!!! {reason} !!!", red=True, bold=True)
    terminalreporter.write_line(f"!!! ({len(skipped)} browser tests did not run)".ljust(len(bar) - 3) + "!!!", red=True)
    terminalreporter.write_line(bar, red=True, bold=True)


# The order in which pytest-xdist's workers take files (`make test` runs `--dist loadfile --no-loadscope-reorder`:
# a worker takes a whole file when it has almost nothing left, in the collection's order). The longest files go
# first, so that what starts last is short and no worker waits long for another at the end (longest processing
# time first). tests/durations.json holds each file's seconds as last measured; a file not in it counts as its
# tests times the median seconds per test of those that are. `TEST_DURATIONS_OUT=tests/durations.json make test`
# measures them afresh (the controller adds up setup, call and teardown of every test of a file).
DURATIONS = Path(__file__).with_name("durations.json")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    try:
        measured: dict[str, float] = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        return
    tests = Counter(_file_of(item.nodeid) for item in items)
    per_test = sorted(measured[f] / n for f, n in tests.items() if f in measured and n)
    guess = per_test[len(per_test) // 2] if per_test else 1.0
    cost = {f: measured.get(f, n * guess) for f, n in tests.items()}
    items.sort(key=lambda item: -cost[_file_of(item.nodeid)])  # stable: a file's own order stays


_measured: Counter[str] = Counter()


def pytest_runtest_logreport(report):
    if os.environ.get("TEST_DURATIONS_OUT"):
        _measured[_file_of(report.nodeid)] += report.duration


def pytest_sessionfinish(session):
    out = os.environ.get("TEST_DURATIONS_OUT")
    if out and _measured and not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        Path(out).write_text(json.dumps({f: round(s, 1) for f, s in sorted(_measured.items())}, indent=1) + "\n")


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """``scripts/stack.py`` as a module, without the side effects of its import on this process (its services
    and data folder are the test's own)."""
    import importlib.util

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "data"))
    path = Path(__file__).resolve().parent.parent / "scripts" / "stack.py"
    spec = importlib.util.spec_from_file_location("stack_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
