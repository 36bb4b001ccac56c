"""What a list costs the database does not grow with what it lists (N+1 queries).

Every list page and list API a role may see is requested with a small market, and again after several times
more of everything it lists has been added (orders, trades, quotes, RFQs, negotiated proposals, holdings,
notifications, clients and their cash requests, KYC applications, freezes, forced transfers, corrections,
settlement instructions and holds, alerts, audit records, ledger entries and blocks, securities, disclosures,
issuance proposals, identity reveals). The number of queries must be the same both times: a query per row
(its related rows, a permission or a decryption each) shows as growth.

The market is built once for the module, inside one transaction rolled back at its end, and every request is
measured then (``counts``); each (role, url) is its own test of those measurements. At the small size a request
is made twice and the second is counted, so that what a process keeps from its first request (content types, the
venue's calendar) does not count as growth; at the large size once: a row more read and kept is growth too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.models import Q
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from balances.issuances import issuance_propose
from balances.services import cash_deposit, shanghai_today
from core.models import Account, Role, User
from counter.services import counter_cash
from demo.onboarding import PNG, answers_for_level, resident_id
from exchange.models import Trade
from exchange.services.negotiated import NegotiatedRequest, negotiated_propose
from exchange.services.orders import OrderRequest, order_place
from exchange.services.rfq import RfqRequestInput, rfq_answer, rfq_request
from kyc import services as kyc
from kyc.models import KycProfile
from ledger.services import block_seal
from notifications.services import event_notify
from registry.disclosures import disclosure_publish
from settlement import instructions
from settlement.services import trade_hold, trade_settle
from supervision import services as sv
from surveillance.models import Alert, Rule
from surveillance.services import rules_seed
from tests.conftest import Market, api_for, build_market, log_in

D = Decimal
# The module fixture measures in the database; the mark makes pytest-django set the test database up.
pytestmark = pytest.mark.django_db
SMALL, GROWTH = 1, 3  # a unit of everything, then three more
_seq = itertools.count(1)
LEGAL = {"legal_authority": "Shanghai Financial Court", "legal_document": "(2026)沪74执1号"}


@dataclass
class World:
    market: Market
    mm: Account
    investor: Account  # the measured investor: the lists of their own grow
    other: Account  # the investor's counterparty in negotiated transfers
    operator: User
    regulator: User
    regulator2: User
    auditor: User

    def user_of(self, role: str) -> User:
        return {
            Role.INVESTOR: self.investor.owner,
            Role.MARKET_MAKER: self.mm.owner,
            Role.BROKER_STAFF: self.market.staff,
            Role.EXCHANGE_OPERATOR: self.operator,
            Role.DEPOSITORY_OPERATOR: self.market.depository,
            Role.REGULATOR: self.regulator,
            Role.AUDITOR: self.auditor,
        }[role]


def _pending_application(world: World) -> KycProfile:
    """An investor opened at the counter and sent for approval: in the broker's KYC queue."""
    n = 500 + next(_seq)
    market = world.market
    identity = kyc.Identity(
        real_name=f"Applicant {n}", id_type="resident_id", id_number=resident_id(n), phone=f"138{n:08d}",
        address=f"{n} Huaihai Road, Shanghai",
    )  # fmt: skip
    profile = kyc.kyc_register(
        username=f"applicant{n}", password=None, broker=market.broker, identity=identity, entered_by=market.staff
    )
    kyc.kyc_assess(actor=market.staff, profile_id=profile.pk, answers=answers_for_level(5))
    kyc.kyc_document_add(
        actor=market.staff, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
    )
    return kyc.kyc_submit(staff=market.staff, profile_id=profile.pk)


def _order(account: Account, code: str, side: str, price: str, tif: str = "IOC"):
    return order_place(
        placed_by=account.owner,
        account=account,
        request=OrderRequest(code, side, 100, D(price), tif, f"qb-{next(_seq)}"),
    )[0]


def grow(world: World, units: int) -> None:
    """``units`` more of everything the lists show, each written through its service."""
    market, investor, mm = world.market, world.investor, world.mm
    rule = Rule.objects.order_by("pk").first()
    for _ in range(units):
        n = next(_seq)
        security = market.new_security(f"Q{n}")
        market.issue(mm, 100_000, security=security)
        market.issue(investor, 1_000, security=security)
        market.issue(world.other, 1_000, security=security)
        market.quote(mm, "9.90", "10.10", security=security)
        # orders: one filled buy, one filled sell, one resting (trades, holdings, open orders)
        bought = _order(investor, security.code, "buy", "10.10")
        sold = _order(investor, security.code, "sell", "9.90")
        _order(investor, security.code, "buy", "9.00", tif="DAY")
        (buy_trade,) = bought.buy_trades.all()
        _order(investor, market.security.code, "buy", "10.10")  # the first security's trades and chart grow too
        market.quote(market.market_maker(shares=1_000), "9.80", "10.20", bid_qty=100, ask_qty=100)  # and its quotes
        (sell_trade,) = sold.sell_trades.all()
        # an RFQ answered; a negotiated proposal waiting for the counterparty
        rfq, _ = rfq_request(
            requested_by=investor.owner, account=investor, request=RfqRequestInput(security.code, "buy", 100, f"r{n}")
        )
        answer = rfq_answer(user=mm.owner, rfq_id=rfq.pk, price=D("10.00"), valid_seconds=600)
        proposal, _code, _ = negotiated_propose(
            actor=investor.owner,
            account=investor,
            request=NegotiatedRequest(security.code, "sell", 100, D("10.00"), world.other.code, f"n{n}"),
        )
        # a new client of the broker, an application waiting, a cash request for a second person
        client = market.investor(cash="1000")
        market.issue(client, 100)  # a holder more on the first security's register
        _pending_application(world)
        counter_cash(
            staff=market.staff, account_code=investor.code, direction="deposit",
            amount=market.broker.cash_approval_threshold + 1, reference=f"slip {n}",
        )  # fmt: skip
        # a freeze in force with a forced transfer proposed from it, and a freeze proposed
        freeze = sv.freeze_propose(
            actor=world.regulator, account=investor.code, amount="1.00", reason=f"Court order {n}", **LEGAL
        )
        freeze = sv.freeze_approve(actor=world.regulator2, freeze_id=freeze.pk)
        sv.forced_transfer_propose(
            actor=world.regulator, freeze_id=freeze.pk, receiver=world.other.code, amount="1.00",
            reason=f"Judgment {n}", **LEGAL,
        )  # fmt: skip
        sv.freeze_propose(actor=world.regulator, account=client.code, amount="1.00", reason=f"Order {n}", **LEGAL)
        on_desk = sv.freeze_propose(actor=world.regulator, account=mm.code, amount="1.00", reason=f"Desk {n}", **LEGAL)
        sv.freeze_approve(actor=world.regulator2, freeze_id=on_desk.pk)
        block_seal()  # trades settle once sealed
        # settlement: the buy settled and a correction of it proposed, the sell held, an instruction set
        trade_settle(trade_id=buy_trade.pk)
        sv.correction_propose(
            actor=world.regulator, trade_id=buy_trade.pk, new_price=D("10.05"), new_quantity=100, reason=f"fix {n}"
        )
        trade_hold(actor=market.depository, trade_id=sell_trade.pk, reason=f"check {n}")
        instructions.instruction_create(
            actor=world.regulator, account_code=client.code, security_code=None, min_amount=None,
            reason=f"watch {n}", ends_at=timezone.now() + dt.timedelta(days=1),
        )  # fmt: skip
        # the registry: a disclosure, an issuance waiting for its second operator; a regulator's reveal
        for code in (security.code, market.security.code):
            disclosure_publish(
                actor=market.depository, code=code, kind="prospectus", title=f"Prospectus {n}",
                filename=f"p{n}-{code}.txt", content=f"prospectus {n} {code}".encode(),
            )  # fmt: skip
        issuance_propose(actor=market.depository, security_code=security.code, allocations=[(client, 10)])
        kyc.identity_reveal(
            regulator=world.regulator, profile_id=KycProfile.objects.get(user=client.owner).pk, reason=f"Case {n}"
        )
        # notifications of the trades, the answer and the proposal (their tasks run after commit)
        event_notify(event="trades_settled", facts={"trade_ids": [buy_trade.pk]})
        event_notify(event="rfq_answered", facts={"answer_id": answer.pk})
        event_notify(event="negotiated_proposed", facts={"proposal_id": proposal.pk})
        event_notify(event="freeze_changed", facts={"freeze_id": on_desk.pk, "event": "frozen"})
        # sealed: a block, its entries; an alert on it
        sealed = block_seal()
        now = timezone.now()
        Alert.objects.create(
            rule=rule, block_height=sealed.block.height, key=f"qb:{n}", security=security,
            accounts=[investor.code], trades=[buy_trade.pk], detail={}, created_at=now, updated_at=now,
        )  # fmt: skip


def build_world() -> World:
    rules_seed()
    market = build_market()
    mm = market.market_maker(cash="100000000", shares=100_000)
    investor = market.investor(cash="10000000", shares=1_000)
    other = market.investor(cash="1000000", shares=1_000)
    regulator, regulator2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    world = World(
        market=market, mm=mm, investor=investor, other=other, operator=market.user(Role.EXCHANGE_OPERATOR),
        regulator=regulator, regulator2=regulator2, auditor=market.user(Role.AUDITOR),
    )  # fmt: skip
    market.quote(mm, "9.90", "10.10", bid_qty=100_000, ask_qty=100_000)
    grow(world, SMALL)
    return world


# Every list page and list API, with the roles that may see it (all others are refused: tests/test_role_matrix.py
# and the pages' own tests). Placeholders: {account} (the measured investor's account), {security} (the market's
# first security), {today} and {year} (Shanghai).
INV, MM, STAFF = Role.INVESTOR, Role.MARKET_MAKER, Role.BROKER_STAFF
OPERATOR, DEPOSITORY, REGULATOR, AUDITOR = (
    Role.EXCHANGE_OPERATOR,
    Role.DEPOSITORY_OPERATOR,
    Role.REGULATOR,
    Role.AUDITOR,
)
ALL = set(Role.values)
SUPERVISORS = {OPERATOR, DEPOSITORY, REGULATOR, AUDITOR}
ROUTES = [
    ("/", ALL),
    ("/orders/", ALL),
    ("/trades/", ALL),
    ("/trades/data/?ids={trade_ids}", ALL),
    ("/balances/", {INV, MM}),  # the other roles have no account: a page saying so
    ("/quotes/", {MM}),
    ("/market/data/", ALL),
    ("/market/securities/{security}/data/", ALL),
    ("/rfqs/", {INV}),
    ("/rfqs/data/", {INV}),
    ("/rfqs/inbox/data/", {MM}),
    ("/negotiated/", {INV, MM}),
    ("/statements/", {INV, MM}),
    ("/notifications/", {INV, MM}),
    ("/kyc/me/", {INV}),
    ("/kyc/applications/", {STAFF}),
    ("/kyc/reveal/", {REGULATOR, AUDITOR}),
    ("/securities/{security}/", ALL),
    ("/counter/", {STAFF}),
    ("/counter/cash-requests/", {STAFF}),
    ("/counter/{account}/", {STAFF}),
    ("/counter/{account}/orders/", {STAFF}),
    ("/counter/{account}/trades/", {STAFF}),
    ("/counter/{account}/statement/", {STAFF}),
    ("/counter/{account}/negotiated/", {STAFF}),
    ("/counter/{account}/rfqs/", {STAFF}),
    ("/operations/", {OPERATOR}),
    ("/depository/", {DEPOSITORY}),
    ("/depository/register/", {DEPOSITORY, REGULATOR, AUDITOR}),
    ("/settlement/", SUPERVISORS),
    ("/settlement/data/", SUPERVISORS),
    ("/supervision/", {REGULATOR}),
    ("/supervision/freezes/", {INV, MM, STAFF, REGULATOR, AUDITOR}),
    ("/supervision/corrections/", SUPERVISORS),
    ("/supervision/accounts/", {REGULATOR, AUDITOR}),
    ("/supervision/accounts/{account}/", {REGULATOR, AUDITOR}),
    ("/surveillance/", {REGULATOR, AUDITOR}),
    ("/surveillance/rules/", {REGULATOR, AUDITOR}),
    ("/audit/", {REGULATOR, AUDITOR}),
    ("/audit/evidence/?account={account}", {REGULATOR, AUDITOR}),
    ("/ledger/", SUPERVISORS),
    ("/ledger/keys/", SUPERVISORS),
    ("/api/v1/orders/", ALL),
    ("/api/v1/trades/", ALL),
    ("/api/v1/trades/?account={account}", {INV, STAFF, REGULATOR, AUDITOR}),
    ("/api/v1/orders/?account={account}", {INV, STAFF, REGULATOR, AUDITOR}),
    ("/api/v1/accounts/{account}/", {REGULATOR, AUDITOR}),
    ("/api/v1/quotes/", {INV, MM}),
    ("/api/v1/account/", {INV, MM}),
    ("/api/v1/rfqs/", ALL),
    ("/api/v1/negotiated-trades/", ALL),
    ("/api/v1/notifications/", {INV, MM}),
    ("/api/v1/securities/", ALL),
    ("/api/v1/market/", ALL),
    ("/api/v1/calendar/holidays/", ALL),
    ("/api/v1/securities/{security}/quotes/", ALL),
    ("/api/v1/securities/{security}/trades/", ALL),
    ("/api/v1/securities/{security}/disclosures/", ALL),
    ("/api/v1/securities/{security}/issuances/", SUPERVISORS),
    ("/api/v1/securities/{security}/register/", {DEPOSITORY, REGULATOR, AUDITOR}),
    ("/api/v1/issuance-proposals/", SUPERVISORS),
    ("/api/v1/settlement/monitor/", SUPERVISORS),
    ("/api/v1/settlement-instructions/", {DEPOSITORY, REGULATOR, AUDITOR}),
    ("/api/v1/freezes/", {INV, MM, STAFF, REGULATOR, AUDITOR}),
    ("/api/v1/forced-transfers/", {REGULATOR, AUDITOR}),
    ("/api/v1/corrections/", SUPERVISORS),
    ("/api/v1/alerts/", {REGULATOR, AUDITOR}),
    ("/api/v1/alerts/rules/", {REGULATOR, AUDITOR}),
    ("/api/v1/audit/", {REGULATOR, AUDITOR}),
    ("/api/v1/audit/evidence/?account={account}", {REGULATOR, AUDITOR}),
    ("/api/v1/regulatory-feed/", {REGULATOR, AUDITOR}),
    ("/api/v1/ledger/blocks/", ALL),
    ("/api/v1/ledger/entries/", SUPERVISORS),
    ("/api/v1/ledger/keys/", ALL),
    ("/api/v1/ledger/witnesses/", ALL),
    ("/api/v1/counter/clients/", {STAFF}),
    ("/api/v1/counter/clients/{account}/", {STAFF}),
    ("/api/v1/counter/clients/{account}/orders/", {STAFF}),
    ("/api/v1/counter/clients/{account}/trades/", {STAFF}),
    ("/api/v1/counter/cash-requests/", {STAFF}),
    ("/api/v1/kyc/applications/", {STAFF, REGULATOR}),
    ("/api/v1/kyc/me/", {INV}),
    ("/api/v1/auth/tokens/", ALL),
    ("/statements/?start={today}&end={today}", {INV, MM}),
    ("/statements/certificate/?year={year}&format=csv", {INV, MM}),
    ("/counter/{account}/statement/?start={today}&end={today}", {STAFF}),
    ("/api/v1/statement/?from={today}&to={today}", {INV, MM}),
    ("/api/v1/holdings-certificate/?year={year}", {INV, MM}),
    ("/api/v1/counter/clients/{account}/statement/?from={today}&to={today}", {STAFF}),
    ("/api/v1/securities/{security}/candles/?interval=1m", ALL),
    ("/depository/register/?security={security}&as_of={today}", {DEPOSITORY, REGULATOR, AUDITOR}),
]  # fmt: skip
CASES = [(role, url) for url, roles in ROUTES for role in sorted(roles)]
# Known to grow, left to whoever changes that code: the KYC application list reads each profile's documents
# (kyc.api.ProfileOutput.get_documents: a query a profile) while KYC documents are being reworked elsewhere.
KNOWN: dict[tuple[str, str], str] = {}  # (role, url): why its queries still grow (none now)


def _url(world: World, template: str) -> str:
    today = shanghai_today()
    trade_ids = "" if "{trade_ids}" not in template else ",".join(map(str, _trades_of(world.investor)))
    return template.format(
        account=world.investor.code,
        security=world.market.security.code,
        today=today,
        year=today.year,
        trade_ids=trade_ids,
    )


def _trades_of(account: Account) -> list[int]:
    return list(Trade.objects.filter(Q(buyer=account) | Q(seller=account)).order_by("pk").values_list("pk", flat=True))


def _clients(world: World) -> dict[str, tuple[Client, object]]:
    """Per role: a signed-in page client and an API client."""
    out = {}
    for role in Role.values:
        user = world.user_of(role)
        page = Client()
        log_in(page, user)
        out[role] = (page, api_for(user))
    return out


def _measure(clients, world: World, role: str, template: str, *, warm: bool) -> tuple[int, int, list[str], int]:
    """The answer's status, its queries and their SQL, and its length (the lists do grow); ``warm``: asked once
    before, so that what a process reads once and keeps (content types, the venue's calendar) is not counted."""
    page, api = clients[role]
    client = api if template.startswith("/api/") else page
    url = _url(world, template)
    if warm:
        client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response.status_code, len(queries), [q["sql"] for q in queries], len(response.content)


@pytest.fixture(scope="module")
def counts(django_db_setup, django_db_blocker, tmp_path_factory, _kyc_keys):
    """{(role, url): (status, queries, their SQL, length)} at the small size, and the same after ``grow``; measured
    in one transaction, rolled back. The settings are those of tests.conftest._test_settings (a function's fixture)."""
    folder = tmp_path_factory.mktemp("query-bounds")
    test_settings = override_settings(
        MARKET_ALWAYS_OPEN=True,
        LEDGER_KEY_DIR=folder / "keys",
        LEDGER_CHECKPOINT_LOG=folder / "checkpoints.log",
        KYC_KEY_DIR=_kyc_keys,
        KYC_DOCUMENT_DIR=folder / "kyc-documents",
        DISCLOSURE_DIR=folder / "disclosures",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        LEDGER_SEAL_ON_COMMIT=False,
        KYC_REGISTRATION_RATE="100000/hour",
    )
    with django_db_blocker.unblock(), test_settings, transaction.atomic():
        world = build_world()
        clients = _clients(world)
        small = {(role, url): _measure(clients, world, role, url, warm=True) for role, url in CASES}
        grow(world, GROWTH)
        large = {(role, url): _measure(clients, world, role, url, warm=False) for role, url in CASES}
        transaction.set_rollback(True)
    return small, large


def _repeated(sql: list[str]) -> str:
    """The statements sent more than once (numbers masked): where the growth comes from."""
    masked = Counter(re.sub(r"\b\d+\b", "N", q)[:240] for q in sql)
    return "\n".join(f"{n} x {q}" for q, n in masked.most_common() if n > 1)


@pytest.mark.parametrize(
    ("role", "url"),
    [
        pytest.param(role, url, id=f"{role}-{url}", marks=[pytest.mark.xfail(reason=KNOWN[role, url], strict=True)])
        if (role, url) in KNOWN
        else pytest.param(role, url, id=f"{role}-{url}")
        for role, url in CASES
    ],
)
def test_a_list_costs_the_same_queries_however_long_it_is(counts, role, url):
    small, large = counts
    (status_small, n_small, *_), (status_large, n_large, sql, _) = small[role, url], large[role, url]
    # given the small market, and four times as much of everything it lists: the same answer, as many queries
    assert (status_small, status_large) == (200, 200)
    assert n_large == n_small, f"{n_small} queries, then {n_large}; repeated:\n{_repeated(sql)}"


# The batched reads the fixes brought in answer as the reads of one row they replace.


def test_the_holders_of_many_securities_are_counted_as_each_alone(market):
    # given a security held by a market maker and an investor, with a pending buy by a second investor, and a
    # security nobody holds
    from balances.services import holders_counted, holders_counted_many

    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    market.investor(shares=100)
    _order(market.investor(cash="5000"), market.security.code, "buy", "10.10")  # matched, not settled
    empty = market.new_security("QEMPTY")
    ids = [market.security.pk, empty.pk]

    # when they are counted at once, then each as alone: 3 and 0
    assert holders_counted_many(ids) == {pk: holders_counted(pk) for pk in ids} == {market.security.pk: 3, empty.pk: 0}
    assert holders_counted_many([]) == {}


def test_the_inclusion_proofs_of_many_leaves_are_each_leafs_own(market):
    # given eleven entries sealed in two blocks (a tree that is not a power of two)
    from ledger import merkle
    from ledger import selectors as ledger_selectors
    from ledger.models import Leaf

    account = market.investor()
    for amount in range(1, 7):
        cash_deposit(actor=market.staff, account=account, amount=D(amount))
    block_seal()
    for amount in range(7, 12):
        cash_deposit(actor=market.staff, account=account, amount=D(amount))
    size = block_seal().block.tree_size
    leaves = list(range(size))

    # when every leaf is proven in one read
    proofs = ledger_selectors.inclusion_proofs(leaves, size)

    # then each proof is the one computed from the leaves themselves, and the one proven alone
    hashes = [bytes(h) for h in Leaf.objects.order_by("leaf_index").values_list("entry__leaf_hash", flat=True)]
    subtree = merkle.subtree_from_list(hashes)
    assert proofs == {i: merkle.inclusion_proof(i, size, subtree) for i in leaves}
    assert proofs == {i: ledger_selectors.inclusion_proof(i, size) for i in leaves}


def test_a_blocks_page_costs_the_same_queries_however_many_entries_it_holds(market):
    # given a block of two deposits, and one of twenty (each entry on its page and in the API's answer)
    regulator = market.user(Role.REGULATOR)
    account = market.investor()
    page = Client()
    log_in(page, regulator)
    api = api_for(regulator)

    def sealed_block_of(entries: int) -> int:
        for amount in range(1, entries + 1):
            cash_deposit(actor=market.staff, account=account, amount=D(amount))
        return block_seal().block.height

    def queries(height: int) -> tuple[int, int]:
        out = []
        for client, url in ((page, f"/ledger/blocks/{height}/"), (api, f"/api/v1/ledger/blocks/{height}/")):
            client.get(url)  # what a process reads once and keeps is not counted
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            out.append(len(captured))
        return tuple(out)

    small, large = sealed_block_of(2), sealed_block_of(20)

    # when each block's page and API answer are read, then they cost the same queries
    assert queries(large) == queries(small)
