"""The pages of a trading restriction: the console's form proposes one, a second regulator approves it, and the
holder (balances, freezes page, reference masked) and the broker (counter notice, clients list) see it once in
force."""

from __future__ import annotations

from django.conf import settings
from django.test import Client

from core.models import Account, Role
from supervision.models import Freeze
from tests.conftest import cash_of, log_in, position_of


def _page(user, language="en"):

    client = Client()
    log_in(client, user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def test_the_console_proposes_a_restriction_and_the_holder_and_broker_see_it_once_in_force(market):
    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="1000", shares=500)
    other = market.investor(cash="1000")
    first = _page(reg1)
    # given the console's form, which offers a trading restriction
    assert 'value="trading"' in first.get("/supervision/").content.decode()

    # when a regulator proposes one there
    response = first.post(
        "/supervision/",
        {
            "form": "freeze",
            "freeze-account": investor.code,
            "freeze-kind": "trading",
            "freeze-legal_reference": "(2026)沪74执9号",
            "freeze-reason": "Suspected manipulation",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    freeze = Freeze.objects.get()
    assert (freeze.kind, freeze.status) == ("trading", "proposed")
    # then while it is proposed neither the holder nor the broker is told
    assert 'id="freezes-notice"' not in _page(investor.owner).get("/balances/").content.decode()
    assert 'id="client-freezes-notice"' not in _page(market.staff).get(f"/counter/{investor.code}/").content.decode()

    # when a second regulator approves it on the page
    assert _page(reg2).post(f"/supervision/freeze/{freeze.pk}/approve/").status_code == 302
    assert Account.objects.get(pk=investor.pk).trading_restricted

    # then the holder's balances say so and lead to the freezes page, where the reference is masked
    balances = _page(investor.owner).get("/balances/").content.decode()
    assert 'id="freezes-notice" data-scope="trading"' in balances and "withdrawals and settlement go on" in balances
    holder = _page(investor.owner).get("/supervision/freezes/").content.decode()
    assert "Suspected manipulation" in holder and "(2026)沪74执9号" not in holder and "Nothing: trading only" in holder
    # and the broker's counter says so, its list marks the client, and other clients are as they were
    staff = _page(market.staff)
    client_page = staff.get(f"/counter/{investor.code}/").content.decode()
    assert 'id="client-freezes-notice" data-scope="trading"' in client_page
    listed = staff.get("/counter/").content.decode()
    assert "Trading restricted" in listed.split(f'data-account="{investor.code}"', 1)[1].split("</tr>", 1)[0]
    assert 'id="client-freezes-notice"' not in staff.get(f"/counter/{other.code}/").content.decode()
    # and its cash and shares are not frozen
    assert cash_of(investor).frozen == 0 and position_of(investor, market.security).frozen == 0


def test_a_restricted_market_makers_quotes_page_says_so_and_offers_no_quote_form(market):
    from supervision import services as sv

    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    page = _page(mm.owner)
    free = page.get("/quotes/").content.decode()
    assert 'id="freezes-notice"' not in free and 'id="quote-form-frozen"' not in free
    # given a trading restriction of the market maker, approved
    freeze = sv.freeze_propose(actor=reg1, account=mm.code, trading=True, reason="Manipulation", legal_reference="x")
    sv.freeze_approve(actor=reg2, freeze_id=freeze.pk)
    # then its quotes page says so, and offers no form that can only be refused
    restricted = page.get("/quotes/").content.decode()
    assert 'id="freezes-notice" data-scope="trading"' in restricted
    assert 'id="quote-form-frozen"' in restricted and "trading is restricted" in restricted
    assert cash_of(mm).frozen == 0


PART_TOO = "Part of this account is also frozen by a legal order."
RESTRICTED = "A regulator has restricted this account"


def test_a_restricted_client_with_part_frozen_too_is_told_both_on_the_balances_and_the_counter(market):
    # (found by a review: the notices said the restriction only, "its cash and shares stay its own", of an account
    # part of whose cash a legal order froze)
    from supervision import services as sv

    reg1, reg2 = market.user(Role.REGULATOR), market.user(Role.REGULATOR)
    investor = market.investor(cash="1000", shares=500)
    other = market.investor(cash="1000", shares=500)
    for account in (investor, other):
        restriction = sv.freeze_propose(
            actor=reg1, account=account.code, trading=True, reason="Manipulation", legal_reference="x"
        )
        sv.freeze_approve(actor=reg2, freeze_id=restriction.pk)
    # given one restricted client of which 300.00 CNY is frozen too, and another restricted only
    part = sv.freeze_propose(actor=reg1, account=investor.code, amount="300.00", reason="Court", legal_reference="y")
    sv.freeze_approve(actor=reg2, freeze_id=part.pk)
    assert cash_of(investor).frozen == 300
    # when the holder opens its balances and the broker's staff its counter page
    balances = _page(investor.owner).get("/balances/").content.decode()
    client_page = _page(market.staff).get(f"/counter/{investor.code}/").content.decode()
    # then each says the restriction and that part is frozen too, and leads to the freezes
    notice = balances.split('id="freezes-notice" data-scope="trading"', 1)[1].split("</p>", 1)[0]
    assert RESTRICTED in notice and f'<span id="freezes-notice-part">{PART_TOO}</span>' in notice
    assert "/supervision/freezes/" in notice
    notice = client_page.split('id="client-freezes-notice" data-scope="trading"', 1)[1].split("</p>", 1)[0]
    assert RESTRICTED in notice and f'<span id="client-freezes-notice-part">{PART_TOO}</span>' in notice
    # and the client restricted only is told the restriction alone, as before
    alone = _page(other.owner).get("/balances/").content.decode()
    assert 'id="freezes-notice" data-scope="trading"' in alone and "freezes-notice-part" not in alone
    alone = _page(market.staff).get(f"/counter/{other.code}/").content.decode()
    assert 'id="client-freezes-notice" data-scope="trading"' in alone and "client-freezes-notice-part" not in alone
