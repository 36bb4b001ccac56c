"""Personal data at rest: a dump of the whole database shows no ID number, phone or address in the clear.

The data is committed (a transactional test), so that ``pg_dump``, a separate
connection, sees it. It is entered the ways it enters in production: online
registration through the API, an account opened at the counter, a counter search
by the whole ID number, and a regulator's recorded reveal. Then every table is
read as text, and the database is dumped with ``pg_dump``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from core.models import Role
from kyc.models import KycProfile
from tests.conftest import api_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("kyc_folders")]

ONLINE = {"id_number": "11010519491231002X", "phone": "13800138000", "address": "北京市朝阳区建国路 88 号"}
COUNTER = {"id_number": "440305199001010034", "phone": "13700137000", "address": "深圳市南山区科技园南区 8 号"}
SECRETS = [ONLINE["id_number"], ONLINE["phone"], "建国路", COUNTER["id_number"], COUNTER["phone"], "科技园南区"]


@pytest.fixture
def personal_data(market):
    """Two investors' identities entered online and at the counter, searched for and revealed."""
    online = api_for(None).post(
        "/api/v1/kyc/register/",
        {
            "broker": market.broker.code,
            "username": "zhangwei",
            "password": "Kyc-pass-2026!",
            "real_name": "张伟",
            "id_type": "resident_id",
            **ONLINE,
        },
        format="json",
    )
    assert online.status_code == 201, online.json()
    staff = api_for(market.staff)
    opened = staff.post(
        "/api/v1/counter/clients/",
        {"username": "liuyang", "real_name": "刘洋", "id_type": "resident_id", **COUNTER},
        format="json",
    )
    assert opened.status_code == 201, opened.json()
    found = staff.get("/api/v1/counter/clients/", {"q": COUNTER["id_number"]}).json()
    assert [c["account"] for c in found["results"]] == [opened.json()["account"]]
    regulator = market.user(Role.REGULATOR)
    profile = KycProfile.objects.get(user__username="zhangwei")
    shown = api_for(regulator).post(
        f"/api/v1/kyc/applications/{profile.pk}/reveal/", {"reason": "Court order (2026) 京01 123"}, format="json"
    )
    assert shown.status_code == 200 and shown.json()["id_number"] == ONLINE["id_number"]
    return profile


def test_no_table_holds_personal_data_in_the_clear(personal_data):
    # given the committed personal data of two investors
    # when every row of every table in the database is read as text
    with connection.cursor() as cur:
        cur.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        tables = [row[0] for row in cur.fetchall()]
        dump = []
        for table in tables:
            cur.execute(f"SELECT t::text FROM {table} t")  # table names come from the catalog
            dump.extend(row[0] for row in cur.fetchall())
    text = "\n".join(dump)

    # then no ID number, phone number or address appears anywhere, only their masked forms
    assert "kyc_kycprofile" in " ".join(tables) and "exchange_auditevent" in " ".join(tables)
    assert [secret for secret in SECRETS if secret in text] == []
    assert "110***********002X" in text and "138****8000" in text


def _pg_dump() -> str | None:
    """A pg_dump of the server's major version: the embedded server's own, else the one on PATH if it matches."""
    with connection.cursor() as cur:
        cur.execute("SHOW server_version_num")
        major = int(cur.fetchone()[0]) // 10000
    candidates = []
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump")
    except ImportError:  # pragma: no cover - pgserver is in requirements.txt
        pass
    if found := shutil.which("pg_dump"):
        candidates.append(Path(found))
    for binary in candidates:
        if not binary.is_file():
            continue
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
        if version.split()[-1].split(".")[0] == str(major):
            return str(binary)
    return None


def test_a_pg_dump_of_the_database_shows_no_personal_data(personal_data):
    # given the committed personal data of two investors and a pg_dump of the server's version
    binary = _pg_dump()
    if binary is None:
        pytest.skip("no pg_dump of the database server's major version")
    db = connection.settings_dict
    args = [binary, "--no-owner", "--data-only", "--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}

    # when the whole database is dumped
    result = subprocess.run(args, capture_output=True, env=env, check=False, timeout=120)

    # then the dump holds the profiles, masked, and none of the numbers or addresses in the clear
    assert result.returncode == 0, result.stderr.decode()
    dump = result.stdout.decode()
    assert "COPY public.kyc_kycprofile" in dump and "110***********002X" in dump
    assert [secret for secret in SECRETS if secret in dump] == []
