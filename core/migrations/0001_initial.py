"""Users, brokers, accounts and the audit trail move here from the exchange app.

State only: the tables keep their names (``exchange_user``, ``exchange_broker``,
``exchange_account``, ``exchange_auditevent``) and every row, index, constraint
and trigger. The exchange app's ``0003_move_out`` drops the models from its
own state once every reference points here.

A database made before the move has the exchange tables and Django's admin
and token migrations applied, which now depend on this one (the user model is
``core.User``). ``core.management.commands.migrate`` records this migration as
applied on such a database before migrating: it changes nothing in the
database, so recording it is the same as running it.
"""

import django.contrib.auth.models
import django.contrib.auth.validators
import django.db.models.deletion
import django.utils.timezone
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("exchange", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="User",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("password", models.CharField(max_length=128, verbose_name="password")),
                        ("last_login", models.DateTimeField(blank=True, null=True, verbose_name="last login")),
                        (
                            "is_superuser",
                            models.BooleanField(
                                default=False,
                                help_text="Designates that this user has all permissions without explicitly assigning them.",
                                verbose_name="superuser status",
                            ),
                        ),
                        (
                            "username",
                            models.CharField(
                                error_messages={"unique": "A user with that username already exists."},
                                help_text="Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.",
                                max_length=150,
                                unique=True,
                                validators=[django.contrib.auth.validators.UnicodeUsernameValidator()],
                                verbose_name="username",
                            ),
                        ),
                        ("first_name", models.CharField(blank=True, max_length=150, verbose_name="first name")),
                        ("last_name", models.CharField(blank=True, max_length=150, verbose_name="last name")),
                        ("email", models.EmailField(blank=True, max_length=254, verbose_name="email address")),
                        (
                            "is_staff",
                            models.BooleanField(
                                default=False,
                                help_text="Designates whether the user can log into this admin site.",
                                verbose_name="staff status",
                            ),
                        ),
                        (
                            "is_active",
                            models.BooleanField(
                                default=True,
                                help_text="Designates whether this user should be treated as active. Unselect this instead of deleting accounts.",
                                verbose_name="active",
                            ),
                        ),
                        (
                            "date_joined",
                            models.DateTimeField(default=django.utils.timezone.now, verbose_name="date joined"),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[
                                    ("investor", "Investor"),
                                    ("market_maker", "Market maker"),
                                    ("broker_staff", "Broker staff"),
                                    ("exchange_operator", "Exchange operator"),
                                    ("depository_operator", "Depository operator"),
                                    ("regulator", "Regulator"),
                                    ("auditor", "Auditor"),
                                ],
                                default="investor",
                                max_length=32,
                            ),
                        ),
                        (
                            "groups",
                            models.ManyToManyField(
                                blank=True,
                                help_text="The groups this user belongs to. A user will get all permissions granted to each of their groups.",
                                related_name="user_set",
                                related_query_name="user",
                                to="auth.group",
                                verbose_name="groups",
                            ),
                        ),
                        (
                            "user_permissions",
                            models.ManyToManyField(
                                blank=True,
                                help_text="Specific permissions for this user.",
                                related_name="user_set",
                                related_query_name="user",
                                to="auth.permission",
                                verbose_name="user permissions",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "exchange_user",
                        "verbose_name": "user",
                        "verbose_name_plural": "users",
                        "abstract": False,
                    },
                    managers=[
                        ("objects", django.contrib.auth.models.UserManager()),
                    ],
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor_username", models.CharField(blank=True, max_length=150)),
                        ("action", models.CharField(db_index=True, max_length=64)),
                        ("outcome", models.CharField(default="ok", max_length=16)),
                        ("target", models.CharField(blank=True, max_length=200)),
                        ("ip", models.GenericIPAddressField(null=True)),
                        ("detail", models.JSONField(default=dict)),
                        (
                            "actor",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="core.user",
                            ),
                        ),
                    ],
                    options={"db_table": "exchange_auditevent"},
                ),
                migrations.CreateModel(
                    name="Broker",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("code", models.CharField(max_length=16, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("fee_bps", models.DecimalField(decimal_places=2, default=Decimal("2.50"), max_digits=6)),
                        ("fee_minimum", models.DecimalField(decimal_places=2, default=Decimal("5.00"), max_digits=20)),
                    ],
                    options={
                        "db_table": "exchange_broker",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("fee_bps__gte", 0)), name="broker_fee_bps_nonneg"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("fee_minimum__gte", 0)), name="broker_fee_min_nonneg"
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Account",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("code", models.CharField(max_length=32, unique=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[("investor", "Investor"), ("market_maker", "Market maker"), ("fee", "Fee")],
                                max_length=16,
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "owner",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="account",
                                to="core.user",
                            ),
                        ),
                        (
                            "broker",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="accounts",
                                to="core.broker",
                            ),
                        ),
                    ],
                    options={"db_table": "exchange_account"},
                ),
                migrations.AddField(
                    model_name="user",
                    name="broker",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="users",
                        to="core.broker",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="account",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("kind", "fee")),
                        fields=("broker",),
                        name="account_one_fee_account_per_broker",
                    ),
                ),
            ],
        ),
    ]
