"""The order's answer from one output serializer per process (core.api.serializers.represent)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from core.api.serializers import represent
from exchange.api.views import OrderListApi, OrderOutput
from exchange.models import Order
from exchange.services import OrderRequest, order_place

BODY = {"security": "S1", "side": "buy", "quantity": 100, "limit_price": "10.10", "client_order_id": "x" * 65}


@pytest.mark.django_db
def test_represent_answers_what_the_serializer_does(market):
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    investor = market.investor(cash="100000")
    placed, _ = order_place(
        placed_by=investor.owner,
        account=investor,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "r-1"),
    )
    order = Order.objects.select_related("security", "account").get(pk=placed.pk)
    assert represent(OrderOutput, order) == OrderOutput(order).data
    assert represent(OrderOutput, order) == represent(OrderOutput, order)  # the kept instance, used again


def test_the_request_serializer_words_each_error_in_the_language_of_its_request():
    # when the same bad order is checked in English, then in Chinese
    messages = {}
    for language in ("en", "zh-hans"):
        with translation.override(language):
            serializer = OrderListApi.InputSerializer(data=BODY)
            assert not serializer.is_valid()
            messages[language] = str(serializer.errors["client_order_id"][0])
    # then each answer is in its own language (a validator shared between uses would repeat the first)
    assert "64" in messages["en"] and "64" in messages["zh-hans"] and messages["en"] != messages["zh-hans"]
