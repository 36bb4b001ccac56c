"""An investor finds their statements from the balance page and downloads the PDF of a period, and the
holdings certificate, in headless Chromium; the files' text is the ledger's figures in both scripts."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.steps import log_in
from tests.conftest import build_market

pytestmark = pytest.mark.browser
pypdf = pytest.importorskip("pypdf", reason="pypdf (requirements-dev.txt) extracts the PDF's text")


def pdf_text(path) -> str:
    with open(path, "rb") as f:
        reader = pypdf.PdfReader(io.BytesIO(f.read()))
    return "".join("".join(page.extract_text().split()) for page in reader.pages)


def test_an_investor_downloads_their_own_statement_and_certificate(page: Page, live_server):
    # given an investor with 12,345.60 CNY and 300 shares of Test Co
    market = build_market()
    investor = market.investor(cash="12345.60", shares=300)
    base = live_server.url
    today = timezone.localdate()
    log_in(page, base, investor.owner.username)

    # when they follow the balance page's link to their statements and show this year's
    page.goto(f"{base}/balances/")
    page.locator("#statements-link").click()
    page.wait_for_url(f"{base}/statements/")
    page.fill("#id_start", today.replace(month=1, day=1).isoformat())
    page.fill("#id_end", today.isoformat())
    page.locator("#statement-form").get_by_role("button", name="显示").click()

    # then the page shows the closing cash and the holding
    expect(page.locator("#statement-summary dd").last).to_have_text("12,345.60")
    expect(page.locator("#holdings-table tbody tr")).to_have_count(1)

    # and the PDF they download says the same, in Chinese and Latin letters
    with page.expect_download() as download:
        page.locator("#statement-form").get_by_role("button", name="PDF").click()
    assert download.value.suggested_filename.startswith(f"statement-{investor.code}-")
    text = pdf_text(download.value.path())
    for expected in ["客户对账单", "期末资金", investor.code, "12,345.60", market.security.code, "TestCo", "300"]:
        assert expected in text, (expected, text)

    # and the holdings certificate of this year lists the 300 shares
    page.fill("#id_year", str(today.year))
    with page.expect_download() as download:
        page.locator("#certificate-form").get_by_role("button", name="下载 PDF").click()
    assert download.value.suggested_filename == f"holdings-{investor.code}-{today.year}.pdf"
    text = pdf_text(download.value.path())
    for expected in [f"持仓证明{today.year}", investor.code, market.security.code, "300"]:
        assert expected in text, (expected, text)
