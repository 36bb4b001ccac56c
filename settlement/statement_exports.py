"""A client statement as CSV and as PDF, in the active language.

The CSV is for people (a spreadsheet): labelled sections, amounts as plain
decimals without thousands separators, text that a spreadsheet would take for
a formula (a name typed as ``=HYPERLINK(…)``) neutralised (``core.spreadsheet``), UTF-8 with a byte order mark so that
spreadsheet programs read Chinese correctly. Programs read the JSON form of
the API instead, whose keys do not change with the language.

The PDF embeds (as subsets) the two fonts it sets its text in, character by
character (``pdf_runs``): Latin letters, digits and punctuation in Bitstream
Vera, a TrueType font shipped inside reportlab; what Vera has no glyph for
(Chinese, full-width punctuation) in Noto Sans SC, a TrueType font shipped by
the PyPI package ``justmytype-intl-cjk`` (SIL Open Font Licence), at the
regular weight: its file is a variable font whose default instance is the
thinnest, so ``settlement.fonts`` makes the regular one once. The statement
used to name Adobe's STSong-Light without embedding it: readers without that
font substituted another, spacing Latin letters oddly ("C lient") and showing
a box for "·".
"""

from __future__ import annotations

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from core import names, spreadsheet
from core.fonts import cjk_bold, cjk_regular
from exchange.models import Order, Trade

from .statements import (
    BEIJING,
    CashMovement,
    Certificate,
    Movement,
    Statement,
    TradeView,
    adjustment_movements,
    adjustments,
    day_over,
    holdings_moment,
)

LATIN = "Vera"
LATIN_BOLD = "VeraBd"
CJK = "NotoSansSC"
CJK_BOLD = "NotoSansSC-Bold"


def movement_label(kind: str) -> str:
    return {
        Movement.DEPOSIT: _("Deposit"),
        Movement.WITHDRAWAL: _("Withdrawal"),
        Movement.BUY: _("Purchase settled"),
        Movement.SELL: _("Sale settled"),
        Movement.NET: _("Net settlement"),
        **{a.movement: str(a.label) for a in adjustments.values()},
    }.get(kind, kind)


def side_label(side: str) -> str:
    return str(Order.Side(side).label)


def status_label(status: str) -> str:
    try:
        return str(Trade.Status(status).label)
    except ValueError:
        return status


def channel_label(at_counter: bool) -> str:
    return pgettext("order channel", "Counter") if at_counter else pgettext("order channel", "Online")


def movement_details(m: CashMovement) -> str:
    """ "830001 100 @ 12.55, trade 7" for a settlement, the reference for cash."""
    if m.kind in (Movement.DEPOSIT, Movement.WITHDRAWAL):
        return m.reference
    if m.kind in adjustment_movements():
        parts = [f"{m.security} {m.quantity:+,}" if m.quantity else "", m.reference]
        parts += [_("trade %(trade)s") % {"trade": t} for t in m.trade_ids]
        return " · ".join(part for part in parts if part)
    trades = ", ".join(str(t) for t in m.trade_ids)
    if m.price is not None:
        return _("%(security)s %(quantity)s @ %(price)s, trade %(trades)s") % {
            "security": m.security,
            "quantity": f"{m.quantity:,}",
            "price": f"{m.price:,.2f}",
            "trades": trades,
        }
    return _("%(security)s net %(quantity)s shares, trades %(trades)s") % {
        "security": m.security,
        "quantity": f"{m.quantity:+,}",
        "trades": trades,
    }


def _time(value) -> str:
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _plain(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _grouped(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def summary_rows(statement: Statement) -> list[tuple[str, Decimal]]:
    t = statement.totals
    return [
        (_("Opening cash"), statement.opening_cash),
        (_("Deposits"), t["deposits"]),
        (_("Withdrawals"), t["withdrawals"]),
        (_("Paid for purchases"), t["settlements_paid"]),
        (_("Received from sales"), t["settlements_received"]),
        (_("Forced transfers and corrections"), t["adjustments"]),
        (_("Fees (included above)"), t["fees"]),
        (_("Closing cash"), statement.closing_cash),
    ]


def _header_rows(statement: Statement) -> list[tuple[str, str]]:
    account = statement.account
    broker = account.broker
    return [
        (_("Account"), account.code),
        (_("Name"), names.holder_name(account)),
        (_("Broker"), f"{broker.code} {broker.name}" if broker else ""),
        (_("Period"), f"{statement.start.isoformat()} – {statement.end.isoformat()}"),
        (_("Currency"), _("Renminbi (CNY)")),
        (_("Generated"), _time(statement.generated_at)),
    ]


def _trade_row(t: TradeView, money) -> list[str]:
    return [
        _time(t.matched_at),
        str(t.id),
        t.security,
        side_label(t.side),
        f"{t.quantity}",
        money(t.price),
        money(t.value),
        money(t.fee),
        " · ".join([status_label(t.status), *t.notes]),
        channel_label(t.at_counter),
    ]


def _trade_headers() -> list[str]:
    return [
        _("Time"),
        _("Trade"),
        _("Security"),
        _("Side"),
        _("Quantity"),
        _("Price"),
        _("Value"),
        _("Fee"),
        _("Status"),
        _("Entered"),
    ]


# --------------------------------------------------------------------------
# CSV


def statement_csv(statement: Statement) -> bytes:
    out = io.StringIO()
    w = spreadsheet.Writer(out, lineterminator="\r\n")
    w.writerow([_("Client statement")])
    for label, value in _header_rows(statement):
        w.writerow([label, value])
    # A spreadsheet has no page footer: the file says what its times are, as the PDF does (found by a probe).
    w.writerow([_("Times are shown in Beijing time (Asia/Shanghai). Amounts in CNY.")])
    w.writerow([])
    for label, value in summary_rows(statement):
        w.writerow([label, _plain(value)])
    w.writerow([])
    w.writerow([_("Cash movements")])
    w.writerow(
        [_("Time"), _("Type"), _("Details"), _("Amount"), _("Fee"), _("Balance"), _("Ledger entry"), _("Record no.")]
    )
    w.writerow(["", _("Opening cash"), "", "", "", _plain(statement.opening_cash), "", ""])
    for m in statement.movements:
        w.writerow(
            [
                _time(m.at),
                movement_label(m.kind),
                movement_details(m),
                _plain(m.amount),
                _plain(m.fee),
                _plain(m.balance),
                m.entry_id,
                "" if m.leaf_index is None else m.leaf_index,
            ]
        )
    w.writerow(["", _("Closing cash"), "", "", "", _plain(statement.closing_cash), "", ""])
    w.writerow([])
    w.writerow([_("Trades")])
    w.writerow(_trade_headers())
    for t in statement.trades:
        w.writerow(_trade_row(t, _plain))
    w.writerow([])
    w.writerow([_("Holdings at %(moment)s") % {"moment": statement.holdings_at}])
    w.writerow([_("Security"), _("Name"), _("Quantity")])
    for h in statement.holdings:
        w.writerow([h.security, h.name, h.quantity])
    return out.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------
# PDF


def pdf_fonts() -> None:
    """Register the PDF's fonts once: Vera for Latin, Noto Sans SC for Chinese, both TrueType, both embedded."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    registered = pdfmetrics.getRegisteredFontNames()
    if LATIN not in registered:
        pdfmetrics.registerFont(TTFont(LATIN, "Vera.ttf"))
        pdfmetrics.registerFont(TTFont(LATIN_BOLD, "VeraBd.ttf"))
    if CJK not in registered:
        pdfmetrics.registerFont(TTFont(CJK, str(cjk_regular())))
    if CJK_BOLD not in registered:
        pdfmetrics.registerFont(TTFont(CJK_BOLD, str(cjk_bold())))


def _latin_has(char: str) -> bool:
    from reportlab.pdfbase import pdfmetrics

    return ord(char) in pdfmetrics.getFont(LATIN).face.charToGlyph


def pdf_runs(text: str) -> list[tuple[str, str]]:
    """``text`` cut into (font, text) runs: Vera where it has the glyph, Noto Sans SC for the rest."""
    pdf_fonts()
    runs: list[tuple[str, str]] = []
    for char in text:
        font = LATIN if char in " \n\t" or _latin_has(char) else CJK
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def pdf_markup(text: str, *, bold: bool = False) -> str:
    """``text`` as paragraph markup, its Chinese runs in the CJK font (the paragraph's own font is Vera, or Vera
    Bold: then the CJK runs are bold too)."""
    cjk = CJK_BOLD if bold else CJK
    return "".join(
        escape(chunk) if font == LATIN else f'<font name="{cjk}">{escape(chunk)}</font>'
        for font, chunk in pdf_runs(text)
    )


def _draw_right(canvas, x: float, y: float, text: str, size: float) -> None:
    """A footer line ending at ``x``, each run in its font."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    runs = pdf_runs(text)
    x -= sum(stringWidth(chunk, font, size) for font, chunk in runs)
    for font, chunk in runs:
        canvas.setFont(font, size)
        canvas.drawString(x, y, chunk)
        x += stringWidth(chunk, font, size)


class _Pdf:
    """The look shared by the statement and the certificate: styles, tables, the footer."""

    def __init__(self) -> None:
        from reportlab.lib import colors
        from reportlab.lib.enums import TA_RIGHT
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm

        pdf_fonts()
        self.mm, self.page = mm, A4
        self.width = A4[0] - 30 * mm
        self.body = ParagraphStyle("body", fontName=LATIN, fontSize=8.5, leading=11)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=7.5, leading=9.5)
        self.cell_right = ParagraphStyle("cell_right", parent=self.cell, alignment=TA_RIGHT)
        self.title = ParagraphStyle(
            "title", parent=self.body, fontName=LATIN_BOLD, fontSize=15, leading=20, spaceAfter=4
        )
        self.heading = ParagraphStyle(
            "heading", parent=self.body, fontName=LATIN_BOLD, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4
        )
        self.ink, self.line, self.shade = (
            colors.HexColor("#1c2430"),
            colors.HexColor("#c5ced8"),
            colors.HexColor("#eef2f7"),
        )
        self.muted = colors.HexColor("#5f6b7a")

    def p(self, text, style=None):
        from reportlab.platypus import Paragraph

        style = style or self.cell
        return Paragraph(pdf_markup(str(text), bold=style.fontName == LATIN_BOLD), style)

    def grid(self, rows, widths, *, numeric_cols=(), bold_last=False):
        from reportlab.platypus import Table, TableStyle

        cells = [
            [
                cell
                if not isinstance(cell, str)
                else self.p(cell, self.cell_right if col in numeric_cols else self.cell)
                for col, cell in enumerate(row)
            ]
            for row in rows
        ]
        table = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
        style = [
            ("FONT", (0, 0), (-1, -1), LATIN, 7.5),
            ("TEXTCOLOR", (0, 0), (-1, -1), self.ink),
            ("BACKGROUND", (0, 0), (-1, 0), self.shade),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, self.line),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, self.line),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        if bold_last:
            style.append(("BACKGROUND", (0, -1), (-1, -1), self.shade))
        table.setStyle(TableStyle(style))
        return table

    def facts(self, rows):
        from reportlab.platypus import Table, TableStyle

        mm = self.mm
        table = Table(
            [[self.p(label, self.body), self.p(value, self.body)] for label, value in rows],
            colWidths=[30 * mm, self.width - 30 * mm],
            hAlign="LEFT",
        )
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), LATIN, 8.5),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ]
            )
        )
        return table

    def build(self, story, *, title: str, author: str, footer: str) -> bytes:
        from reportlab.platypus import SimpleDocTemplate

        mm = self.mm

        def on_page(canvas, doc) -> None:
            canvas.saveState()
            canvas.setFillColor(self.muted)
            _draw_right(canvas, self.page[0] - 15 * mm, 10 * mm, footer % {"page": doc.page}, 7.5)
            canvas.restoreState()

        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=self.page,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=18 * mm,
            title=title,
            author=author,
            # The canvas starts in Vera, so the file names no font it does not embed (reportlab's is Helvetica).
            initialFontName=LATIN,
            initialFontSize=8.5,
        )
        doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
        return buffer.getvalue()


def _footer(account_code: str) -> str:
    # "%(page)s" is filled in per page by _Pdf.build.
    return _("%(account)s · page %(page)s") % {"account": account_code, "page": "%(page)s"}


def statement_pdf(statement: Statement) -> bytes:
    from reportlab.platypus import Spacer

    pdf = _Pdf()
    mm, width, p = pdf.mm, pdf.width, pdf.p
    story = [
        p(_("Client statement"), pdf.title),
        pdf.facts(_header_rows(statement)),
        p(_("Summary (CNY)"), pdf.heading),
    ]
    summary = [[_("Item"), _("Amount")]] + [[label, _grouped(value)] for label, value in summary_rows(statement)]
    story.append(pdf.grid(summary, [60 * mm, 35 * mm], numeric_cols=(1,), bold_last=True))

    story.append(p(_("Cash movements"), pdf.heading))
    rows = [[_("Time"), _("Type"), _("Details"), _("Amount"), _("Fee"), _("Balance")]]
    rows.append(["", _("Opening cash"), "", "", "", _grouped(statement.opening_cash)])
    for m in statement.movements:
        rows.append(
            [
                _time(m.at),
                movement_label(m.kind),
                movement_details(m),
                _grouped(m.amount),
                _grouped(m.fee) if m.fee else "",
                _grouped(m.balance),
            ]
        )
    rows.append(["", _("Closing cash"), "", "", "", _grouped(statement.closing_cash)])
    story.append(
        pdf.grid(
            rows,
            [28 * mm, 22 * mm, width - 28 * mm - 22 * mm - 3 * 24 * mm, 24 * mm, 24 * mm, 24 * mm],
            numeric_cols=(3, 4, 5),
            bold_last=True,
        )
    )

    story.append(p(_("Trades"), pdf.heading))
    if statement.trades:
        trade_rows = [_trade_headers()] + [_trade_row(t, _grouped) for t in statement.trades]
        widths = [28 * mm, 14 * mm, 16 * mm, 12 * mm, 16 * mm, 16 * mm, 22 * mm, 16 * mm, 18 * mm]
        widths.append(width - sum(widths))
        story.append(pdf.grid(trade_rows, widths, numeric_cols=(1, 4, 5, 6, 7)))
    else:
        story.append(p(_("No trades in this period."), pdf.body))

    story.append(p(_("Holdings at %(moment)s") % {"moment": statement.holdings_at}, pdf.heading))
    story.append(_holdings_table(pdf, statement.holdings))
    story += [
        Spacer(1, 6 * mm),
        p(
            _(
                "Built from the exchange's ledger: every amount above is a ledger entry (deposit, withdrawal, "
                "settlement). Times are Beijing time."
            ),
            pdf.body,
        ),
    ]
    return pdf.build(
        story,
        title=f"{_('Client statement')} {statement.account.code} {statement.start}–{statement.end}",
        author=statement.account.broker.name if statement.account.broker else "",
        footer=_footer(statement.account.code),
    )


def _holdings_table(pdf: _Pdf, holdings):
    """Security, name and quantity of each holding (the statement's and the certificate's), or a line saying
    there are none."""
    mm, width = pdf.mm, pdf.width
    if not holdings:
        return pdf.p(_("No holdings."), pdf.body)
    rows = [[_("Security"), _("Name"), _("Quantity")]]
    rows += [[h.security, h.name, f"{h.quantity:,}"] for h in holdings]
    return pdf.grid(rows, [22 * mm, width - 22 * mm - 30 * mm, 30 * mm], numeric_cols=(2,))


def certificate_pdf(certificate: Certificate) -> bytes:
    """The annual holdings certificate: who, at which date, which securities and how many shares."""
    from reportlab.platypus import Spacer

    pdf = _Pdf()
    mm, p = pdf.mm, pdf.p
    account = certificate.account
    broker = account.broker
    title = _("Holdings certificate %(year)s") % {"year": certificate.year}
    facts = [
        (_("Account"), account.code),
        (_("Name"), names.holder_name(account)),
        (_("Broker"), f"{broker.code} {broker.name}" if broker else ""),
        (_("Holdings at"), holdings_moment(certificate.as_of, certificate.generated_at)),
        (_("Generated"), _time(certificate.generated_at)),
    ]
    story = [p(title, pdf.title), pdf.facts(facts), p(_("Securities held"), pdf.heading)]
    story.append(_holdings_table(pdf, certificate.holdings))
    story += [
        Spacer(1, 6 * mm),
        p(_certified(certificate), pdf.body),
    ]
    return pdf.build(
        story,
        title=f"{title} {account.code}",
        author=broker.name if broker else "",
        footer=_footer(account.code),
    )


def _certified(certificate: Certificate) -> str:
    """What the certificate certifies: the holdings at the end of a day that was over when it was made, or, while
    the day is not over, as at the moment they were read (it said "at the end of the date shown" beside "the day is
    not over", found by a walk-through)."""
    if day_over(certificate.as_of, certificate.generated_at):
        return _(
            "This certifies that the account above held the securities listed, as recorded in the exchange's "
            "ledger (issues and settlements) at the end of the date shown."
        )
    return _(
        "This certifies that the account above held the securities listed, as recorded in the exchange's "
        "ledger (issues and settlements) as at %(date)s %(time)s (Beijing time), when they were read; "
        "the day is not over."
    ) % {
        "date": certificate.as_of.isoformat(),
        "time": certificate.generated_at.astimezone(BEIJING).strftime("%H:%M:%S"),
    }


def certificate_csv(certificate: Certificate) -> bytes:
    out = io.StringIO()
    w = spreadsheet.Writer(out, lineterminator="\r\n")
    w.writerow([_("Holdings certificate %(year)s") % {"year": certificate.year}])
    w.writerow([_("Account"), certificate.account.code])
    w.writerow([_("Holdings at"), holdings_moment(certificate.as_of, certificate.generated_at)])
    w.writerow([])
    w.writerow([_("Security"), _("Name"), _("Quantity")])
    for h in certificate.holdings:
        w.writerow([h.security, h.name, h.quantity])
    return out.getvalue().encode("utf-8-sig")
