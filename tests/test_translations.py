"""The Chinese catalogs are complete and compiled: a fresh ``makemessages`` over a copy of the sources finds no
string without a translation and no translation whose string is gone, and each .mo holds what its .po says."""

from __future__ import annotations

import gettext
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ["locale", "kyc/locale", "counter/locale"]
PO = "zh_Hans/LC_MESSAGES/django.po"
# Every app of ours (read from the settings, so a new app is not forgotten), the templates and the catalogs.
OUR_APPS = [a for a in settings.INSTALLED_APPS if (ROOT / a.replace(".", "/")).is_dir()]
SOURCES = ["config", *OUR_APPS, "templates", "locale", "manage.py"]

pytestmark = pytest.mark.skipif(
    not (shutil.which("msgfmt") and shutil.which("msgattrib")), reason="GNU gettext tools are not installed"
)


def _catalog(mo: bytes) -> dict:
    catalog = gettext.GNUTranslations()
    catalog._parse(io.BytesIO(mo))
    return {k: v for k, v in catalog._catalog.items() if k}


@pytest.mark.parametrize("folder", CATALOGS)
def test_each_compiled_catalog_is_its_po_file(folder):
    po = ROOT / folder / PO
    compiled = subprocess.run(["msgfmt", "--check", "-o", "-", str(po)], capture_output=True, check=True).stdout
    assert _catalog(po.with_suffix(".mo").read_bytes()) == _catalog(compiled)


def test_makemessages_finds_nothing_untranslated_or_stale(tmp_path):
    # given a copy of the sources and catalogs
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, tmp_path / name)

    # when makemessages runs over it as a developer would
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://unused@localhost/unused",
        "REDIS_URL": "redis://localhost:6379/0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )

    # then every catalog has a translation for every string and none for strings that are gone
    for folder in CATALOGS:
        po = tmp_path / folder / PO
        untranslated = subprocess.run(
            ["msgattrib", "--untranslated", "--no-obsolete", str(po)], capture_output=True, text=True, check=True
        ).stdout
        fuzzy = subprocess.run(
            ["msgattrib", "--only-fuzzy", "--no-obsolete", str(po)], capture_output=True, text=True, check=True
        ).stdout
        obsolete = subprocess.run(
            ["msgattrib", "--only-obsolete", str(po)], capture_output=True, text=True, check=True
        ).stdout
        assert (folder, untranslated, fuzzy, obsolete) == (folder, "", "", "")
