"""The broker counter: staff act for their own broker's clients only, through the API and the pages.

Clients are opened the way the counter opens them (``kyc_register`` by a staff
member) and approved by a second staff member, so that they may trade.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from balances.services import account_open, securities_issue
from core.models import Account, AuditEvent, Broker, Role, User
from exchange.models import Order, Trade
from exchange.services import OrderRequest, order_place
from kyc import services as kyc
from kyc.idcard import check_character
from kyc.models import KycProfile
from kyc.questionnaire import QUESTIONS
from ledger.models import Leaf
from ledger.services import block_seal
from registry.models import Security
from settlement.services import trade_settle
from tests.conftest import api_for, cash_of, log_in, position_of, snapshot

D = Decimal
BEIJING = ZoneInfo("Asia/Shanghai")
# A whole one-pixel PNG: an upload's structure is checked, not only its first bytes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\xdac\xf8\x0f\x04\x00\t\xfb\x03\xfdh\xfa\x1c\xcc\x00\x00\x00\x00IEND\xaeB`\x82"
)
TOP_ANSWERS = {q["key"]: max(q["options"], key=lambda o: o[2])[0] for q in QUESTIONS}
_n = itertools.count(1)


pytestmark = pytest.mark.usefixtures("kyc_folders")


def id_number(n: int) -> str:
    first17 = f"11010519900101{n:03d}"
    return first17 + check_character(first17)


@dataclass
class Desk:
    """A broker's counter: two staff members (maker and checker) and its clients."""

    broker: Broker
    staff: User
    checker: User

    def client(self, market, *, cash: str = "0", shares: int = 0, name: str = "") -> Account:
        """An investor opened at this counter, KYC approved by the second staff member, funded."""
        n = next(_n)
        profile = kyc.kyc_register(
            username=f"client{n}",
            password=None,
            broker=self.broker,
            identity=kyc.Identity(
                real_name=name or f"客户{n}",
                id_type="resident_id",
                id_number=id_number(n),
                phone=f"139{n:08d}",
                address="上海市浦东新区世纪大道 100 号",
            ),
            entered_by=self.staff,
        )
        kyc.kyc_assess(actor=self.staff, profile_id=profile.pk, answers=TOP_ANSWERS)
        kyc.kyc_document_add(
            actor=self.staff, profile_id=profile.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
        )
        kyc.kyc_submit(staff=self.staff, profile_id=profile.pk)
        kyc.kyc_approve(staff=self.checker, profile_id=profile.pk)
        account = Account.objects.select_related("owner", "broker").get(owner=profile.user)
        if D(cash):
            from balances.services import cash_deposit

            cash_deposit(actor=self.staff, account=account, amount=D(cash))
        if shares:
            securities_issue(
                actor=market.depository, security_code=market.security.code, allocations=[(account, shares)]
            )
        return account


@dataclass
class World:
    market: object
    a: Desk
    b: Desk
    mm: Account


@pytest.fixture
def world(market) -> World:
    """Broker A (the market's broker) and broker B, each with two staff; a market maker quoting 9.90 / 10.10."""
    a = Desk(market.broker, market.staff, market.user(Role.BROKER_STAFF, broker=market.broker))
    broker_b = Broker.objects.create(code="BB", name="Broker B", fee_bps=D("2.5"), fee_minimum=D("5"))
    account_open(kind=Account.Kind.FEE, name="B fees", broker=broker_b)
    b = Desk(
        broker_b,
        market.user(Role.BROKER_STAFF, broker=broker_b),
        market.user(Role.BROKER_STAFF, broker=broker_b),
    )
    mm = market.market_maker(cash="1000000", shares=100_000)
    market.quote(mm, "9.90", "10.10")
    return World(market, a, b, mm)


def page_client(user, language: str = "en") -> Client:
    client = Client()
    log_in(client, user)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    return client


def order_body(security, **over) -> dict:
    body = {
        "security": security.code,
        "side": "buy",
        "quantity": 100,
        "limit_price": "10.10",
        "time_in_force": "IOC",
        "client_order_id": f"c-{next(_n)}",
    }
    return {**body, **over}


@contextmanager
def at(moment: dt.datetime):
    """Run with the clock at ``moment`` (the ledger records that time)."""
    with mock.patch("django.utils.timezone.now", return_value=moment.astimezone(dt.UTC)):
        yield


def beijing(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BEIJING)


# --------------------------------------------------------------------------
# Who may use the counter


def test_staff_list_only_their_own_brokers_clients(world):
    # given two clients at A and one at B
    m = world.market
    a1, a2 = world.a.client(m, cash="100"), world.a.client(m)
    b1 = world.b.client(m, cash="100")

    # when each broker's staff list their clients
    seen_by_a = api_for(world.a.staff).get("/api/v1/counter/clients/").json()
    seen_by_b = api_for(world.b.staff).get("/api/v1/counter/clients/").json()

    # then each sees exactly their own, newest first, and nothing of the other broker
    assert [c["account"] for c in seen_by_a["results"]] == [a2.code, a1.code]
    assert [c["account"] for c in seen_by_b["results"]] == [b1.code]
    assert seen_by_a["count"] == 2
    assert b1.code not in str(seen_by_a) and a1.code not in str(seen_by_b)
    first = seen_by_a["results"][1]
    assert (first["kyc_state"], first["risk_level"], first["cash_total"]) == ("approved", "C5", "100.00")
    assert first["phone_masked"].startswith("139****") and "*" in first["id_number_masked"]

    # and the page lists the same
    page = page_client(world.a.staff).get("/counter/")
    assert page.status_code == 200
    body = page.content.decode()
    assert a1.code in body and a2.code in body and b1.code not in body


def test_search_by_code_name_whole_id_number_and_masked_phone(world):
    m = world.market
    wang = world.a.client(m, name="王小明")
    li = world.a.client(m, name="李四")
    chen = world.a.client(m, name="陈静 Chen Jing")
    other_broker = world.b.client(m, name="王大明")
    wang_profile = KycProfile.objects.get(user=wang.owner)
    api = api_for(world.a.staff)

    def found(q: str) -> list[str]:
        return [c["account"] for c in api.get("/api/v1/counter/clients/", {"q": q}).json()["results"]]

    assert found(wang.code) == [wang.code]
    assert found(wang.code.lower()) == [wang.code]
    assert found("王") == [wang.code]  # not the other broker's 王大明 (by the mask's first character)
    # names are stored encrypted: the whole name, or whole words of it, through their blind indexes
    assert found("王小明") == [wang.code]
    assert found("王大明") == []  # the other broker's
    assert found("chen jing") == found("ＪＩＮＧ") == found(" 陈静  ") == [chen.code]
    assert found("小明") == found("Jin") == found("Chen Jingx") == []  # never a part of a word
    assert found("陈") == [chen.code] and found("静") == found("*") == []  # the surname alone
    assert found(li.owner.username) == [li.code]
    # the whole ID number finds its holder through the blind index; a part of it finds nothing
    whole = id_number(int(wang.owner.username.removeprefix("client")))
    assert found(whole) == [wang.code]
    assert found(whole[:10]) == []
    # the other broker's client is not found by its ID number either
    other_id = id_number(int(other_broker.owner.username.removeprefix("client")))
    assert found(other_id) == []
    # phones: only the masked form as shown
    assert found(wang_profile.phone_masked) == [wang.code]
    assert found("nobody") == []

    page = page_client(world.a.staff).get("/counter/", {"q": "李四"})
    assert li.code in page.content.decode() and wang.code not in page.content.decode()


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.MARKET_MAKER, Role.REGULATOR, Role.DEPOSITORY_OPERATOR])
def test_non_staff_get_403_on_every_route(world, role):
    # given a client of A and a user who is not broker staff
    m = world.market
    client = world.a.client(m, cash="1000")
    outsider = m.user(role, broker=m.broker if role == Role.INVESTOR else None)
    api, pages = api_for(outsider), page_client(outsider)
    before = snapshot()

    # then every API route and page is 403
    c = client.code
    for method, url, body in [
        ("get", "/api/v1/counter/clients/", None),
        ("post", "/api/v1/counter/clients/", {}),
        ("get", f"/api/v1/counter/clients/{c}/", None),
        ("post", f"/api/v1/counter/clients/{c}/deposit/", {"amount": "1.00"}),
        ("post", f"/api/v1/counter/clients/{c}/withdraw/", {"amount": "1.00"}),
        ("get", f"/api/v1/counter/clients/{c}/orders/", None),
        ("post", f"/api/v1/counter/clients/{c}/orders/", order_body(m.security)),
        ("delete", f"/api/v1/counter/clients/{c}/orders/1/", None),
        ("get", f"/api/v1/counter/clients/{c}/trades/", None),
        ("get", f"/api/v1/counter/clients/{c}/statement/?from=2026-01-01&to=2026-12-31", None),
    ]:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 403, url
        assert response.json()["code"] == "permission_denied"
    for url in ["/counter/", "/counter/open/", f"/counter/{c}/", f"/counter/{c}/orders/", f"/counter/{c}/trades/"]:
        assert pages.get(url).status_code == 403, url
    assert pages.post(f"/counter/{c}/deposit/", {"deposit-amount": "1.00"}).status_code == 403
    assert snapshot() == before


def test_anonymous_is_refused(world):
    client = world.a.client(world.market)
    assert api_for(None).get("/api/v1/counter/clients/").status_code in (401, 403)
    response = Client().get(f"/counter/{client.code}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_every_object_route_of_another_brokers_client_is_404_and_changes_nothing(world):
    # given a funded client of A with an open order, and staff of B
    m = world.market
    client = world.a.client(m, cash="5000", shares=1000)
    resting, _ = order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(m.security.code, "buy", 100, D("9.50"), "DAY", "rest-1"),
    )
    api, pages = api_for(world.b.staff), page_client(world.b.staff)
    before, audit_before = snapshot(), AuditEvent.objects.count()

    # when staff of B try every object route of A's client
    c = client.code
    api_calls = [
        ("get", f"/api/v1/counter/clients/{c}/", None),
        ("post", f"/api/v1/counter/clients/{c}/deposit/", {"amount": "1.00"}),
        ("post", f"/api/v1/counter/clients/{c}/withdraw/", {"amount": "1.00"}),
        ("get", f"/api/v1/counter/clients/{c}/orders/", None),
        ("post", f"/api/v1/counter/clients/{c}/orders/", order_body(m.security)),
        ("get", f"/api/v1/counter/clients/{c}/orders/{resting.pk}/", None),
        ("delete", f"/api/v1/counter/clients/{c}/orders/{resting.pk}/", None),
        ("get", f"/api/v1/counter/clients/{c}/trades/", None),
        ("get", f"/api/v1/counter/clients/{c}/statement/?from=2026-01-01&to=2026-12-31", None),
        ("get", f"/api/v1/counter/clients/{c}/statement/?from=2026-01-01&to=2026-12-31&format=csv", None),
        ("get", f"/api/v1/counter/clients/{c}/statement/?from=2026-01-01&to=2026-12-31&format=pdf", None),
    ]
    # then each is a 404 that says no more than "not found"
    for method, url, body in api_calls:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found", url
        assert c not in response.content.decode()
    page_calls = [
        ("get", f"/counter/{c}/", {}),
        ("get", f"/counter/{c}/orders/", {}),
        ("get", f"/counter/{c}/orders/new/", {}),
        ("post", f"/counter/{c}/orders/new/", {"security": m.security.code, "side": "buy", "quantity": "100"}),
        ("post", f"/counter/{c}/orders/{resting.pk}/cancel/", {}),
        ("get", f"/counter/{c}/trades/", {}),
        ("get", f"/counter/{c}/statement/", {"start": "2026-01-01", "end": "2026-12-31", "format": "pdf"}),
        ("post", f"/counter/{c}/deposit/", {"deposit-amount": "1.00"}),
        ("post", f"/counter/{c}/withdraw/", {"withdraw-amount": "1.00"}),
    ]
    for method, url, data in page_calls:
        assert getattr(pages, method)(url, data).status_code == 404, url

    # and nothing changed, nothing was audited as done: the API's refused writes are on the trail as refused
    assert snapshot() == before
    added = AuditEvent.objects.order_by("id")[audit_before:]
    assert [(e.outcome, e.detail["code"], e.detail["method"]) for e in added] == [
        ("refused", "not_found", "POST"),
        ("refused", "not_found", "POST"),
        ("refused", "not_found", "POST"),
        ("refused", "not_found", "DELETE"),
    ]
    assert Order.objects.get(pk=resting.pk).status == Order.Status.OPEN


def test_an_order_of_another_client_of_the_same_broker_is_not_reachable_through_the_wrong_client(world):
    m = world.market
    one, two = world.a.client(m, cash="5000"), world.a.client(m, cash="5000")
    order, _ = order_place(
        placed_by=two.owner, account=two, request=OrderRequest(m.security.code, "buy", 100, D("9.50"), "DAY", "x")
    )
    before = snapshot()
    response = api_for(world.a.staff).delete(f"/api/v1/counter/clients/{one.code}/orders/{order.pk}/")
    assert response.status_code == 404
    assert snapshot() == before


# --------------------------------------------------------------------------
# Opening an account


def test_staff_open_an_account_at_the_counter(world):
    # when staff of A open an account through the API
    body = {
        "username": "newclient",
        "password": "",
        "real_name": "赵六",
        "id_type": "resident_id",
        "id_number": id_number(901),
        "phone": "13700137000",
        "address": "广州市天河区体育西路 1 号",
    }
    response = api_for(world.a.staff).post("/api/v1/counter/clients/", body, format="json")

    # then an investor account of broker A exists with a draft KYC entered by that staff member
    assert response.status_code == 201, response.json()
    data = response.json()
    account = Account.objects.get(code=data["account"])
    profile = KycProfile.objects.get(pk=data["kyc_id"])
    assert (account.kind, account.broker, account.owner.username) == ("investor", world.a.broker, "newclient")
    assert (profile.state, profile.entered_by, data["kyc_state"]) == ("draft", world.a.staff, "draft")
    assert not account.owner.has_usable_password()
    assert AuditEvent.objects.filter(action="kyc_open_at_counter", actor=world.a.staff).count() == 1
    # and the new client is listed for A, not for B
    assert api_for(world.b.staff).get("/api/v1/counter/clients/", {"q": "newclient"}).json()["count"] == 0


def test_opening_with_bad_identity_is_400_and_creates_nothing(world):
    users = User.objects.count()
    good = id_number(10)
    body = {
        "username": "bad",
        "real_name": "赵六",
        "id_type": "resident_id",
        "id_number": good[:17] + ("1" if good[17] == "0" else "0"),  # wrong check digit
        "phone": "13700137000",
        "address": "广州市天河区体育西路 1 号",
    }
    response = api_for(world.a.staff).post("/api/v1/counter/clients/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    # the field's messages are a list, as every field error of the API
    fields = response.json()["fields"]
    assert list(fields) == ["id_number"] and isinstance(fields["id_number"], list) and fields["id_number"][0]
    assert User.objects.count() == users and not KycProfile.objects.exists()


def test_open_account_page(world):
    pages = page_client(world.a.staff)
    assert pages.get("/counter/open/").status_code == 200
    response = pages.post(
        "/counter/open/",
        {
            "real_name": "孙七",
            "id_type": "resident_id",
            "id_number": id_number(902),
            "phone": "13600136000",
            "address": "深圳市南山区科技园 8 号",
            "username": "sunqi",
            "password": "",
        },
    )
    account = Account.objects.get(owner__username="sunqi")
    assert response.status_code == 302 and response["Location"] == f"/counter/{account.code}/"
    assert account.broker == world.a.broker
    detail = pages.get(response["Location"]).content.decode()
    assert "孙七" in detail and "136****6000" in detail and "13600136000" not in detail

    # a bad form shows its errors and opens nothing
    bad = pages.post("/counter/open/", {"real_name": "孙八", "id_type": "resident_id", "id_number": "123"})
    assert bad.status_code == 200 and bad.context["form"].errors
    assert not User.objects.filter(first_name="孙八").exists()


# --------------------------------------------------------------------------
# Cash


def test_deposit_and_withdraw_through_the_api(world):
    client = world.a.client(world.market)
    api = api_for(world.a.staff)

    deposited = api.post(f"/api/v1/counter/clients/{client.code}/deposit/", {"amount": "1000.50"}, format="json")
    withdrawn = api.post(
        f"/api/v1/counter/clients/{client.code}/withdraw/", {"amount": "200.25", "reference": "slip 7"}, format="json"
    )

    assert deposited.status_code == 200 and deposited.json()["cash"]["total"] == "1000.50"
    assert withdrawn.status_code == 200 and withdrawn.json()["cash"]["available"] == "800.25"
    assert cash_of(client).total == D("800.25")
    detail = api.get(f"/api/v1/counter/clients/{client.code}/").json()
    assert detail["cash"]["total"] == "800.25" and detail["client"]["account"] == client.code
    actions = AuditEvent.objects.filter(target=client.code).values_list("action", flat=True)
    assert {"cash_deposit", "cash_withdraw"} <= set(actions)


@pytest.mark.parametrize(
    ("path", "amount", "status"),
    [
        ("deposit", 100.5, 400),  # a JSON float
        ("deposit", 100, 400),  # a JSON number at all
        ("deposit", "-5.00", 400),
        ("deposit", "0", 400),
        ("deposit", "abc", 400),
        ("deposit", "1.001", 400),
        ("deposit", "NaN", 400),
        ("withdraw", 50.0, 400),
        ("withdraw", "-1", 400),
        ("withdraw", "45.01", 409),  # 1000.00 total, 955.00 reserved by an open order: 45.00 available
        ("withdraw", "1000.00", 409),
        ("deposit", "1e400", 400),  # a finite decimal too large to quantize
        ("deposit", "1000000000000000.00", 400),  # 10^15: refused before any balance could overflow
        ("withdraw", "1e400", 400),
        ("deposit", ["1.00"], 400),
        ("deposit", {"amount": "1.00"}, 400),
        ("deposit", None, 400),
        ("deposit", True, 400),
    ],
)
def test_bad_amounts_are_refused_and_change_nothing(world, path, amount, status):
    # given a client with 1000.00, of which an open buy order reserves part
    m = world.market
    client = world.a.client(m, cash="1000")
    order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(m.security.code, "buy", 100, D("9.50"), "DAY", "reserve"),
    )
    assert cash_of(client).available == D("45.00")
    before = snapshot()

    response = api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/{path}/", {"amount": amount}, format="json"
    )

    assert response.status_code == status, response.json()
    assert set(response.json()) >= {"code", "message"}
    assert snapshot() == before


def test_malformed_json_is_400(world):
    client = world.a.client(world.market)
    response = api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/deposit/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"


def test_cash_on_the_page(world):
    client = world.a.client(world.market, cash="500")
    pages = page_client(world.a.staff)

    done = pages.post(f"/counter/{client.code}/deposit/", {"deposit-amount": "250.00", "deposit-reference": "cash"})
    assert done.status_code == 302
    assert cash_of(client).total == D("750.00")

    before = snapshot()
    refused = pages.post(f"/counter/{client.code}/withdraw/", {"withdraw-amount": "750.01"})
    assert refused.status_code == 400
    assert refused.context["withdraw_form"].non_field_errors()
    negative = pages.post(f"/counter/{client.code}/withdraw/", {"withdraw-amount": "-3"})
    assert negative.status_code == 400 and negative.context["withdraw_form"].errors["amount"]
    assert snapshot() == before


def test_the_counter_says_a_client_is_frozen_and_leads_to_the_freezes(world):
    # (found by a probe: a client frozen whole showed only "available 0.00"; the counter offered orders and
    # pay-outs that could only be refused, and the client is told to ask the broker about the freeze)
    from supervision import services as sv

    m = world.market
    whole, part, free = (world.a.client(m, cash="500") for _ in range(3))
    reg1, reg2 = m.user(Role.REGULATOR), m.user(Role.REGULATOR)
    for account, what in ((whole, {"whole_account": True}), (part, {"amount": "100.00"})):
        freeze = sv.freeze_propose(
            actor=reg1, account=account.code, legal_reference="(2026)沪74执9号", reason="x", **what
        )
        sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    pages = page_client(world.a.staff)
    before = snapshot()

    # when the staff member opens the clients list and each client's page
    listed = pages.get("/counter/").content.decode()
    rows = {a.code: listed.split(f'data-account="{a.code}"', 1)[1].split("</tr>", 1)[0] for a in (whole, part, free)}
    shown = {a.code: pages.get(f"/counter/{a.code}/").content.decode() for a in (whole, part, free)}

    # then the list marks the client frozen whole, and each page says what is frozen and leads to its freezes
    assert 'data-field="frozen"' in rows[whole.code]
    assert 'data-field="frozen"' not in rows[part.code] + rows[free.code]
    assert 'id="client-freezes-notice" data-scope="account"' in shown[whole.code]
    assert "can neither trade nor withdraw" in shown[whole.code]
    assert 'id="client-freezes-notice" data-scope="part"' in shown[part.code]
    assert f'href="/supervision/freezes/?account={whole.code}"' in shown[whole.code]
    assert 'id="client-freezes-notice"' not in shown[free.code]
    # and the freezes page, for that account, lists its freeze alone
    freezes = pages.get(f"/supervision/freezes/?account={whole.code}").content.decode()
    assert whole.code in freezes.split('id="freezes-table"', 1)[1] and part.code not in freezes
    assert snapshot() == before


# --------------------------------------------------------------------------
# Orders on a client's behalf


def test_an_order_placed_at_the_counter_is_marked_as_such(world):
    # given a funded client of A, who also places an order online
    m = world.market
    client = world.a.client(m, cash="50000")
    own, _ = order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(m.security.code, "buy", 100, D("9.50"), "DAY", "online-1"),
    )
    api = api_for(world.a.staff)

    # when staff place a buy for the client at the counter
    response = api.post(f"/api/v1/counter/clients/{client.code}/orders/", order_body(m.security), format="json")

    # then the order is the client's, placed by the staff member, filled against the quote, marked counter-entered
    assert response.status_code == 201, response.json()
    data = response.json()
    order = Order.objects.get(pk=data["id"])
    assert (order.account, order.placed_by, order.status) == (client, world.a.staff, "filled")
    assert (data["entered_at_counter"], data["placed_by"], data["account"]) == (
        True,
        world.a.staff.username,
        client.code,
    )
    assert AuditEvent.objects.filter(action="counter_order_place", actor=world.a.staff, outcome="ok").count() == 1

    # and every listing marks it, and only it
    listed = {
        o["id"]: o["entered_at_counter"]
        for o in api.get(f"/api/v1/counter/clients/{client.code}/orders/").json()["results"]
    }
    assert listed == {order.pk: True, own.pk: False}
    trades = api.get(f"/api/v1/counter/clients/{client.code}/trades/").json()["results"]
    assert [(t["side"], t["quantity"], t["fee"], t["entered_at_counter"]) for t in trades] == [
        ("buy", 100, "5.00", True)
    ]
    for language, word in (("en", "Counter"), ("zh-hans", "柜台")):
        pages = page_client(world.a.staff, language)
        for url in (f"/counter/{client.code}/", f"/counter/{client.code}/orders/", f"/counter/{client.code}/trades/"):
            body = pages.get(url).content.decode()
            assert word in body, (language, url)
        orders_page = pages.get(f"/counter/{client.code}/orders/").content.decode()
        assert orders_page.count('data-channel="counter"') == 1
    # the cash card's heading names what its button does: 取出 (paying out), not 撤回 (withdrawing a request)
    cash_card = page_client(world.a.staff, "zh-hans").get(f"/counter/{client.code}/").content.decode()
    assert "<h3>取出</h3>" in cash_card and "<h3>撤回</h3>" not in cash_card


def test_a_clients_trades_filter_by_security_and_status_as_trades_does(world):
    # (found by an outside integrator: the counter's client trade list took neither filter trades/ takes)
    # given a client with a settled trade in the market's security, a sealed one in another and a matched one
    m, api = world.market, api_for(world.a.staff)
    client = world.a.client(m, cash="50000")
    other = m.new_security("830002")
    m.issue(world.mm, 1000, security=other)
    m.quote(world.mm, "9.90", "10.10", security=other)

    def buy(security) -> Trade:
        body = order_body(security)
        assert api.post(f"/api/v1/counter/clients/{client.code}/orders/", body, format="json").status_code == 201
        return Trade.objects.order_by("-id").first()

    settled = buy(m.security)
    block_seal()
    assert trade_settle(trade_id=settled.pk)
    sealed = buy(other)
    block_seal()
    matched = buy(m.security)
    path = f"/api/v1/counter/clients/{client.code}/trades/"
    before = snapshot()

    def listed(**params) -> list[tuple[int, str]]:
        resp = api.get(path, params)
        assert resp.status_code == 200, resp.content
        return [(t["id"], t["status"]) for t in resp.json()["results"]]

    # when filtered by security, by status, by both, or by nothing
    # then the trades that match, status as each trade reads (sealed: matched, its entry in a block)
    assert listed(security=m.security.code) == [(matched.pk, "matched"), (settled.pk, "settled")]
    assert [listed(status=s) for s in ("settled", "sealed", "matched", "held")] == [
        [(settled.pk, "settled")],
        [(sealed.pk, "sealed")],
        [(matched.pk, "matched")],
        [],
    ]
    assert listed(security=other.code, status="sealed") == [(sealed.pk, "sealed")]
    assert listed(security="", status="") == [(matched.pk, "matched"), (sealed.pk, "sealed"), (settled.pk, "settled")]
    # and a bad value is the 400 trades/ gives, naming it
    for params, field in (({"security": "999999"}, "security"), ({"status": "bogus"}, "status")):
        counter = api.get(path, params)
        own = api_for(client.owner).get("/api/v1/trades/", params)
        assert (counter.status_code, counter.json()["code"], list(counter.json()["fields"])) == (
            400,
            "invalid_input",
            [field],
        )
        assert counter.json() == own.json()
    # and nothing changed
    assert snapshot() == before


def test_the_counter_names_a_sealed_trades_record_as_the_clients_own_pages_do(world):
    # given a client's trade sealed into a block
    m, api = world.market, api_for(world.a.staff)
    client = world.a.client(m, cash="50000")
    assert (
        api.post(f"/api/v1/counter/clients/{client.code}/orders/", order_body(m.security), format="json").status_code
        == 201
    )
    block_seal()
    trade = Trade.objects.get(buyer=client)
    leaf = Leaf.objects.get(entry_id=trade.entry_id)

    # when staff open the client's trades at the counter, in either language
    # then the trade's ledger reference reads as on the client's own trades list and statement: the record's number
    for language, words, not_words in (
        ("en", f"block {leaf.block.height} · record no. {leaf.leaf_index}", "leaf"),
        ("zh-hans", f"区块 {leaf.block.height} · 第 {leaf.leaf_index} 号记录", "叶子"),
    ):
        body = page_client(world.a.staff, language).get(f"/counter/{client.code}/trades/").content.decode()
        assert words in body and not_words not in body, language


def test_a_retry_with_the_same_client_order_id_places_one_order(world):
    m = world.market
    client = world.a.client(m, cash="50000")
    api = api_for(world.a.staff)
    body = order_body(m.security, client_order_id="retry-1")
    first = api.post(f"/api/v1/counter/clients/{client.code}/orders/", body, format="json")
    second = api.post(f"/api/v1/counter/clients/{client.code}/orders/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Order.objects.filter(account=client).count() == 1


def test_a_refused_counter_order_changes_nothing_and_is_audited(world):
    m = world.market
    client = world.a.client(m, cash="100")
    before = snapshot()
    response = api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/orders/", order_body(m.security), format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "insufficient_cash"
    assert snapshot() == before
    assert AuditEvent.objects.filter(action="counter_order_place", outcome="refused").count() == 1
    float_price = api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/orders/", order_body(m.security, limit_price=10.1), format="json"
    )
    assert float_price.status_code == 400
    assert snapshot() == before


def test_staff_cancel_a_clients_order(world):
    # given a resting DAY buy placed by the client online
    m = world.market
    client = world.a.client(m, cash="5000")
    order, _ = order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(m.security.code, "buy", 100, D("9.50"), "DAY", "rest"),
    )
    assert cash_of(client).reserved > 0

    # when staff cancel it at the counter
    response = api_for(world.a.staff).delete(f"/api/v1/counter/clients/{client.code}/orders/{order.pk}/")

    # then it is cancelled and its reservation released; a second cancel is a 409
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert cash_of(client).reserved == 0
    assert AuditEvent.objects.filter(action="counter_order_cancel", actor=world.a.staff).count() == 1
    again = api_for(world.a.staff).delete(f"/api/v1/counter/clients/{client.code}/orders/{order.pk}/")
    assert again.status_code == 409 and again.json()["code"] == "order_not_open"


def test_orders_on_the_page(world):
    m = world.market
    client = world.a.client(m, cash="50000")
    pages = page_client(world.a.staff)
    assert pages.get(f"/counter/{client.code}/orders/new/").status_code == 200

    placed = pages.post(
        f"/counter/{client.code}/orders/new/",
        {
            "security": m.security.code,
            "side": "buy",
            "quantity": "100",
            "limit_price": "9.50",
            "time_in_force": "DAY",
            "client_order_id": "page-1",
        },
    )
    assert placed.status_code == 302
    order = Order.objects.get(account=client)
    assert (order.placed_by, order.status) == (world.a.staff, "open")

    cancelled = pages.post(f"/counter/{client.code}/orders/{order.pk}/cancel/")
    assert cancelled.status_code == 302
    order.refresh_from_db()
    assert order.status == "cancelled"

    before = snapshot()
    refused = pages.post(
        f"/counter/{client.code}/orders/new/",
        {
            "security": m.security.code,
            "side": "buy",
            "quantity": "150",  # not a whole number of lots
            "limit_price": "9.50",
            "time_in_force": "DAY",
            "client_order_id": "page-2",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 200
    assert refused.context["form"].non_field_errors()
    assert snapshot() == before


# A client's refusal as the counter words it (the client named) and as the client is told it, in English and
# Chinese: code → (what makes the client fail it, {language: (to staff, to the client)}).
CLIENT_REFUSALS = {
    "kyc_not_approved": (
        lambda m, client: KycProfile.objects.filter(user=client.owner).update(state=KycProfile.State.SUBMITTED),
        {
            "en": (
                "The client's ({code}) account opening (KYC) is not approved yet, so the client cannot trade.",
                "Your account opening (KYC) is not approved yet, so you cannot trade.",
            ),
            "zh-hans": (
                "客户（{code}）的开户申请（KYC）尚未批准，该客户暂不能交易。",
                "您的开户申请（KYC）尚未批准，暂不能交易。",
            ),
        },
    ),
    "kyc_expired": (
        lambda m, client: KycProfile.objects.filter(user=client.owner).update(
            expires_at=timezone.now() - dt.timedelta(days=1)
        ),
        {
            "en": (
                "The client's ({code}) risk assessment has expired. The client must take the questionnaire again "
                "before trading.",
                "Your risk assessment has expired. Please take the questionnaire again before trading.",
            ),
            "zh-hans": (
                "客户（{code}）的风险测评已过期，该客户须重新填写问卷后才能交易。",
                "您的风险测评已过期，请重新填写问卷后再交易。",
            ),
        },
    ),
    "unsuitable_risk_level": (
        lambda m, client: (
            KycProfile.objects.filter(user=client.owner).update(risk_level=3),
            Security.objects.filter(pk=m.security.pk).update(risk_rating=4),
        ),
        {
            "en": (
                "The client's ({code}) investor level is C3; {security} is rated R4, so the client may not buy it.",
                "Your investor level is C3; {security} is rated R4, so you may not buy it.",
            ),
            "zh-hans": (
                "客户（{code}）的投资者等级为 C3，{security} 的风险等级为 R4，该客户不能买入。",
                "您的投资者等级为 C3，{security} 的风险等级为 R4，您不能买入。",
            ),
        },
    ),
    "not_qualified_investor": (
        lambda m, client: Security.objects.filter(pk=m.security.pk).update(qualified_only=True),
        {
            "en": (
                "Only qualified investors may buy this security; the client ({code}) is not one.",
                "Only qualified investors may buy this security.",
            ),
            "zh-hans": (
                "只有合格投资者才能买入该证券；客户（{code}）不是合格投资者。",
                "只有合格投资者才能买入该证券。",
            ),
        },
    ),
}


@pytest.mark.parametrize("code", list(CLIENT_REFUSALS))
def test_a_counter_orders_refusal_names_the_client_and_the_clients_own_speaks_to_them(world, code):
    # (found by a tester: staff placing a client's order were told "your investor level is C3", as if they were
    # the investor)
    # given a funded client of broker A who fails one rule
    m = world.market
    client = world.a.client(m, cash="50000")
    fail, words = CLIENT_REFUSALS[code]
    fail(m, client)
    before = snapshot()
    names = {"code": client.code, "security": m.security.code}

    for language, (to_staff, to_client) in words.items():
        # when staff enter a buy for the client on the counter's page, and through the counter's API
        page = page_client(world.a.staff, language).post(
            f"/counter/{client.code}/orders/new/",
            {**order_body(m.security), "quantity": "100"},
        )
        api = api_for(world.a.staff).post(
            f"/api/v1/counter/clients/{client.code}/orders/",
            order_body(m.security),
            format="json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        # and the client places the same buy online
        own = api_for(client.owner).post(
            "/api/v1/orders/", order_body(m.security), format="json", HTTP_ACCEPT_LANGUAGE=language
        )

        # then staff are told of the client, by its code, under the same error code
        assert page.status_code == 200
        assert page.context["form"].non_field_errors() == [to_staff.format(**names)], language
        assert (api.status_code, api.json()["code"], api.json()["message"]) == (403, code, to_staff.format(**names))
        # and the client, as before, of themselves
        assert (own.status_code, own.json()["code"], own.json()["message"]) == (403, code, to_client.format(**names))
    # and nothing was placed
    assert snapshot() == before
    assert not Order.objects.filter(account=client).exists()


def test_a_counter_sale_in_the_holding_period_names_the_clients_shares(world):
    # given a client with 500 shares free, and 100 bought (counted as settled) today under a five-day holding period
    m = world.market
    client = world.a.client(m, cash="50000", shares=500)
    Security.objects.filter(pk=m.security.pk).update(min_holding_days=5)
    order_place(
        placed_by=client.owner,
        account=client,
        request=OrderRequest(m.security.code, "buy", 100, D("10.10"), "IOC", "bought"),
    )
    Trade.objects.filter(buyer=client).update(status=Trade.Status.SETTLED)
    before = snapshot()

    # when staff sell all 500 for the client at the counter, and the client tries the same online
    sell = order_body(m.security, side="sell", quantity=500, limit_price="9.90")
    staff = api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/orders/", sell, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    own = api_for(client.owner).post("/api/v1/orders/", sell, format="json", HTTP_ACCEPT_LANGUAGE="en")

    # then both are the holding period's refusal: to staff of the client's shares, to the client of theirs
    assert (staff.json()["code"], own.json()["code"]) == ("holding_period", "holding_period")
    assert staff.json()["message"].startswith(
        f"100 of the client's ({client.code}) shares were bought within the last 5 trading days"
    )
    assert own.json()["message"].startswith("100 of your shares were bought within the last 5 trading days")
    assert snapshot() == before


def test_the_clients_orders_say_why_the_exchange_cancelled_one(world):
    # (found by a review: the counter's order list said "Cancelled" with no reason, where the client's own page
    # and the API said why)
    from registry.listing import security_delist

    m = world.market
    client = world.a.client(m, cash="50000")
    api_for(world.a.staff).post(
        f"/api/v1/counter/clients/{client.code}/orders/",
        order_body(m.security, limit_price="9.50", time_in_force="DAY", client_order_id="resting"),
        format="json",
    )
    # given the security delisted by the operator, which cancels the resting order
    security_delist(actor=m.user(Role.EXCHANGE_OPERATOR), code=m.security.code, reason="Issuer wound up")
    assert Order.objects.get(account=client).closed_by == "security_delisted"
    # when the broker's staff open the client's orders, then the cancel says why, in their language
    page = page_client(world.a.staff).get(f"/counter/{client.code}/orders/").content.decode()
    # and the operator's reason, in the operator's words, is labelled as theirs
    assert "Cancelled: the security was delisted. Reason given by the exchange: Issuer wound up" in page
    page = page_client(world.a.staff, "zh-hans").get(f"/counter/{client.code}/orders/").content.decode()
    assert "已撤销：该证券已摘牌。交易所给出的原因：Issuer wound up" in page


# --------------------------------------------------------------------------
# Statements


@pytest.fixture
def history(world):
    """A client of A with a month of activity, each step at a known Beijing time.

    03-01 deposit 10,000.00 and 500 shares issued; 03-05 withdraw 1,000.00;
    03-10 counter buy 100 @ 10.10 (fee 5.00), sealed and settled; 03-15 23:59:59
    deposit 200.00; 03-16 00:00:00 deposit 300.00.
    """
    m = world.market
    with at(beijing(2026, 3, 1, 9, 0)):
        client = world.a.client(m, cash="10000", shares=500)
    with at(beijing(2026, 3, 5, 10, 0)):
        api_for(world.a.staff).post(
            f"/api/v1/counter/clients/{client.code}/withdraw/", {"amount": "1000.00"}, format="json"
        )
    with at(beijing(2026, 3, 10, 10, 0)):
        response = api_for(world.a.staff).post(
            f"/api/v1/counter/clients/{client.code}/orders/", order_body(m.security), format="json"
        )
        assert response.status_code == 201, response.json()
        block_seal()
        trade = Trade.objects.get(buyer=client)
    with at(beijing(2026, 3, 10, 10, 0, 2)):
        assert trade_settle(trade_id=trade.pk)
    with at(beijing(2026, 3, 15, 23, 59, 59)):
        api_for(world.a.staff).post(f"/api/v1/counter/clients/{client.code}/deposit/", {"amount": "200"}, format="json")
    with at(beijing(2026, 3, 16, 0, 0, 0)):
        api_for(world.a.staff).post(f"/api/v1/counter/clients/{client.code}/deposit/", {"amount": "300"}, format="json")
    return client, trade


def statement(world, client, start, end, fmt="json", language="en"):
    return api_for(world.a.staff).get(
        f"/api/v1/counter/clients/{client.code}/statement/",
        {"from": start, "to": end, "format": fmt},
        HTTP_ACCEPT_LANGUAGE=language,
    )


def test_statement_json_has_the_right_balances_movements_trades_and_holdings(world, history):
    client, trade = history

    data = statement(world, client, "2026-03-05", "2026-03-15").json()

    assert (data["opening_cash"], data["closing_cash"]) == ("10000.00", "8185.00")
    assert [(m["kind"], m["amount"], m["fee"], m["balance"]) for m in data["movements"]] == [
        ("withdrawal", "-1000.00", "0.00", "9000.00"),
        ("buy", "-1015.00", "5.00", "7985.00"),
        ("deposit", "200.00", "0.00", "8185.00"),
    ]
    assert data["movements"][1]["trade_ids"] == [trade.pk] and data["movements"][1]["quantity"] == 100
    assert [(t["id"], t["side"], t["fee"], t["entered_at_counter"]) for t in data["trades"]] == [
        (trade.pk, "buy", "5.00", True)
    ]
    assert data["holdings"] == [{"security": world.market.security.code, "name": "Test Co", "quantity": 600}]
    assert data["totals"] == {
        "deposits": "200.00",
        "withdrawals": "1000.00",
        "settlements_paid": "1015.00",
        "settlements_received": "0.00",
        "adjustments": "0.00",
        "fees": "5.00",
    }


def test_statement_edges_of_the_period(world, history):
    client, _ = history
    # the day after: the midnight deposit only, ending at today's balance
    after = statement(world, client, "2026-03-16", "2026-03-16").json()
    assert (after["opening_cash"], after["closing_cash"]) == ("8185.00", "8485.00")
    assert D(after["closing_cash"]) == cash_of(client).total
    # before anything happened: nothing at all
    before = statement(world, client, "2026-02-01", "2026-02-28").json()
    assert (before["opening_cash"], before["closing_cash"], before["movements"], before["holdings"]) == (
        "0.00",
        "0.00",
        [],
        [],
    )
    # the first day: the opening deposit and the issued shares
    first = statement(world, client, "2026-03-01", "2026-03-01").json()
    assert [m["amount"] for m in first["movements"]] == ["10000.00"]
    assert first["holdings"][0]["quantity"] == 500


def test_statement_csv(world, history):
    client, trade = history

    response = statement(world, client, "2026-03-05", "2026-03-15", "csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"statement-{client.code}-20260305-20260315.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_label = {row[0]: row[1:] for row in rows if row and len(row) == 2}
    assert by_label["Account"] == [client.code]
    assert by_label["Opening cash"] == ["10000.00"] and by_label["Closing cash"] == ["8185.00"]
    movements_at = rows.index(["Cash movements"])
    header = rows[movements_at + 1]
    assert header[:6] == ["Time", "Type", "Details", "Amount", "Fee", "Balance"]
    body = rows[movements_at + 2 : rows.index([], movements_at)]
    assert [(r[1], r[3], r[4], r[5]) for r in body] == [
        ("Opening cash", "", "", "10000.00"),
        ("Withdrawal", "-1000.00", "0.00", "9000.00"),
        ("Purchase settled", "-1015.00", "5.00", "7985.00"),
        ("Deposit", "200.00", "0.00", "8185.00"),
        ("Closing cash", "", "", "8185.00"),
    ]
    assert body[1][0] == "2026-03-05 10:00:00" and body[3][0] == "2026-03-15 23:59:59"
    trades_at = rows.index(["Trades"])
    assert rows[trades_at + 2][1:4] == [str(trade.pk), world.market.security.code, "Buy"]
    assert rows[trades_at + 2][-1] == "Counter"
    holdings_at = rows.index(["Holdings at end of 2026-03-15 (Beijing time)"])
    assert rows[holdings_at + 2] == [world.market.security.code, "Test Co", "600"]

    # in Chinese the same figures, Chinese labels
    zh = statement(world, client, "2026-03-05", "2026-03-15", "csv", language="zh-hans").content.decode("utf-8-sig")
    assert "8185.00" in zh and "柜台" in zh


def test_statement_pdf(world, history):
    client, _ = history
    for language in ("en", "zh-hans"):
        response = statement(world, client, "2026-03-05", "2026-03-15", "pdf", language=language)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert b"/Type /Page" in response.content
        assert b"NotoSansSC" in response.content


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-03-15", "to": "2026-03-01"},
        {"from": "2026-03-01"},
        {"from": "yesterday", "to": "2026-03-01"},
        {"from": "2026-03-01", "to": "2026-03-02", "format": "xml"},
    ],
)
def test_bad_statement_requests_are_400(world, query):
    client = world.a.client(world.market)
    response = api_for(world.a.staff).get(f"/api/v1/counter/clients/{client.code}/statement/", query)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_statement_page_and_downloads(world, history):
    client, _ = history
    pages = page_client(world.a.staff)
    shown = pages.get(f"/counter/{client.code}/statement/", {"start": "2026-03-05", "end": "2026-03-15"})
    assert shown.status_code == 200
    body = shown.content.decode()
    assert "10,000.00" in body and "8,185.00" in body and "-1,015.00" in body
    pdf = pages.get(f"/counter/{client.code}/statement/", {"start": "2026-03-05", "end": "2026-03-15", "format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    csv_download = pages.get(
        f"/counter/{client.code}/statement/", {"start": "2026-03-05", "end": "2026-03-15", "format": "csv"}
    )
    assert "8185.00" in csv_download.content.decode("utf-8-sig")
    bad = pages.get(f"/counter/{client.code}/statement/", {"start": "2026-03-15", "end": "2026-03-05"})
    assert bad.status_code == 200 and bad.context["form"].errors and bad.context["statement"] is None


def test_pages_are_in_chinese_and_english(world):
    client = world.a.client(world.market, cash="100")
    zh = page_client(world.a.staff, "zh-hans").get(f"/counter/{client.code}/").content.decode()
    en = page_client(world.a.staff, "en").get(f"/counter/{client.code}/").content.decode()
    assert "存入" in zh and "客户" in zh
    assert "Deposit" in en and "Clients" in en
    assert position_of(client, world.market.security) is None


# --------------------------------------------------------------------------
# Bad input is a 4xx with a code, or a form error: never a 500


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", 10**30), ("quantity", 10**12 + 100), ("limit_price", "1e400"), ("limit_price", "1e12")],
)
def test_out_of_range_orders_are_400_and_change_nothing(world, field, value):
    # given a funded client
    client = world.a.client(world.market, cash="50000")
    before = snapshot()

    # when staff send a quantity or a price beyond what any order can have
    body = order_body(world.market.security, **{field: value})
    response = api_for(world.a.staff).post(f"/api/v1/counter/clients/{client.code}/orders/", body, format="json")

    # then it is refused as bad input and nothing changed
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_input"
    assert snapshot() == before


def test_out_of_range_input_on_the_pages_is_a_form_error(world):
    client = world.a.client(world.market, cash="500")
    pages = page_client(world.a.staff)
    before = snapshot()

    huge_deposit = pages.post(f"/counter/{client.code}/deposit/", {"deposit-amount": "1e400"})
    huge_order = pages.post(
        f"/counter/{client.code}/orders/new/",
        {
            "security": world.market.security.code,
            "side": "buy",
            "quantity": str(10**30),
            "limit_price": "9.50",
            "time_in_force": "DAY",
            "client_order_id": "huge",
        },
    )
    far_statement = pages.get(f"/counter/{client.code}/statement/", {"start": "2026-01-01", "end": "9999-12-31"})

    assert huge_deposit.status_code == 400 and huge_deposit.context["deposit_form"].errors["amount"]
    assert huge_order.status_code == 200 and huge_order.context["form"].errors
    assert far_statement.status_code == 200 and far_statement.context["statement"] is None
    assert far_statement.context["form"].non_field_errors() == ["Statements cover dates from 1990-01-01 to 2999-12-31."]
    assert snapshot() == before


def test_nul_characters_and_far_dates_are_4xx_or_empty(world):
    client = world.a.client(world.market)
    api, pages = api_for(world.a.staff), page_client(world.a.staff)

    # a NUL anywhere in the URL is refused before any view (core.middleware.reject_nul_bytes)
    refused = api.get("/api/v1/counter/clients/", {"q": "\x00"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_input"
    assert api.get("/api/v1/counter/clients/%00/").status_code == 400
    assert pages.get("/counter/?q=%00").status_code == 400
    assert pages.get("/counter/%00/").status_code == 400
    url = f"/api/v1/counter/clients/{client.code}/statement/"
    far = {"from": "2026-01-01", "to": "9999-12-31"}
    for language, message in [
        ("en", "Statements cover dates from 1990-01-01 to 2999-12-31."),
        ("zh-hans", "对账单只能查询 1990-01-01 至 2999-12-31 之间的日期。"),
    ]:
        response = api.get(url, far, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 400
        assert response.json() == {"code": "invalid_input", "message": message}


BAD_BODIES = [[], "text", 1, None, [{"amount": "1.00"}]]
BAD_VALUES = [None, 1.5, True, [], {"x": 1}, "", "\x00", "x" * 5000, "1e400", 10**30, -1]


OPEN_BODY = {
    "username": "fuzz",
    "real_name": "赵六",
    "id_type": "resident_id",
    "id_number": id_number(950),
    "phone": "13700137000",
    "address": "广州市天河区体育西路 1 号",
}
ORDER_BODY = {"side": "buy", "quantity": 100, "limit_price": "9.50", "time_in_force": "DAY", "client_order_id": "f"}


@pytest.mark.parametrize(
    ("suffix", "good"),
    [
        ("", OPEN_BODY),
        ("{c}/deposit/", {"amount": "1.00", "reference": "x"}),
        ("{c}/withdraw/", {"amount": "1.00", "reference": "x"}),
        ("{c}/orders/", ORDER_BODY),
    ],
)
def test_fuzzed_bodies_are_4xx_json_never_500(world, suffix, good):
    # given a funded client of A and a valid body for the route
    client = world.a.client(world.market, cash="1000")
    if suffix.endswith("orders/"):
        good = {**good, "security": world.market.security.code}
    url = f"/api/v1/counter/clients/{suffix.format(c=client.code)}"
    api = api_for(world.a.staff)
    bodies = BAD_BODIES + [{**good, field: value} for field in good for value in BAD_VALUES]

    # when each badly shaped or badly typed body is posted
    for body in bodies:
        response = api.post(url, json.dumps(body), content_type="application/json")

        # then the answer is a success or a 4xx with a code and a message, never a 500
        assert response.status_code < 500, body
        if response.status_code >= 400:
            assert set(response.json()) >= {"code", "message"}, body


@pytest.mark.parametrize("amount", ["1e5", "1E2", "١٠٠", "100.00.00", "Infinity", "0x10", "1_000"])
def test_a_deposit_in_anything_but_plain_digits_is_a_form_error_and_moves_nothing(world, amount):
    # given a client with no cash, and a staff member on the client's page
    client = world.a.client(world.market)
    pages = page_client(world.a.staff, "en")
    before = snapshot()
    # when the staff member deposits an amount written as an exponent, in other digits or not a number at all
    page = pages.post(f"/counter/{client.code}/deposit/", {"deposit-amount": amount})
    # then it is a form error saying how to write an amount, and no cash moved ("1e5" used to deposit 100,000.00)
    assert page.status_code == 400
    assert page.context["deposit_form"].errors["amount"] == [
        "Enter a number such as 10.50: digits, with at most one decimal point."
    ]
    assert snapshot() == before
    # while a plain amount, with or without its cents, is read
    assert pages.post(f"/counter/{client.code}/deposit/", {"deposit-amount": " 100 "}).status_code == 302


def test_a_clients_pages_say_up_front_that_the_client_cannot_trade_yet_and_lead_to_the_application(world):
    # (found by a walk: a client opened at the counter a minute before got the whole ticket, and only the order's
    # refusal said the account opening was not approved, with no link to it)
    m = world.market
    draft, expired, ready, rejected = (world.a.client(m, cash="500") for _ in range(4))
    KycProfile.objects.filter(user=draft.owner).update(state=KycProfile.State.DRAFT)
    KycProfile.objects.filter(user=rejected.owner).update(
        state=KycProfile.State.REJECTED, rejection_reason="ID document unreadable"
    )
    KycProfile.objects.filter(user=expired.owner).update(expires_at=timezone.now() - dt.timedelta(days=1))
    application = KycProfile.objects.get(user=draft.owner)
    pages = page_client(world.a.staff)
    before = snapshot()

    # when the staff member opens each client's ticket and overview
    shown = {
        a.code: [pages.get(f"/counter/{a.code}/{path}").content.decode() for path in ("orders/new/", "")]
        for a in (draft, expired, ready, rejected)
    }

    # then a client not approved is named so on both, with the way to its application
    for page in shown[draft.code]:
        assert 'id="client-kyc-notice" data-reason="not_approved"' in page
        assert "is not approved yet: the client cannot trade" in page
        assert f'href="/kyc/applications/{application.pk}/"' in page.split('id="client-kyc-notice"', 1)[1]
    # and one whose risk assessment ran out is told to take the questionnaire again
    for page in shown[expired.code]:
        assert 'id="client-kyc-notice" data-reason="expired"' in page
        assert "take the questionnaire again" in page
    # and one whose application was rejected is not told a second staff member will approve it
    for page in shown[rejected.code]:
        assert 'id="client-kyc-notice" data-reason="rejected"' in page
        assert "was rejected: the client cannot trade" in page and "approves it" not in page
    # and an approved client shows no notice
    assert all('id="client-kyc-notice"' not in page for page in shown[ready.code])
    assert snapshot() == before
