"""The orders the exchange closed before ``Order.closed_by`` (0021), sorted by what closed them.

Before, ``closed_reason`` held a sentence: a freeze's, in the approving regulator's language (found by a probe:
an investor reading in English saw it in Chinese), and a security change's or a delisting's, in English. Each
becomes ``closed_by`` and its particulars in no one's language (the freeze's number, the changed fields, the
operator's reason for the delisting); the sentence is now written when it is read, in the reader's language.

Not atomic: a batch of orders in each transaction, by primary key, so that an upgrade on a live exchange never
holds the rows of the whole table at once. Idempotent: an order already sorted is not read again.
"""

import re

from django.db import migrations, transaction

BATCH = 2000

# What the code before 0021 wrote (exchange.services.listing, registry.listing, supervision.services).
SORTS = [
    ("account_frozen", re.compile(r"^Cancelled: the account is frozen by a legal order \(freeze (\d+)\)\.$")),
    ("account_frozen", re.compile(r"^已撤销：该账户已被依法冻结（冻结 (\d+)）。$")),
    ("security_changed", re.compile(r"^security change: (.*)$", re.S)),
    ("security_delisted", re.compile(r"^delisted: (.*)$", re.S)),
]


def sort(reason: str) -> tuple[str, str]:
    """``closed_by`` and what ``closed_reason`` keeps, for a reason stored before 0021."""
    for closed_by, pattern in SORTS:
        if m := pattern.match(reason):
            return closed_by, m.group(1)
    return "security_changed", reason  # an operator's words of an earlier version: a security change's


def sort_closed(apps, schema_editor):
    Order = apps.get_model("exchange", "Order")
    todo = Order.objects.exclude(closed_reason="").filter(closed_by="")
    last = 0
    while True:
        with transaction.atomic():
            batch = list(todo.filter(pk__gt=last).order_by("pk").only("pk", "closed_reason")[:BATCH])
            if not batch:
                return
            for order in batch:
                order.closed_by, order.closed_reason = sort(order.closed_reason)
            Order.objects.bulk_update(batch, ["closed_by", "closed_reason"])
            last = batch[-1].pk


def unsort_closed(apps, schema_editor):
    Order = apps.get_model("exchange", "Order")
    written = {
        "account_frozen": "Cancelled: the account is frozen by a legal order (freeze {}).",
        "security_changed": "security change: {}",
        "security_delisted": "delisted: {}",
    }
    for closed_by, template in written.items():
        for order in Order.objects.filter(closed_by=closed_by).only("pk", "closed_reason").iterator():
            Order.objects.filter(pk=order.pk).update(closed_reason=template.format(order.closed_reason), closed_by="")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("exchange", "0021_order_closed_by")]

    operations = [migrations.RunPython(sort_closed, unsort_closed)]
