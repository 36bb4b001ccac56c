"""An investor's own statement and annual holdings certificate: the counter's builder, the ledger's figures.

The statement is built once (``settlement.statements``) for the counter and for the investor; these tests
compare it with balances rebuilt from the ledger alone (``balances.replay.ledger_balances``), check the PDF
by extracting its text and by rendering it to an image, and check that bad requests change nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from balances.replay import ledger_balances
from core import crypto
from core.models import Account, Role
from core.names import mask_name
from core.spreadsheet import text_cell
from tests import test_counter
from tests.conftest import api_for, snapshot
from tests.test_counter import BEIJING, at, beijing, page_client

# The counter's fixtures: a broker with staff and a client with a month of history at known times.
world, history = test_counter.world, test_counter.history

pytestmark = pytest.mark.usefixtures("kyc_folders")

pypdf = pytest.importorskip("pypdf", reason="pypdf (requirements-dev.txt) extracts the PDF's text")


def own(client, path, params, language="en"):
    return api_for(client.owner).get(path, params, HTTP_ACCEPT_LANGUAGE=language)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def squeezed(text: str) -> str:
    """The text without white space: table cells wrap, and a Chinese run starts a new text object."""
    return "".join(text.split())


def pdf_fonts(content: bytes) -> dict[str, bool]:
    """Each font of the PDF's pages by base name → whether its file is embedded."""
    fonts = {}
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor else {}
            embedded = any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts[str(font["/BaseFont"])] = embedded
    return fonts


def pdf_stem(content: bytes, family: str) -> int:
    """The StemV of the first font of the PDF whose base name holds ``family``."""
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if str(font["/BaseFont"]).split("+")[-1] == family:  # a subset's name is its tag + the font's
                descendants = font.get("/DescendantFonts")
                descriptor = (descendants[0].get_object() if descendants else font)["/FontDescriptor"].get_object()
                return int(descriptor["/StemV"])
    raise AssertionError(f"no {family} font")


def rendered_ink(content: bytes, tmp_path, name: str) -> float:
    """Render the PDF's first page to PNG with poppler's pdftoppm; the share of pixels that are not white."""
    from PIL import Image

    pdf = tmp_path / f"{name}.pdf"
    if out := os.environ.get("STATEMENT_PDF_DIR"):  # to look at them
        (Path(out) / f"{name}.pdf").write_bytes(content)
    pdf.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / name)], check=True)
    png = next(tmp_path.glob(f"{name}*.png"))
    image = Image.open(png).convert("L")
    dark = sum(image.histogram()[:200])
    return dark / (image.width * image.height)


# --------------------------------------------------------------------------
# Content: the ledger's figures


def test_own_statement_equals_the_ledger_and_the_counters_statement(world, history):
    client, trade = history
    code = client.code
    # given the ledger as it stood at the period's edges, rebuilt from the entries alone
    first = dt.datetime(2026, 3, 5, tzinfo=BEIJING)
    after = dt.datetime(2026, 3, 16, tzinfo=BEIJING)
    cash_before, _, _ = ledger_balances(until=first)
    cash_after, shares_after, _ = ledger_balances(until=after)

    # when the investor asks for their own statement
    mine = own(client, "/api/v1/statement/", {"from": "2026-03-05", "to": "2026-03-15"}).json()

    # then its opening and closing cash and its holdings are the ledger's
    assert Decimal(mine["opening_cash"]) == cash_before[code] == Decimal("10000.00")
    assert Decimal(mine["closing_cash"]) == cash_after[code] == Decimal("8185.00")
    assert {h["security"]: h["quantity"] for h in mine["holdings"]} == {
        security: quantity for (account, security), quantity in shares_after.items() if account == code and quantity
    }
    # the movements add up from the opening to the closing cash
    assert Decimal(mine["opening_cash"]) + sum(Decimal(m["amount"]) for m in mine["movements"]) == Decimal(
        mine["closing_cash"]
    )
    assert [t["id"] for t in mine["trades"]] == [trade.pk]
    # and it is the very statement the counter shows for the client (but for the moment it was made)
    counter = api_for(world.a.staff).get(
        f"/api/v1/counter/clients/{code}/statement/", {"from": "2026-03-05", "to": "2026-03-15"}
    )
    assert {**counter.json(), "generated_at": None} == {**mine, "generated_at": None}


def test_statement_csv_of_the_investor(world, history):
    client, _ = history
    response = own(client, "/api/v1/statement/", {"from": "2026-03-05", "to": "2026-03-15", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    assert f"Account,{client.code}" in text and "\r\nClosing cash,8185.00\r\n" in text
    # the ledger's record of each movement is named as the trade page names a trade's, not a "Leaf"
    assert "\r\nTime,Type,Details,Amount,Fee,Balance,Ledger entry,Record no.\r\n" in text


def test_statement_csv_neutralises_a_name_written_as_a_formula_and_keeps_negative_amounts(world, history):
    # given an investor whose name was typed as a spreadsheet formula (the account's encrypted copy, as
    # kyc_update_identity writes it)
    client, _ = history
    formula = '=HYPERLINK("http://evil.example","x")'
    Account.objects.filter(pk=client.pk).update(name=mask_name(formula), holder_name_enc=crypto.ring().encrypt(formula))

    # when the statement is exported as CSV
    response = own(client, "/api/v1/statement/", {"from": "2026-03-05", "to": "2026-03-15", "format": "csv"})

    # then the name is text (an apostrophe in front), and a withdrawal's negative amount is still a number
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["Name", '\'=HYPERLINK("http://evil.example","x")'] in rows
    assert not any(cell.startswith("=") for row in rows for cell in row)
    assert any("-1000.00" in row for row in rows)


def test_spreadsheet_text_cells():
    assert [text_cell(v) for v in ["=1+1", "+1 phone", "-x", "@SUM(A1)", "\tx", "\rx", "plain", ""]] == [
        "'=1+1", "'+1 phone", "'-x", "'@SUM(A1)", "'\tx", "'\rx", "plain", ""
    ]  # fmt: skip
    assert [text_cell(v) for v in ["-1000.00", "+5", "-3", 7, None]] == ["-1000.00", "+5", "-3", 7, None]


def test_certificate_holds_the_years_closing_positions(world, history):
    client, _ = history
    _, shares, _ = ledger_balances(until=dt.datetime(2027, 1, 1, tzinfo=BEIJING))
    with at(beijing(2027, 2, 1, 10, 0)):
        data = own(client, "/api/v1/holdings-certificate/", {"year": "2026"}).json()
    assert (data["account"], data["year"], data["as_of"]) == (client.code, 2026, "2026-12-31")
    code = world.market.security.code
    assert data["holdings"] == [{"security": code, "name": "Test Co", "quantity": shares[(client.code, code)]}]
    assert shares[(client.code, code)] == 600


# --------------------------------------------------------------------------
# The PDF: text, fonts, rendering


@pytest.mark.parametrize(
    ("language", "strings"),
    [
        ("en", ["Client statement", "Opening cash", "Closing cash", "8,185.00", "Purchase settled", "Test Co"]),
        ("zh-hans", ["客户对账单", "期初资金", "期末资金", "8,185.00", "买入交收", "Test Co"]),
    ],
)
def test_statement_pdf_text_fonts_and_rendering(world, history, tmp_path, language, strings):
    client, _ = history

    response = own(client, "/api/v1/statement/", {"from": "2026-03-05", "to": "2026-03-15", "format": "pdf"}, language)

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    for expected in [*strings, client.code, f"{client.code}·"]:
        assert squeezed(expected) in squeezed(text), (expected, text)
    (tmp_path / "statement.txt").write_text(text)
    # every font is embedded: Vera for Latin text, so no reader spaces it oddly, and Noto Sans SC for Chinese
    assert "C lient" not in text and "INV 0" not in text
    fonts = pdf_fonts(response.content)
    assert fonts and all(fonts.values()), fonts
    assert any("BitstreamVeraSans" in name for name in fonts), fonts
    assert any("NotoSansSC" in name for name in fonts), fonts  # the client's name is Chinese in both languages
    # at the regular weight: reportlab writes the descriptor's StemV from the font's weight class (400 → 87; the
    # variable font's default instance, weight 100, gave 52, hairlines)
    assert pdf_stem(response.content, "NotoSansSC-Regular") == 87
    # and in Chinese the headings' Chinese is bold, beside Vera Bold (weight 700 → StemV 165)
    if language == "zh-hans":
        assert pdf_stem(response.content, "NotoSansSC-Bold") == 50 + int((700 / 65.0) ** 2)
    # and the first page renders to an image with text on it
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed: the PDF was not rendered")
    assert rendered_ink(response.content, tmp_path, f"statement-{language}") > 0.005


def test_certificate_pdf(world, history, tmp_path):
    client, _ = history
    with at(beijing(2027, 2, 1, 10, 0)):
        response = own(client, "/api/v1/holdings-certificate/", {"year": "2026", "format": "pdf"}, "zh-hans")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f"holdings-{client.code}-2026.pdf" in response["Content-Disposition"]
    text = squeezed(pdf_text(response.content))
    for expected in ["持仓证明2026", client.code, world.market.security.code, "TestCo", "600", "2026-12-31日终"]:
        assert expected in text, (expected, text)
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed: the PDF was not rendered")
    assert rendered_ink(response.content, tmp_path, "certificate") > 0.002


@pytest.mark.usefixtures("shanghai_day_held")  # today as the test reads it and as the certificate does
def test_a_certificate_of_this_year_certifies_the_holdings_as_at_the_moment_read_a_past_year_at_its_end(world, history):
    # (found by a walk-through: this year's certificate certified the holdings "at the end of the date shown"
    # beside a date saying "the day is not over")
    client, _ = history
    today = timezone.now().astimezone(BEIJING).date()
    before = snapshot()

    # when the investor downloads the certificate of this year, and of last year made in February of the next
    this_year = pdf_text(
        own(client, "/api/v1/holdings-certificate/", {"year": str(today.year), "format": "pdf"}).content
    )
    with at(beijing(2027, 2, 1, 10, 0)):
        past = pdf_text(own(client, "/api/v1/holdings-certificate/", {"year": "2026", "format": "pdf"}).content)

    # then this year's certifies them as at the moment it names beside "the day is not over", not at any day's end
    moment = re.search(rf"{today.isoformat()} (\d\d:\d\d:\d\d) \(Beijing time; the day is not over\)", this_year)
    assert moment, this_year
    assert squeezed(f"as at {today.isoformat()} {moment.group(1)} (Beijing time), when they were read") in squeezed(
        this_year
    ), this_year
    assert "end of" not in this_year
    # and last year's, its day over, at the end of 31 December
    assert squeezed("Holdings at end of 2026-12-31 (Beijing time)") in squeezed(past)
    assert squeezed("at the end of the date shown.") in squeezed(past) and "as at" not in past
    assert snapshot() == before


# --------------------------------------------------------------------------
# Pages and bad input


def test_statement_page_shows_and_downloads(world, history):
    client, _ = history
    pages = page_client(client.owner)

    shown = pages.get("/statements/", {"start": "2026-03-05", "end": "2026-03-15"})
    assert shown.status_code == 200
    assert shown.context["statement"]["closing"] == "8,185.00"
    assert "8,185.00" in shown.content.decode()
    # each sealed entry is named as the trade page names a trade's: its record number, not a "leaf"
    sealed = [m["leaf_index"] for m in shown.context["statement"]["movements"] if m["leaf_index"] is not None]
    assert sealed, "no sealed movement in the period"
    for index in sealed:
        assert f'<small class="muted">record no. {index}</small>' in shown.content.decode()
        assert f"leaf {index}" not in shown.content.decode()

    pdf = pages.get("/statements/", {"start": "2026-03-05", "end": "2026-03-15", "format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    certificate = pages.get("/statements/certificate/", {"year": "2026", "format": "pdf"})
    assert certificate.status_code == 200 and certificate.content.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/statement/", {"from": "2026-03-15", "to": "2026-03-01"}),
        ("/api/v1/statement/", {"from": "2026-03-01"}),
        ("/api/v1/statement/", {"from": "2026-03-01", "to": "2026-03-02", "format": "xml"}),
        ("/api/v1/holdings-certificate/", {}),
        ("/api/v1/holdings-certificate/", {"year": "26"}),
        ("/api/v1/holdings-certificate/", {"year": "1989"}),
        ("/api/v1/holdings-certificate/", {"year": "2999"}),
        ("/api/v1/holdings-certificate/", {"year": "２０２６"}),
    ],
)
def test_bad_requests_are_400_and_change_nothing(world, history, path, query):
    client, _ = history
    before = snapshot()
    response = own(client, path, query)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert snapshot() == before


def test_bad_certificate_year_on_the_page_is_a_form_error(world, history):
    client, _ = history
    response = page_client(client.owner).get("/statements/certificate/", {"year": "1989"})
    assert response.status_code == 400
    assert response.context["certificate_form"].errors["year"]


@pytest.mark.parametrize("year", ["0", "1989", "2999", "99999"])
def test_every_certificate_year_out_of_range_reads_the_same_rule(world, history, year):
    # given an investor reading the statements page in English
    client, _ = history
    pages = page_client(client.owner, "en")
    before = snapshot()
    this_year = timezone.now().astimezone(BEIJING).year

    # when they ask for the certificate of a year before 1990 or after this one
    response = pages.get("/statements/certificate/", {"year": year})

    # then the form says the one rule, from the year the account was opened (2026) to this year (99999 read "less
    # than or equal to 2999", and 2999 then read "from 1990 to 2026"), its box offers no other, and nothing changed
    assert response.status_code == 400
    assert response.context["certificate_form"].errors["year"] == [
        f"A holdings certificate of this account is for a year from 2026 to {this_year}: "
        "the account was opened on 2026-03-01."
    ]
    assert f'min="2026" max="{this_year}"' in response.content.decode()
    assert snapshot() == before


@pytest.mark.usefixtures("shanghai_day_held")  # this year as the test reads it and as the pages do
def test_a_certificate_of_a_year_before_the_account_was_opened_is_refused_naming_the_opening_day(world, history):
    # (found by a walk-through: the certificate of 2025 of an account opened in March 2026 certified "no holdings")
    client, _ = history
    assert client.created_at.astimezone(BEIJING).date() == dt.date(2026, 3, 1)
    this_year = timezone.now().astimezone(BEIJING).year
    rule = (
        f"A holdings certificate of this account is for a year from 2026 to {this_year}: "
        "the account was opened on 2026-03-01."
    )
    pages = page_client(client.owner, "en")
    before = snapshot()

    # when the investor opens the statements page, then asks for the certificate of 2025 on it and through the API
    shown = pages.get("/statements/")
    on_page = pages.get("/statements/certificate/", {"year": "2025", "format": "pdf"})
    by_api = own(client, "/api/v1/holdings-certificate/", {"year": "2025", "format": "pdf"})

    # then the year box offers no year before 2026 and starts at the first it does, not at 2025
    box = re.search(r'<input type="number" name="year"[^>]*>', shown.content.decode()).group(0)
    assert f'min="2026" max="{this_year}"' in box and f'value="{max(2026, this_year - 1)}"' in box
    # and both refuse 2025 with the rule naming the day the account was opened, no certificate made
    assert on_page.status_code == 400 and not on_page.content.startswith(b"%PDF")
    assert on_page.context["certificate_form"].errors["year"] == [rule]
    assert (by_api.status_code, by_api.json()) == (400, {"code": "invalid_input", "message": rule})
    # and the year it was opened still has its certificate
    assert own(client, "/api/v1/holdings-certificate/", {"year": "2026"}).json()["year"] == 2026
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/statement/", {"from": "2026-03-01", "to": "2026-03-02"}),
        ("/api/v1/holdings-certificate/", {"year": "2026"}),
    ],
)
def test_somebody_without_an_account_gets_the_403_account_gives(world, path, query):
    # given a user with no trading account (a regulator)
    client = api_for(world.market.user(Role.REGULATOR))
    before = snapshot()
    # when they ask for their statement or certificate, and for their account
    response = client.get(path, query)
    account = client.get("/api/v1/account/")
    # then both are the same 403 no_trading_account (the statement was a 404 not_found), and nothing changed
    assert (response.status_code, response.json()["code"]) == (403, "no_trading_account")
    assert (account.status_code, account.json()["code"]) == (403, "no_trading_account")
    assert response.json()["message"] == account.json()["message"]
    assert snapshot() == before


def test_somebody_without_an_account_gets_a_page_saying_so(world):
    page = page_client(world.market.user(Role.REGULATOR)).get("/statements/")
    assert page.status_code == 200 and page.templates[0].name == "exchange/no_account.html"


@pytest.mark.usefixtures("shanghai_day_held")  # today as the test reads it and as the API does
def test_a_statement_of_days_to_come_is_refused_and_one_reaching_today_says_the_day_is_not_over(world, history):
    # (found by a probe: a January 2027 statement came back on 5 December 2026 with "holdings at 2027-01-31", and a
    # certificate's "end of today" changed with the next trade)
    client, _trade = history
    today = timezone.now().astimezone(BEIJING).date()
    later = today + dt.timedelta(days=30)
    refused = own(client, "/api/v1/statement/", {"from": str(today + dt.timedelta(days=1)), "to": str(later)})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_input"
    # a period that reaches past today is cut at today, and its holdings are of now, not of a day's end
    csv_text = own(
        client, "/api/v1/statement/", {"from": str(today - dt.timedelta(days=3)), "to": str(later), "format": "csv"}
    ).content.decode("utf-8-sig")
    assert f"Holdings at {today.isoformat()}" in csv_text and "the day is not over" in csv_text
    assert later.isoformat() not in csv_text
    shown = own(client, "/api/v1/statement/", {"from": str(today - dt.timedelta(days=3)), "to": str(later)}).json()
    assert shown["end"] == today.isoformat()


def _no_clock(text: str) -> str:
    return re.sub(r"\d\d:\d\d:\d\d", "hh:mm:ss", text)


def _holdings_heading(html: str) -> str:
    match = re.search(r'<h2 id="holdings-table-title">(.*?)</h2>', html, re.S)
    assert match, "no holdings heading"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize(
    ("language", "past", "today_words"),
    [
        ("en", "Holdings at end of 2026-03-15 (Beijing time)", "(Beijing time; the day is not over)"),
        ("zh-hans", "持仓：2026-03-15 日终（北京时间）", "（北京时间；当日尚未结束）"),
    ],
)
@pytest.mark.usefixtures("shanghai_day_held")  # today as the test reads it and as the pages do
def test_statement_pages_name_the_holdings_moment_as_the_files_do(world, history, language, past, today_words):
    # (found by a tester: the page's heading read "Holdings at" with nothing after, where the files name the moment)
    client, _ = history
    today = timezone.now().astimezone(BEIJING).date()
    pages = {
        "investor": (page_client(client.owner, language), "/statements/"),
        "counter": (page_client(world.a.staff, language), f"/counter/{client.code}/statement/"),
    }
    for who, (browser, path) in pages.items():
        # given a period that ended before today, and one that reaches today
        for period, expected in (
            ({"start": "2026-03-05", "end": "2026-03-15"}, past),
            ({"start": str(today - dt.timedelta(days=3)), "end": str(today)}, None),
        ):
            # when the statement is shown, and downloaded as CSV
            before = snapshot()
            shown = browser.get(path, period)
            csv_text = browser.get(path, {**period, "format": "csv"}).content.decode("utf-8-sig")

            # then the page's heading names the moment, in the very words of the CSV's holdings line
            assert shown.status_code == 200, who
            heading = _holdings_heading(shown.content.decode())
            # (the moment of a day not over is each document's own: the two requests may be a second apart)
            assert _no_clock(heading) in map(_no_clock, csv_text.splitlines()), (who, heading)
            if expected:
                assert heading == expected, who
            else:
                now_words = rf"{today.isoformat()} \d\d:\d\d:\d\d ?{re.escape(today_words)}$"
                assert re.search(now_words, heading), (who, heading)
            # and showing it changed nothing
            assert snapshot() == before


def test_a_statement_made_just_before_a_shanghai_midnight_says_so_when_shown_after_it(world, history):
    # (found by crossing midnight inside the tests: whether a statement's last day was over was asked of the
    # clock again when the statement was shown, not of the moment it was made, so one made at 23:59:59 and shown
    # a second later claimed the holdings of the end of a day it had read before the day ended)
    from django.utils import translation

    from settlement import statements
    from settlement.statement_exports import statement_csv

    client, _ = history
    # given a statement of 10 … 20 March made half a second before midnight on 15 March (Beijing time)
    made_at = beijing(2026, 3, 15, 23, 59, 59, 500000)
    with at(made_at), translation.override("en"):
        made = statements.account_statement(client, dt.date(2026, 3, 10), dt.date(2026, 3, 20))
        on_time = made.holdings_at

    # when it is shown, and downloaded, a second later, on the 16th
    with at(beijing(2026, 3, 16, 0, 0, 0, 500000)), translation.override("en"):
        shown = made.holdings_at
        csv_text = statement_csv(made).decode("utf-8-sig")

    # then it is cut at the 15th, made at that moment, and its holdings are of that moment, the day not being over
    assert (made.end, made.generated_at) == (dt.date(2026, 3, 15), made_at)
    assert shown == on_time == "2026-03-15 23:59:59 (Beijing time; the day is not over)"
    assert f"Holdings at {shown}" in csv_text and "end of 2026-03-15" not in csv_text
