"""The audit trail's Action filter matches a part of an action's code or of its words in the reader's language,
case-insensitive, on the page, in the CSV export and in the API (found by outside testers: "freeze" and "reveal"
found nothing; only the whole code "freeze_approve" did)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from core.audit import audit_record
from core.models import Role
from tests.conftest import api_for, log_in

ACTIONS = ("freeze_propose", "freeze_approve", "identity_reveal", "kyc_normalize", "login", "cash_deposit")


@pytest.fixture
def trail(market):
    """An auditor, and one record of each of ``ACTIONS`` by a regulator."""
    regulator = market.user(Role.REGULATOR)
    for action in ACTIONS:
        audit_record(actor=regulator, action=action, target="INV000001")
    return market.user(Role.AUDITOR)


def _api(auditor, action: str, language: str = "en") -> set[str]:
    response = api_for(auditor).get("/api/v1/audit/", {"action": action}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return {r["action"] for r in response.json()["results"]}


@pytest.mark.parametrize(
    ("typed", "language", "found"),
    [
        ("freeze", "en", {"freeze_propose", "freeze_approve"}),  # a part of the code
        ("FREEZE", "en", {"freeze_propose", "freeze_approve"}),  # in any case
        ("reveal", "en", {"identity_reveal"}),
        ("freeze_approve", "en", {"freeze_approve"}),  # the whole code, as before
        ("approved", "en", {"freeze_approve"}),  # a part of its words, "Freeze approved"
        ("Revealed To A", "en", {"identity_reveal"}),  # "Identity revealed to a regulator"
        ("冻结", "zh-hans", {"freeze_propose", "freeze_approve"}),  # its words in Chinese: 冻结申请, 冻结批准
        ("查看实名", "zh-hans", {"identity_reveal"}),  # 监管人员查看实名身份
        ("身份", "zh-hans", {"identity_reveal", "kyc_normalize"}),  # …实名身份, 身份信息规范化
        ("冻结", "en", set()),  # the words of the language asked for, not of another
        ("thaw", "en", set()),
        ("%", "en", set()),  # a wildcard of SQL is a character like any other
        ("_", "en", {"freeze_propose", "freeze_approve", "identity_reveal", "kyc_normalize", "cash_deposit"}),
    ],
)
def test_the_action_filter_finds_a_part_of_the_code_or_of_the_words(trail, typed, language, found):
    # given records of several actions; when the auditor filters by what was typed, then those actions are listed
    assert _api(trail, typed, language) == found


def test_the_page_and_the_csv_export_filter_the_same_way(trail):
    # given the auditor signed in on the page, in Chinese
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    log_in(client, trail)

    # when the page is filtered by a part of a code, and by a part of the words
    by_code = client.get("/audit/", {"action": "freeze"}).content.decode()
    by_words = client.get("/audit/", {"action": "冻结"}).content.decode()

    # then both list the two freeze records, and only them
    for page in (by_code, by_words):
        listed = {a for a in ACTIONS if f'data-action="{a}"' in page}
        assert listed == {"freeze_propose", "freeze_approve"}
        assert 'id="audit-filter-error"' not in page

    # and the CSV export of the same filter has the same records
    exported = client.get("/audit/", {"action": "reveal", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert exported.status_code == 200 and [r["action"] for r in rows] == ["identity_reveal"]
    api_csv = api_for(trail).get("/api/v1/audit/", {"action": "FREEZE", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(api_csv.content.decode())))
    assert sorted(r["action"] for r in rows) == ["freeze_approve", "freeze_propose"]


@pytest.mark.parametrize("typed", ["x" * 201, "冻结" * 101], ids=["ascii", "chinese"])
def test_a_bad_action_filter_is_a_400_and_a_form_error(trail, typed):
    # given records; when the action filter is longer than 200 characters
    response = api_for(trail).get("/api/v1/audit/", {"action": typed})
    exported = api_for(trail).get("/api/v1/audit/", {"action": typed, "format": "csv"})
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, trail)
    page = client.get("/audit/", {"action": typed})

    # then the API says why in JSON (also for the CSV), the page shows it as a form error, and nothing is listed
    assert response.status_code == 400 and response.json()["code"] == "invalid_input"
    assert exported.status_code == 400 and exported["Content-Type"].startswith("application/json")
    assert page.status_code == 400 and 'id="audit-filter-error"' in page.content.decode()
    assert "Action is too long or not text." in page.content.decode()  # as the page labels the field
    assert "“action”" in response.json()["message"]  # as the API names its parameter (in Chinese by default)
    assert not any(f'data-action="{a}"' in page.content.decode() for a in ACTIONS)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"user": "u" * 201}, "User is too long or not text."),
        ({"target": "x" * 201}, "Object is too long or not text."),
        ({"role": "nobody"}, "Role must be one of: "),
        ({"outcome": "maybe"}, "Outcome must be one of: "),
    ],
    ids=["user", "target", "role", "outcome"],
)
def test_a_filter_mistyped_in_the_address_is_named_as_the_page_labels_it(trail, query, said):
    # (found by a walk: the page said "user is too long", the address's parameter, where its field reads "User")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    log_in(client, trail)

    # when the trail's address carries a filter no field of the page would send
    page = client.get("/audit/", query)

    # then the page says why, naming the filter as its field is labelled, and lists nothing
    assert page.status_code == 400 and 'id="audit-filter-error"' in page.content.decode()
    assert said in page.content.decode()
    assert not any(f'data-action="{a}"' in page.content.decode() for a in ACTIONS)


def test_the_object_filter_finds_an_account_code_typed_in_small_letters_and_nothing_else_loosely(market):
    # given records about an account, about a user and about a trade
    regulator, auditor = market.user(Role.REGULATOR), market.user(Role.AUDITOR)
    for target in ("INV000004", "investor1", "trade 12"):
        audit_record(actor=regulator, action="freeze_propose", target=target)

    def found(typed: str) -> list[str]:
        response = api_for(auditor).get("/api/v1/audit/", {"target": typed})
        assert response.status_code == 200, response.content
        return [r["target"] for r in response.json()["results"]]

    # when the auditor filters by the account code in small letters, or as it is, then its record is found
    assert found("inv000004") == found("INV000004") == ["INV000004"]
    # and the other filters stay exact: no part of a code, no other spelling of a user or a trade
    assert found("inv00000") == [] and found("trade 12") == ["trade 12"] and found("investor1") == ["investor1"]
    assert found("INVESTOR1") == [] and found("Trade 12") == []


def test_the_object_filter_on_an_account_also_finds_the_reveal_of_its_holders_identity(market, client):
    # (found by a walk: the account page's "Audit trail" link, ?target=<code>, showed no identity reveal, whose
    # record names the holder's user as its target and the account in its detail; the evidence bundle had it)
    from kyc.models import KycProfile
    from kyc.services import identity_reveal

    regulator, auditor = market.user(Role.REGULATOR), market.user(Role.AUDITOR)
    investor, other = market.investor(), market.investor()
    # given the regulator revealed the identity behind the account, and another account's
    identity_reveal(regulator=regulator, profile_id=KycProfile.objects.get(user=investor.owner).pk, reason="Court 1")
    identity_reveal(regulator=regulator, profile_id=KycProfile.objects.get(user=other.owner).pk, reason="Court 2")

    # when the auditor filters the trail by the account's code, in the API and on the page
    response = api_for(auditor).get("/api/v1/audit/", {"target": investor.code.lower()})
    log_in(client, auditor)
    page = client.get("/audit/", {"target": investor.code}).content.decode()

    # then the account's reveal is listed, with its reason, and the other account's is not
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [(r["action"], r["target"], r["detail"]["account"]) for r in rows] == [
        ("identity_reveal", investor.owner.username, investor.code)
    ]
    assert rows[0]["detail"]["reason"] == "Court 1"
    assert page.count('data-action="identity_reveal"') == 1
    # and a filter by something else stays exact: the holder's user name finds the reveal as before, nothing more
    by_user = api_for(auditor).get("/api/v1/audit/", {"target": other.owner.username}).json()["results"]
    assert {r["target"] for r in by_user} == {other.owner.username}
    assert [r["detail"]["account"] for r in by_user if r["action"] == "identity_reveal"] == [other.code]
