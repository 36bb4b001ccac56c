"""Upgrading an exchange whose investors' names were stored in the clear (before core 0005, kyc 0004)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core import crypto

BEFORE = [("core", "0004_merge_0003_account_frozen_0003_broker_cash_limits"), ("kyc", "0003_users_in_core")]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kyc_folders")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_upgrade_encrypts_the_names_already_stored_and_leaves_firms_alone():
    # given the schema before the names were encrypted, with an investor (profile, account, user) and a firm
    old = _migrate(BEFORE)
    try:
        User, Broker, Account = (old.get_model("core", m) for m in ("User", "Broker", "Account"))
        KycProfile = old.get_model("kyc", "KycProfile")
        broker = Broker.objects.create(code="B1", name="Broker One")
        staff = User.objects.create(username="staff", role="broker_staff", broker=broker)
        investor = User.objects.create(username="chenjing", role="investor", broker=broker, first_name="陈静 Chen Jing")
        account = Account.objects.create(code="INV000001", kind="investor", name="陈静 Chen Jing", owner=investor)
        firm = Account.objects.create(code="MM000002", kind="market_maker", name="做市商 Market Maker")
        ring = crypto.ring()
        KycProfile.objects.create(
            user=investor,
            broker=broker,
            real_name="陈静 Chen Jing",
            id_type="passport",
            id_number_enc=ring.encrypt("E12345678"),
            id_number_masked="E1*****78",
            identity=ring.index("E12345678"),
            phone_enc=ring.encrypt("13800138000"),
            phone_masked="138****8000",
            address_enc=ring.encrypt("北京市朝阳区建国路 88 号"),
            address_masked="北京市朝阳区…",
            entered_by=staff,
            last_edited_by=staff,
        )
    finally:
        # when the exchange migrates
        new = _migrate(_leaves())

    # then the profile and the account hold the name encrypted and masked, the user the mask, and the name is
    # found by its words; the firm's name is as it was
    Account, User, KycProfile = (
        new.get_model(*m) for m in (("core", "Account"), ("core", "User"), ("kyc", "KycProfile"))
    )
    profile = KycProfile.objects.get(user__username="chenjing")
    account = Account.objects.get(pk=account.pk)
    assert ring.decrypt(profile.real_name_enc) == ring.decrypt(account.holder_name_enc) == "陈静 Chen Jing"
    assert (profile.real_name_masked, account.name, User.objects.get(pk=investor.pk).first_name) == ("陈***",) * 3
    assert set(ring.name_index("chen jing")) <= set(profile.name_index)
    assert Account.objects.get(pk=firm.pk).name == "做市商 Market Maker"
    assert Account.objects.get(pk=firm.pk).holder_name_enc is None
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM exchange_account a WHERE a::text LIKE '%%Chen Jing%%'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'kyc_kycprofile'")
        assert "real_name" not in {name for (name,) in cur.fetchall()}


def _leaves():
    """Every app's latest migration: the schema the rest of the suite expects."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
