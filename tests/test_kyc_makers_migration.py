"""Upgrading an exchange whose KYC applications named only their opener, last editor and submitter (kyc 0007):
each application's makers are those three, and the stricter check holds for every row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.models import Role
from kyc import services
from kyc.idcard import check_character
from kyc.models import KycProfile
from tests.test_kyc import ANSWERS_C5, PNG, complete_application, identity

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_the_upgrade_counts_the_three_named_makers_of_each_application(market):
    # given a submitted application (opened and submitted by A, its identity last edited by B) and one approved by C
    a = market.staff
    b = market.user(Role.BROKER_STAFF, broker=market.broker)
    c = market.user(Role.BROKER_STAFF, broker=market.broker)
    waiting = complete_application(market, a)
    services.kyc_update_identity(actor=b, profile_id=waiting.pk, identity=identity(address="上海市浦东新区1号"))
    services.kyc_submit(staff=a, profile_id=waiting.pk)
    number = "11010519800101001"
    approved = services.kyc_register(
        username="lisi",
        password=None,
        broker=market.broker,
        identity=identity(real_name="李四", id_number=number + check_character(number)),
        entered_by=a,
    )
    services.kyc_assess(actor=a, profile_id=approved.pk, answers=ANSWERS_C5)
    services.kyc_document_add(
        actor=a, profile_id=approved.pk, kind="id_front", upload=SimpleUploadedFile("id.png", PNG)
    )
    services.kyc_submit(staff=a, profile_id=approved.pk)
    services.kyc_approve(staff=c, profile_id=approved.pk)

    # when the exchange goes back to before kyc 0007 (the makers' column dropped) and upgrades again
    _migrate([("kyc", "0006_documents_encrypted_in_database")])
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # then each application's makers are the three it named, and the check refuses any of them as its checker
    makers = dict(KycProfile.objects.values_list("pk", "makers"))
    assert makers == {waiting.pk: sorted([a.pk, b.pk]), approved.pk: [a.pk]}
    with pytest.raises(IntegrityError), transaction.atomic():
        KycProfile.objects.filter(pk=waiting.pk).update(state="approved", reviewed_by=b, reviewed_at=timezone.now())
    assert KycProfile.objects.get(pk=waiting.pk).state == "submitted"
