"""An investor's own statements and holdings certificates (pages), and the downloads the counter shares.

The same builder (``settlement.statements``) and the same files
(``settlement.statement_exports``) serve the broker counter's statement of a
client and the investor's own: ``statement_response`` and ``statement_context``
are imported by ``counter.views``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from core import errors as err
from core.money import amount_text, shares_text
from exchange.selectors import account_of

from . import statement_exports as exports
from . import statements
from .forms import CertificateForm, StatementForm


def statement_filename(statement: statements.Statement, extension: str) -> str:
    return f"statement-{statement.account.code}-{statement.start:%Y%m%d}-{statement.end:%Y%m%d}.{extension}"


def _download(body: bytes, kind: str, filename: str) -> HttpResponse:
    content_type = "text/csv; charset=utf-8" if kind == "csv" else "application/pdf"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def statement_response(statement: statements.Statement, kind: str) -> HttpResponse:
    """The statement as a CSV or PDF download."""
    body = exports.statement_csv(statement) if kind == "csv" else exports.statement_pdf(statement)
    return _download(body, kind, statement_filename(statement, kind))


def certificate_response(certificate: statements.Certificate, kind: str) -> HttpResponse:
    """The holdings certificate as a PDF (or CSV) download."""
    body = exports.certificate_csv(certificate) if kind == "csv" else exports.certificate_pdf(certificate)
    return _download(body, kind, f"holdings-{certificate.account.code}-{certificate.year}.{kind}")


def statement_context(statement: statements.Statement) -> dict:
    """What the statement templates show, amounts grouped the same way in both languages."""
    return {
        "start": statement.start,
        "end": statement.end,
        "opening": amount_text(statement.opening_cash),
        "closing": amount_text(statement.closing_cash),
        "summary": [(label, amount_text(value)) for label, value in exports.summary_rows(statement)],
        "movements": [
            {
                "at": m.at,
                "kind": m.kind,
                "label": exports.movement_label(m.kind),
                "details": exports.movement_details(m),
                "amount": amount_text(m.amount),
                "negative": m.amount < 0,
                "fee": amount_text(m.fee) if m.fee else "",
                "balance": amount_text(m.balance),
                "entry_id": m.entry_id,
                "leaf_index": m.leaf_index,
            }
            for m in statement.movements
        ],
        "trades": [
            {
                **vars(t),
                "side_label": exports.side_label(t.side),
                "status_label": exports.status_label(t.status),
                "price": amount_text(t.price),
                "value": amount_text(t.value),
                "fee": amount_text(t.fee),
                "quantity": shares_text(t.quantity),
            }
            for t in statement.trades
        ],
        # The moment the CSV and the PDF name, in the same words: the end of the last day, or now while it lasts.
        "holdings_at": statement.holdings_at,
        "holdings": [
            {"security": h.security, "name": h.name, "quantity": shares_text(h.quantity)} for h in statement.holdings
        ],
        "query": urlencode({"start": statement.start.isoformat(), "end": statement.end.isoformat()}),
    }


@login_required
def my_statement(request):
    """The investor's own statement for a period, shown, or downloaded as CSV or PDF."""
    account = account_of(request.user)
    if account is None:
        return render(request, "exchange/no_account.html", {"title": _("Statements")})
    form = StatementForm(request.GET or None, initial=StatementForm.default_period())
    certificate_form = CertificateForm(initial={"year": CertificateForm.default_year(account)}, account=account)
    context = {"account": account, "form": form, "certificate_form": certificate_form, "statement": None}
    if form.is_bound and form.is_valid():
        statement = statements.account_statement(account, form.cleaned_data["start"], form.cleaned_data["end"])
        kind = request.GET.get("format", "html")
        if kind in ("csv", "pdf"):
            return statement_response(statement, kind)
        context["statement"] = statement_context(statement)
    return render(request, "settlement/statement.html", context)


@login_required
def my_certificate(request):
    """The investor's annual holdings certificate as a PDF; a bad year shows the page with the form's error."""
    account = account_of(request.user)
    if account is None:
        return render(request, "exchange/no_account.html", {"title": _("Statements")})
    certificate_form = CertificateForm(request.GET, account=account)
    if certificate_form.is_valid():
        try:
            certificate = statements.holdings_certificate(account, certificate_form.cleaned_data["year"])
        except err.InvalidInput as exc:
            certificate_form.add_error("year", exc.message)
        else:
            return certificate_response(certificate, "csv" if request.GET.get("format") == "csv" else "pdf")
    form = StatementForm(initial=StatementForm.default_period())
    context = {"account": account, "form": form, "certificate_form": certificate_form, "statement": None}
    return render(request, "settlement/statement.html", context, status=400)
