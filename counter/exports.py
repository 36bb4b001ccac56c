"""A client statement as CSV and as PDF, in the active language.

The CSV is for people (a spreadsheet): labelled sections, amounts as plain
decimals without thousands separators, UTF-8 with a byte order mark so that
spreadsheet programs read Chinese correctly. Programs read the JSON form of
the API instead, whose keys do not change with the language.

The PDF uses reportlab's built-in CID font STSong-Light, which every PDF
reader provides, so Chinese names print without embedding a font file.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from exchange.models import Order, Trade

from .selectors import BEIJING, CashMovement, Movement, Statement, TradeView

FONT = "STSong-Light"


def movement_label(kind: str) -> str:
    return {
        Movement.DEPOSIT: _("Deposit"),
        Movement.WITHDRAWAL: _("Withdrawal"),
        Movement.BUY: _("Purchase settled"),
        Movement.SELL: _("Sale settled"),
        Movement.NET: _("Net settlement"),
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
        (_("Fees (included above)"), t["fees"]),
        (_("Closing cash"), statement.closing_cash),
    ]


def _header_rows(statement: Statement) -> list[tuple[str, str]]:
    account = statement.account
    broker = account.broker
    return [
        (_("Account"), account.code),
        (_("Name"), getattr(account, "real_name", None) or account.name),
        (_("Broker"), f"{broker.code} {broker.name}" if broker else ""),
        (_("Period"), f"{statement.start.isoformat()} – {statement.end.isoformat()}"),
        (_("Currency"), "CNY"),
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
        status_label(t.status),
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
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([_("Client statement")])
    for label, value in _header_rows(statement):
        w.writerow([label, value])
    w.writerow([])
    for label, value in summary_rows(statement):
        w.writerow([label, _plain(value)])
    w.writerow([])
    w.writerow([_("Cash movements")])
    w.writerow([_("Time"), _("Type"), _("Details"), _("Amount"), _("Fee"), _("Balance"), _("Ledger entry"), _("Leaf")])
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
    w.writerow([_("Holdings at %(date)s") % {"date": statement.end.isoformat()}])
    w.writerow([_("Security"), _("Name"), _("Quantity")])
    for h in statement.holdings:
        w.writerow([h.security, h.name, h.quantity])
    return out.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------
# PDF


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def statement_pdf(statement: Statement) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _font()
    body = ParagraphStyle("body", fontName=font, fontSize=8.5, leading=11)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.5)
    title = ParagraphStyle("title", parent=body, fontSize=15, leading=20, spaceAfter=4)
    heading = ParagraphStyle("heading", parent=body, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    ink, line, shade = colors.HexColor("#1c2430"), colors.HexColor("#c5ced8"), colors.HexColor("#eef2f7")

    def p(text: str, style=cell) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    def grid(rows, widths, *, numeric_cols=(), bold_last=False) -> Table:
        table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
        style = [
            ("FONT", (0, 0), (-1, -1), font, 7.5),
            ("TEXTCOLOR", (0, 0), (-1, -1), ink),
            ("BACKGROUND", (0, 0), (-1, 0), shade),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, line),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, line),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        for col in numeric_cols:
            style.append(("ALIGN", (col, 0), (col, -1), "RIGHT"))
        if bold_last:
            style.append(("BACKGROUND", (0, -1), (-1, -1), shade))
        table.setStyle(TableStyle(style))
        return table

    width = A4[0] - 30 * mm
    story = [p(_("Client statement"), title)]
    facts = [[p(label, body), p(value, body)] for label, value in _header_rows(statement)]
    facts_table = Table(facts, colWidths=[30 * mm, width - 30 * mm], hAlign="LEFT")
    facts_table.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    story += [facts_table, p(_("Summary (CNY)"), heading)]
    summary = [[_("Item"), _("Amount")]] + [[label, _grouped(value)] for label, value in summary_rows(statement)]
    story.append(grid(summary, [60 * mm, 35 * mm], numeric_cols=(1,), bold_last=True))

    story.append(p(_("Cash movements"), heading))
    rows = [[_("Time"), _("Type"), _("Details"), _("Amount"), _("Fee"), _("Balance")]]
    rows.append(["", _("Opening cash"), "", "", "", _grouped(statement.opening_cash)])
    for m in statement.movements:
        rows.append(
            [
                _time(m.at),
                p(movement_label(m.kind)),
                p(movement_details(m)),
                _grouped(m.amount),
                _grouped(m.fee) if m.fee else "",
                _grouped(m.balance),
            ]
        )
    rows.append(["", _("Closing cash"), "", "", "", _grouped(statement.closing_cash)])
    story.append(
        grid(
            rows,
            [28 * mm, 22 * mm, width - 28 * mm - 22 * mm - 3 * 24 * mm, 24 * mm, 24 * mm, 24 * mm],
            numeric_cols=(3, 4, 5),
            bold_last=True,
        )
    )

    story.append(p(_("Trades"), heading))
    if statement.trades:
        trade_rows = [_trade_headers()] + [_trade_row(t, _grouped) for t in statement.trades]
        widths = [28 * mm, 12 * mm, 16 * mm, 12 * mm, 16 * mm, 16 * mm, 22 * mm, 16 * mm, 18 * mm]
        widths.append(width - sum(widths))
        story.append(grid(trade_rows, widths, numeric_cols=(1, 4, 5, 6, 7)))
    else:
        story.append(p(_("No trades in this period."), body))

    story.append(p(_("Holdings at %(date)s") % {"date": statement.end.isoformat()}, heading))
    if statement.holdings:
        holding_rows = [[_("Security"), _("Name"), _("Quantity")]]
        holding_rows += [[h.security, p(h.name), f"{h.quantity:,}"] for h in statement.holdings]
        story.append(grid(holding_rows, [22 * mm, width - 22 * mm - 30 * mm, 30 * mm], numeric_cols=(2,)))
    else:
        story.append(p(_("No holdings."), body))
    story += [
        Spacer(1, 6 * mm),
        p(
            _(
                "Built from the exchange's ledger: every amount above is a ledger entry (deposit, withdrawal, "
                "settlement). Times are Beijing time."
            ),
            body,
        ),
    ]

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColor(colors.HexColor("#5f6b7a"))
        canvas.drawRightString(
            A4[0] - 15 * mm,
            10 * mm,
            _("%(account)s · page %(page)s") % {"account": statement.account.code, "page": doc.page},
        )
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{_('Client statement')} {statement.account.code} {statement.start}–{statement.end}",
        author=statement.account.broker.name if statement.account.broker else "",
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
