"""The issuance registry (depository): issues with lock-ups, the UNLOCK beat task, the holder cap, and the
shareholder register as of a date rebuilt from the ledger alone (DESIGN.md §1, §4; issue 10 items 4 and 6)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client

from balances.models import IssuanceProposal, LockUp, Position
from balances.register import register_as_of
from balances.replay import replay_check
from balances.services import Holding, lockups_release, securities_issue, shanghai_today
from balances.tasks import release_lockups
from core import errors as err
from core.models import AuditEvent, Role
from core.names import holder_name, mask_name
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from kyc.models import KycProfile
from ledger.models import Entry
from ledger.services import block_seal
from ledger.verification import ledger_verify
from registry.calendar import SHANGHAI
from settlement.services import trade_settle
from tests.conftest import api_for, log_in, position_of, snapshot

D = Decimal


def payloads(kind):
    return [
        json.loads(bytes(c))["payload"]
        for c in Entry.objects.filter(kind=kind).order_by("id").values_list("canonical", flat=True)
    ]


def sell(market, investor, qty, coid, security=None):
    return order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest((security or market.security).code, "sell", qty, D("9.90"), "IOC", coid),
    )[0]


@pytest.fixture
def fresh(market):
    """A new security with nothing issued, two investors and a market maker bidding 9.90 for it."""
    security = market.new_security("830077")
    alice, bob = market.investor(), market.investor()
    return market, security, alice, bob


def test_the_depository_issues_to_two_holders_one_with_a_lock_up(fresh):
    market, security, alice, bob = fresh
    until = shanghai_today() + dt.timedelta(days=3)

    # when the depository registers the issuance on the API
    response = api_for(market.depository).post(
        f"/api/v1/securities/{security.code}/issuances/",
        {
            "holders": [
                {"account": alice.code, "quantity": 10_000, "locked_quantity": 4_000, "locked_until": str(until)},
                {"account": bob.code, "quantity": 5_000},
            ],
            "reference": "Initial registration",
        },
        format="json",
    )

    # then it is a proposal (202): nothing is credited until a second depository operator approves it
    assert response.status_code == 202, response.content
    proposal = response.json()
    assert (proposal["status"], proposal["quantity"], proposal["proposed_by"]) == (
        "proposed",
        15_000,
        market.depository.username,
    )
    assert position_of(alice, security) is None and not payloads("ISSUE")
    response = api_for(market.user(Role.DEPOSITORY_OPERATOR)).post(
        f"/api/v1/issuance-proposals/{proposal['id']}/approve/"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"

    # then both hold their shares, alice's lock-up shows as locked until its date
    (body,) = api_for(market.depository).get(f"/api/v1/securities/{security.code}/issuances/").json()
    assert body["quantity"] == 15_000 and body["reference"] == "Initial registration"
    assert body["entry"] == response.json()["entry"]
    pos = position_of(alice, security)
    assert (pos.total, pos.locked, pos.locked_until, pos.available) == (10_000, 4_000, until, 6_000)
    assert position_of(bob, security).locked == 0
    security.refresh_from_db()
    assert security.issued_quantity == 15_000
    # and the ISSUE entry carries the lock-up; the account API shows it
    (issue,) = payloads("ISSUE")[-1:]
    assert issue["allocations"][0]["locked_quantity"] == 4000 and issue["allocations"][0]["locked_until"] == str(until)
    assert "locked_quantity" not in issue["allocations"][1]
    account = api_for(alice.owner).get("/api/v1/account/").json()
    (line,) = [p for p in account["positions"] if p["security"] == security.code]
    assert (line["total"], line["locked"], line["available"]) == (10_000, 4_000, 6_000)
    assert AuditEvent.objects.filter(action="securities_issue", target=security.code).count() == 1
    # and the issuances list shows it
    listed = api_for(market.depository).get(f"/api/v1/securities/{security.code}/issuances/").json()
    assert [i["quantity"] for i in listed] == [15_000]


def test_a_lock_up_blocks_a_sale_until_its_date_and_the_unlock_entry_frees_it(fresh):
    market, security, alice, _bob = fresh
    mm = market.market_maker(shares=0)
    market.issue(mm, 1000, security=security)
    market.quote(mm, "9.90", "10.10", security=security)
    until = shanghai_today() + dt.timedelta(days=2)
    securities_issue(
        actor=market.depository,
        security_code=security.code,
        allocations=[Holding(alice, 1000, 1000, until)],
    )
    before = snapshot()

    # when alice tries to sell locked shares
    with pytest.raises(err.InsufficientShares):
        sell(market, alice, 100, "too-early", security)
    # then nothing changed
    assert snapshot() == before

    # when the release runs the day before: nothing; on the date: the UNLOCK entry frees them
    day_before = dt.datetime.combine(until - dt.timedelta(days=1), dt.time(12), tzinfo=SHANGHAI)
    assert lockups_release(now=day_before) == 0
    assert position_of(alice, security).locked == 1000
    assert ledger_verify().ok and replay_check() == []  # the lock-up is a part of what is held
    on_the_day = dt.datetime.combine(until, dt.time(0, 1), tzinfo=SHANGHAI)
    assert lockups_release(now=on_the_day) == 1
    assert lockups_release(now=on_the_day) == 0  # idempotent
    pos = position_of(alice, security)
    assert (pos.locked, pos.locked_until, pos.available) == (0, None, 1000)
    (unlock,) = payloads("UNLOCK")
    assert unlock == {
        "security": security.code,
        "account": alice.code,
        "quantity": 1000,
        "until": str(until),
        "lockup": LockUp.objects.get().pk,
    }
    assert LockUp.objects.get().released_at == on_the_day
    # and alice can sell
    order = sell(market, alice, 100, "after", security)
    assert order.filled_quantity == 100
    assert replay_check() == []


@pytest.mark.usefixtures("shanghai_day_held")  # a lock-up ending tomorrow as the test reads it
def test_the_beat_task_releases_due_lock_ups(fresh):
    market, security, alice, _bob = fresh
    until = shanghai_today() + dt.timedelta(days=1)
    securities_issue(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 500, 200, until)]
    )
    later = dt.datetime.combine(until, dt.time(9), tzinfo=SHANGHAI)

    with mock.patch("django.utils.timezone.now", return_value=later):
        assert release_lockups.apply().get() == 1

    assert position_of(alice, security).locked == 0


@pytest.mark.parametrize(
    "holders, code",
    [
        ([], "invalid_input"),
        ([{"account": "NOPE", "quantity": 10}], "invalid_input"),
        ([{"account": "A", "quantity": 0}], "invalid_input"),
        ([{"account": "A", "quantity": "10"}], "invalid_input"),
        ([{"account": "A", "quantity": 10, "locked_quantity": 11, "locked_until": "2099-01-01"}], "invalid_input"),
        ([{"account": "A", "quantity": 10, "locked_quantity": 5}], "invalid_input"),
        ([{"account": "A", "quantity": 10, "locked_quantity": 5, "locked_until": "2020-01-01"}], "invalid_input"),
        ([{"account": "A", "quantity": 10, "locked_until": "2099-01-01"}], "invalid_input"),
        ([{"account": "A", "quantity": 10}, {"account": "A", "quantity": 5}], "invalid_input"),
        ([{"account": "A", "quantity": 10, "locked_quantity": 5, "locked_until": "soon"}], "invalid_input"),
    ],
)
def test_a_bad_issuance_is_refused_and_changes_nothing(fresh, holders, code):
    market, security, alice, _bob = fresh
    holders = [{**h, "account": alice.code if h["account"] == "A" else h["account"]} for h in holders]
    before = snapshot()
    entries = Entry.objects.count()

    response = api_for(market.depository).post(
        f"/api/v1/securities/{security.code}/issuances/", {"holders": holders}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert snapshot() == before and Entry.objects.count() == entries
    assert not LockUp.objects.exists()
    assert not IssuanceProposal.objects.exists()  # refused when proposed: no proposal kept


def test_an_issuance_beyond_the_holder_cap_is_refused_whole(fresh):
    market, security, alice, bob = fresh
    security.max_holders = 1
    security.save(update_fields=["max_holders"])
    before = snapshot()

    proposed = api_for(market.depository).post(
        f"/api/v1/securities/{security.code}/issuances/",
        {"holders": [{"account": alice.code, "quantity": 100}, {"account": bob.code, "quantity": 100}]},
        format="json",
    )
    assert proposed.status_code == 202, proposed.content
    response = api_for(market.user(Role.DEPOSITORY_OPERATOR)).post(
        f"/api/v1/issuance-proposals/{proposed.json()['id']}/approve/"
    )

    assert (response.status_code, response.json()["code"]) == (409, "holder_cap_exceeded")
    assert snapshot() == before
    assert IssuanceProposal.objects.get().status == IssuanceProposal.Status.PROPOSED
    assert position_of(alice, security) is None or position_of(alice, security).total == 0


@pytest.mark.parametrize(("venue", "security_switch"), [("cn-regional-2017", False), ("open", True)])
def test_a_placement_makes_no_unqualified_investor_a_new_holder_of_a_security_for_qualified_investors(
    fresh, settings, venue, security_switch
):
    # given a security for qualified investors (the venue's rules, or its own switch), its holders registered by its
    # first issuance, one of them (alice) not a qualified investor
    market, security, alice, bob = fresh
    settings.VENUE_PROFILE = venue
    security.qualified_only = security_switch
    security.save(update_fields=["qualified_only"])
    securities_issue(actor=market.depository, security_code=security.code, allocations=[(alice, 1000)])
    carol = market.investor(qualified=True)
    depository, checker = api_for(market.depository), api_for(market.user(Role.DEPOSITORY_OPERATOR))

    def propose(account, key):
        body = {"holders": [{"account": account.code, "quantity": 100}], "client_request_id": key}
        url = f"/api/v1/securities/{security.code}/issuances/"
        return depository.post(url, body, format="json", HTTP_ACCEPT_LANGUAGE="en")

    # when the depository proposes a placement with bob, not qualified and not a holder
    before = snapshot()
    refused = propose(bob, "p-bob")
    # then it is refused at once, naming bob, and nothing changed: no proposal kept
    assert (refused.status_code, refused.json()["code"]) == (409, "not_qualified_investor"), refused.json()
    assert bob.code in refused.json()["message"] and alice.code not in refused.json()["message"]
    assert snapshot() == before and not IssuanceProposal.objects.exists()

    # when it places shares with alice (a holder already) and with carol (qualified), then both are issued
    for account, key in ((alice, "p-alice"), (carol, "p-carol")):
        proposed = propose(account, key)
        assert proposed.status_code == 202, proposed.json()
        approved = checker.post(f"/api/v1/issuance-proposals/{proposed.json()['id']}/approve/")
        assert approved.status_code == 200, approved.json()
    assert (position_of(alice, security).total, position_of(carol, security).total) == (1100, 100)

    # and a newcomer who stops being qualified between the proposal and its approval is refused at the approval
    dave = market.investor(qualified=True)
    proposed = propose(dave, "p-dave")
    assert proposed.status_code == 202, proposed.json()
    KycProfile.objects.filter(user=dave.owner).update(qualified_investor=False)
    before = snapshot()
    late = checker.post(f"/api/v1/issuance-proposals/{proposed.json()['id']}/approve/", HTTP_ACCEPT_LANGUAGE="en")
    assert (late.status_code, late.json()["code"]) == (409, "not_qualified_investor"), late.json()
    assert snapshot() == before and position_of(dave, security) is None


@pytest.mark.parametrize(
    "unreviewed",
    [
        {"state": KycProfile.State.DRAFT},  # attested, not reviewed yet (an approved investor attesting anew)
        {"state": KycProfile.State.SUBMITTED},
        {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},  # approved once, its assessment expired
    ],
)
def test_a_placement_takes_only_a_reviewed_qualified_investor_as_a_new_holder(fresh, settings, unreviewed):
    # given a venue for qualified investors, the security's holders registered, and bob's attestation not (or no
    # longer) accepted by a review: qualified_investor is set by the investor's own attestation
    market, security, alice, bob = fresh
    settings.VENUE_PROFILE = "cn-regional-2017"
    securities_issue(actor=market.depository, security_code=security.code, allocations=[(alice, 1000)])
    KycProfile.objects.filter(user=bob.owner).update(qualified_investor=True, qualified_evidence="mine", **unreviewed)
    before = snapshot()

    # when the depository places shares with bob, then it is refused, naming bob, and nothing changed
    with pytest.raises(err.DomainError) as refused:
        securities_issue(actor=market.depository, security_code=security.code, allocations=[(bob, 100)])
    assert refused.value.code == "not_qualified_investor" and bob.code in str(refused.value.message)
    assert snapshot() == before and position_of(bob, security) is None


def test_under_the_open_profile_a_placement_with_an_unqualified_investor_is_made(fresh, settings):
    # given the open profile and a security without the qualified-investor switch, its holders registered
    market, security, alice, bob = fresh
    settings.VENUE_PROFILE = "open"
    securities_issue(actor=market.depository, security_code=security.code, allocations=[(alice, 1000)])
    # when the depository places shares with bob, not qualified, then they are issued
    securities_issue(actor=market.depository, security_code=security.code, allocations=[(bob, 100)])
    assert position_of(bob, security).total == 100


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR, Role.REGULATOR])
def test_only_the_depository_issues(fresh, role):
    market, security, alice, _bob = fresh
    before = snapshot()

    response = api_for(market.user(role)).post(
        f"/api/v1/securities/{security.code}/issuances/",
        {"holders": [{"account": alice.code, "quantity": 100}]},
        format="json",
    )

    assert response.status_code == 403
    assert snapshot() == before
    assert not IssuanceProposal.objects.exists()


def _at(days_ago: int, hour: int = 11) -> dt.datetime:
    day = shanghai_today() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SHANGHAI)


@pytest.mark.usefixtures("shanghai_day_held")  # the days as the test counts them
def test_the_register_as_of_a_past_date_equals_holdings_rebuilt_by_hand(fresh):
    market, security, alice, bob = fresh
    mm = market.market_maker(shares=0)
    # given an issuance two days ago, a settled trade yesterday (alice sells 300 to the market maker),
    # and another today (bob sells 100)
    with mock.patch("django.utils.timezone.now", return_value=_at(2)):
        securities_issue(
            actor=market.depository,
            security_code=security.code,
            allocations=[Holding(alice, 1000), Holding(bob, 400), Holding(mm, 100)],
        )
    market.quote(mm, "9.90", "10.10", bid_qty=1000, ask_qty=100, security=security)
    with mock.patch("django.utils.timezone.now", return_value=_at(1)):
        sell(market, alice, 300, "y", security)
    block_seal()
    with mock.patch("django.utils.timezone.now", return_value=_at(1, 12)):
        for trade in Trade.objects.filter(security=security):
            trade_settle(trade_id=trade.pk)
    sell(market, bob, 100, "t", security)
    block_seal()
    for trade in Trade.objects.filter(security=security, status="matched"):
        trade_settle(trade_id=trade.pk)

    # when the depository reads the register as of each date
    two_days = {line.account: line.quantity for line in register_as_of(security, _at(2).date())}
    yesterday = {line.account: line.quantity for line in register_as_of(security, _at(1).date())}
    today = register_as_of(security, shanghai_today())

    # then each equals what the day's trades make of the issue, by hand
    assert two_days == {alice.code: 1000, bob.code: 400, mm.code: 100}
    assert yesterday == {alice.code: 700, bob.code: 400, mm.code: 400}
    assert {line.account: line.quantity for line in today} == {alice.code: 700, bob.code: 300, mm.code: 500}
    # and today's equals the balance tables, part by part
    tables = {
        p.account.code: (p.total, p.locked, p.frozen)
        for p in Position.objects.filter(security=security, total__gt=0).select_related("account")
    }
    assert {line.account: (line.quantity, line.locked, line.frozen) for line in today} == tables
    assert register_as_of(security, _at(3).date()) == []


@pytest.mark.usefixtures("shanghai_day_held")  # tomorrow as the test reads it
def test_the_register_api_json_and_csv_for_the_depository_regulator_and_auditor(fresh):
    market, security, alice, bob = fresh
    securities_issue(
        actor=market.depository,
        security_code=security.code,
        allocations=[Holding(alice, 600, 100, shanghai_today() + dt.timedelta(days=5)), Holding(bob, 400)],
    )
    url = f"/api/v1/securities/{security.code}/register/"

    body = api_for(market.depository).get(url).json()
    assert body["holders"] == 2 and body["issued"] == 1000
    # an investor's real name is masked (its first character): a full identity only through a recorded reveal
    assert len(holder_name(alice)) > 1 and holder_name(alice) not in json.dumps(body, ensure_ascii=False)
    assert body["lines"][0] == {
        "account": alice.code,
        "name": mask_name(holder_name(alice)),
        "broker": market.broker.code,
        "quantity": 600,
        "locked": 100,
        "frozen": 0,
        "percent": "60.0000",
    }
    csv_response = api_for(market.user(Role.REGULATOR)).get(url, {"format": "csv", "as_of": str(shanghai_today())})
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig").splitlines()
    assert text[0].startswith("security,as_of,account") and text[1].startswith(f"{security.code},")
    assert holder_name(alice) not in "\n".join(text) and holder_name(bob) not in "\n".join(text)
    browser = Client()
    log_in(browser, market.depository)
    page = browser.get("/depository/register/", {"security": security.code, "as_of": str(shanghai_today())})
    assert page.status_code == 200 and mask_name(holder_name(alice)) in page.content.decode()
    assert holder_name(alice) not in page.content.decode() and holder_name(bob) not in page.content.decode()
    assert api_for(market.user(Role.AUDITOR)).get(url).status_code == 200
    for role in (Role.INVESTOR, Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR):
        assert api_for(market.user(role)).get(url).status_code == 403
    assert api_for(market.depository).get(url, {"as_of": "yesterday"}).status_code == 400
    future = str(shanghai_today() + dt.timedelta(days=1))
    assert api_for(market.depository).get(url, {"as_of": future}).status_code == 400
    assert api_for(market.depository).get("/api/v1/securities/NOPE/register/").status_code == 404


def test_the_register_csvs_refusals_are_json_as_every_api_error_is(fresh):
    # (found by an outside tester: a 403 to ?format=csv said Content-Type: text/csv over a JSON body)
    market, security, alice, _bob = fresh
    securities_issue(actor=market.depository, security_code=security.code, allocations=[Holding(alice, 600)])
    url = f"/api/v1/securities/{security.code}/register/"
    before = snapshot()
    # when a role that may not read the register, then a reader with a bad date or an unknown security, ask for CSV
    answers = {
        "permission_denied": api_for(market.user(Role.BROKER_STAFF)).get(url, {"format": "csv"}),
        "invalid_input": api_for(market.depository).get(url, {"format": "csv", "as_of": "yesterday"}),
        "unknown_security": api_for(market.depository).get("/api/v1/securities/NOPE/register/", {"format": "csv"}),
    }
    # then each is its error as JSON, said to be JSON
    for code, response in answers.items():
        assert response["Content-Type"] == "application/json", code
        assert response.json()["code"] == code and "Content-Disposition" not in response
    assert [r.status_code for r in answers.values()] == [403, 400, 404]
    # and the register itself is still CSV, and nothing changed
    csv_response = api_for(market.depository).get(url, {"format": "csv"})
    assert csv_response.status_code == 200 and csv_response["Content-Type"] == "text/csv; charset=utf-8"
    assert snapshot() == before


@pytest.mark.usefixtures("shanghai_day_held")  # a lock-up ending tomorrow as the test reads it
def test_issue_and_unlock_entries_verify_and_replay(fresh):
    market, security, alice, _bob = fresh
    until = shanghai_today() + dt.timedelta(days=1)
    securities_issue(
        actor=market.depository, security_code=security.code, allocations=[Holding(alice, 500, 200, until)]
    )
    lockups_release(now=dt.datetime.combine(until, dt.time(1), tzinfo=SHANGHAI))
    block_seal()

    assert ledger_verify().ok
    call_command("ledger_replay", "--check")


def test_the_register_counts_holders_as_the_cap_does_one_person_once(fresh):
    # (found by a probe: a register of three accounts, two of them one person's, said "holders": 3 while the cap
    # refused a new buyer at "already has 2 holders")
    from demo.onboarding import approved_investor

    market, security, alice, bob = fresh
    seq = int(alice.owner.username.removeprefix("investor"))
    twin = approved_investor(
        username="alice-twin", broker=market.broker, maker=market.staff, checker=market.checker, seq=seq
    )
    securities_issue(
        actor=market.depository,
        security_code=security.code,
        allocations=[Holding(alice, 600), Holding(twin, 100), Holding(bob, 300)],
    )
    body = api_for(market.depository).get(f"/api/v1/securities/{security.code}/register/").json()
    assert (body["holders"], body["accounts"], len(body["lines"])) == (2, 3, 3)


@pytest.mark.parametrize(
    ("profile", "qualified"),
    [
        ({}, True),  # approved, attested, unexpired
        ({"qualified_investor": False}, False),
        ({"state": KycProfile.State.DRAFT}, False),  # attested anew, not reviewed yet
        ({"state": KycProfile.State.SUBMITTED}, False),
        ({"state": KycProfile.State.EXPIRED}, False),
        ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, False),  # approved once, the assessment ended
        (None, False),  # an investor account without a KYC profile
    ],
)
def test_the_qualified_investor_rule_is_read_the_same_for_an_issuance_and_a_purchase(market, profile, qualified):
    """``kyc.selectors.is_qualified`` is the rule's one reading: ``unqualified_investors`` (an issuance's new
    holders) applies it row by row, as ``exchange.pretrade`` does for a buyer."""
    from core.models import Account
    from kyc.selectors import is_qualified, unqualified_investors

    # given an investor whose profile is as the case says, and a market maker (never an investor to refuse)
    if profile is None:
        owner = market.user()
        investor = Account.objects.create(
            code="NOKYC1",
            kind=Account.Kind.INVESTOR,
            name="无**",
            holder_name_enc=b"sealed",
            owner=owner,
            broker=market.broker,
        )
    else:
        investor = market.investor(qualified=True)
        KycProfile.objects.filter(user=investor.owner).update(**profile)
    maker = market.market_maker()
    now = dt.datetime.now(dt.UTC)

    # when the rule is read, then both readings agree with the case
    assert unqualified_investors([investor.pk, maker.pk]) == (set() if qualified else {investor.pk})
    row = (
        KycProfile.objects.filter(user=investor.owner).values_list("state", "expires_at", "qualified_investor").first()
    )
    if row is not None:
        assert is_qualified(state=row[0], expires_at=row[1], attested=row[2], now=now) is qualified
