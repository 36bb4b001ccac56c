"""What closed an order, when it was not its owner: ``Order.closed_by``.

A freeze's cancels stored their sentence in the approving regulator's language (found by a probe: an investor
reading in English saw it in Chinese). The sentence is now written when it is read, in the reader's language,
from ``closed_by`` and the freeze's number in ``closed_reason``. Orders closed before this migration are sorted:
a freeze's sentence, in either language, becomes its number; any other reason was an operator's, given for a
change to the security, and stays as written.
"""

import re

from django.db import migrations, models

# The sentence a freeze's approval wrote, in English and in Chinese (exchange and supervision at 0020).
FREEZE_SENTENCES = [
    re.compile(r"^Cancelled: the account is frozen by a legal order \(freeze (\d+)\)\.$"),
    re.compile(r"^已撤销：该账户已被依法冻结（冻结 (\d+)）。$"),
]


def sort_closed(apps, schema_editor):
    Order = apps.get_model("exchange", "Order")
    frozen, changed = [], []
    for order in Order.objects.exclude(closed_reason="").filter(closed_by="").only("pk", "closed_reason").iterator():
        number = next((m.group(1) for p in FREEZE_SENTENCES if (m := p.match(order.closed_reason))), None)
        if number is None:
            order.closed_by = "security_changed"
            changed.append(order)
        else:
            order.closed_by, order.closed_reason = "account_frozen", number
            frozen.append(order)
    Order.objects.bulk_update(changed, ["closed_by"], batch_size=1000)
    Order.objects.bulk_update(frozen, ["closed_by", "closed_reason"], batch_size=1000)


def unsort_closed(apps, schema_editor):
    Order = apps.get_model("exchange", "Order")
    for order in Order.objects.filter(closed_by="account_frozen").only("pk", "closed_reason").iterator():
        Order.objects.filter(pk=order.pk).update(
            closed_reason=f"Cancelled: the account is frozen by a legal order (freeze {order.closed_reason})."
        )


class Migration(migrations.Migration):
    dependencies = [("exchange", "0020_trade_of_no_frozen_account")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="closed_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Its owner, a fill or the day's end"),
                    ("security_changed", "A change to the security"),
                    ("account_frozen", "A legal order froze the account"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.RunPython(sort_closed, unsort_closed),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("closed_by__in", ["", "security_changed", "account_frozen"])),
                name="order_closed_by_known",
            ),
        ),
    ]
