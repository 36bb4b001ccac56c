"""The audit trail pages (auditors and regulators): the filtered list with its CSV export and the evidence
download, and one record with the ledger entry its action wrote."""

from __future__ import annotations

import datetime as dt
import json

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext

from core.audit import client_ip
from core.db.replica import replica_read
from core.errors import DomainError
from core.forms import domain_error_message
from core.labels import OUTCOMES
from core.models import Role
from core.permissions import role_required
from ledger.selectors import head as ledger_head
from ledger.selectors import leaf_indexes_of_entries
from registry.calendar import SHANGHAI

from . import api, selectors

PAGE_SIZE = 50
READERS = tuple(selectors.AUDIT_READERS)


def _query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@role_required(*READERS)
def trail(request):
    return _trail(request, request.GET)


def _trail(request, query, *, evidence_error: str = "", status: int = 200):
    """The trail filtered by ``query`` (the page's own filters), and, after a refused evidence request, its
    reason beside the evidence form with what was typed still in it."""
    error = None
    events = []
    page = None
    try:
        filters = selectors.filters_checked(query, selectors.page_labels())
    except DomainError as exc:
        error, filters = domain_error_message(exc), None
    if filters is not None:
        if query.get("format") == "csv":
            return api.csv_response(filters, params=query, actor=request.user, ip=client_ip(request))
        page, events = replica_read(lambda alias: _events_page(filters, query.get("page"), alias))
    context = {
        "events": events,
        "page": page,
        "error": error,
        "values": {name: query.get(name, "") for name in selectors.FILTERS},
        "roles": Role.choices,
        "outcomes": list(OUTCOMES),
        "actions": replica_read(lambda alias: selectors.actions_known(using=alias)),
        "query": _query_without(request, "page", "format") if query is request.GET else "",
        "evidence_error": evidence_error,
        "verify_command": selectors.verify_command(ledger_head()),
        "evidence_values": {"account": request.GET.get("account", ""), "trade": request.GET.get("trade", "")}
        if evidence_error
        else {},
    }
    return render(request, "auditing/trail.html", context, status=400 if error else status)


@role_required(*READERS)
def event_detail(request, event_id: int):
    event = selectors.AuditEvent.objects.select_related("actor").filter(pk=event_id).first()
    if event is None:
        raise Http404(gettext("No such audit record."))
    context = {
        "event": _shown(event),
        "detail_json": json.dumps(event.detail, ensure_ascii=False, indent=2, sort_keys=True),
        "link": selectors.entry_link_json(selectors.entry_of(event)),
    }
    if context["link"]:
        context["payload_json"] = json.dumps(context["link"]["payload"], ensure_ascii=False, indent=2, sort_keys=True)
        # The entry's time as the record's, in Beijing time (found by a probe: it read as UTC in ISO form beside
        # the record's Beijing time)
        recorded = dt.datetime.fromisoformat(context["link"]["recorded_at"])
        context["link_at_local"] = recorded.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    return render(request, "auditing/event.html", context)


def _events_page(filters: dict, number, alias: str):
    """A page of the trail read on ``alias`` (the replica when usable: a record may show a few seconds late),
    with its count and rows read here, not later in the template."""
    page = Paginator(selectors.events_filtered(filters).using(alias), PAGE_SIZE).get_page(number)
    events = [_shown(e) for e in page.object_list]
    # A sealed entry is named as the ledger's pages name it, by its record (leaf) number, not its row's id (the
    # trail said "#45" of the entry the freeze's page calls record no. 44): the page's leaves in one query.
    leaves = leaf_indexes_of_entries({e["entry_id"] for e in events if e["entry_id"] is not None}, using=alias)
    return page, [{**e, "leaf_index": leaves.get(e["entry_id"])} for e in events]


def _shown(event) -> dict:
    """An audit record as the pages show it: its time in Beijing time, as the footer says."""
    return {**selectors.event_json(event), "at_local": event.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")}


@role_required(*READERS)
def evidence(request):
    try:
        bundle, filename = api.evidence(request.GET, request.user, ip=client_ip(request))
    except DomainError as exc:
        # The trail as it opens (unfiltered), not an empty table that would read as "no records".
        return _trail(request, QueryDict(), evidence_error=domain_error_message(exc), status=exc.status)
    body = json.dumps(bundle, ensure_ascii=False, indent=1, default=str)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
