"""Two acceptances of one request at once trade once (real PostgreSQL, one connection per thread)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.models import RfqAnswer, Trade
from exchange.services import rfq as svc
from exchange.services.rfq import RfqRequestInput
from tests.conftest import build_market, cash_of
from tests.test_concurrency import assert_no_negative_available, run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_acceptances_of_one_request_trade_once():
    market = build_market()
    mm1, mm2 = market.market_maker(), market.market_maker()
    inv = market.investor(cash="50000")
    rfq, _ = svc.rfq_request(
        requested_by=inv.owner, account=inv, request=RfqRequestInput(market.security.code, "buy", 100, "race")
    )
    a1 = svc.rfq_answer(user=mm1.owner, rfq_id=rfq.pk, price=Decimal("10.00"), valid_seconds=60)
    a2 = svc.rfq_answer(user=mm2.owner, rfq_id=rfq.pk, price=Decimal("10.10"), valid_seconds=60)

    results = run_concurrently(
        [lambda a=a: svc.rfq_accept(actor=inv.owner, rfq_id=rfq.pk, answer_id=a.pk) for a in (a1, a2, a1, a2)]
    )

    trades = list(Trade.objects.all())
    assert len(trades) == 1
    accepted = RfqAnswer.objects.get(status="accepted")
    assert accepted.trade_id == trades[0].pk
    assert RfqAnswer.objects.filter(status="released").count() == 1
    ok = [r for r in results if isinstance(r, svc.RfqAcceptance)]
    assert ok and all(r.trade.pk == trades[0].pk for r in ok)
    assert cash_of(inv).reserved == trades[0].value + trades[0].buyer_fee
    assert_no_negative_available()
