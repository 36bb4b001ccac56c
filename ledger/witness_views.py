"""The witness node's HTTP interface (NODE_ROLE=witness, ``config.witness_urls``).

``POST add-checkpoint`` is C2SP tlog-witness's one call; no login: the log's signature is the
authentication. ``GET /`` shows the regulator what this witness co-signed and any split-view evidence
(HTML, or JSON for ``Accept: application/json``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from . import witness
from .models import SplitViewEvidence, WitnessedLog


@csrf_exempt
def add_checkpoint(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if int(request.headers.get("Content-Length") or 0) > witness.MAX_BODY:
        return HttpResponse(f"the request is larger than {witness.MAX_BODY} bytes\n", status=413)
    answer = witness.add_checkpoint(request.body)
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)


def status(request):
    logs = list(WitnessedLog.objects.order_by("origin"))
    evidence = list(SplitViewEvidence.objects.order_by("-recorded_at")[:50])
    try:
        vkey = witness.verifier_key()
    except RuntimeError:
        vkey = ""
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "name": settings.WITNESS_NAME,
                "verifier_key": vkey,
                "logs": [
                    {
                        "origin": x.origin,
                        "tree_size": x.tree_size,
                        "checkpoint": x.checkpoint,
                        "updated_at": x.updated_at,
                    }
                    for x in logs
                ],
                "split_views": [
                    {
                        "id": e.id,
                        "origin": e.origin,
                        "kind": e.kind,
                        "held": e.held,
                        "offered": e.offered,
                        "old_size": e.old_size,
                        "proof": e.proof,
                        "recorded_at": e.recorded_at,
                    }
                    for e in evidence
                ],
            }
        )
    return render(
        request,
        "ledger/witness.html",
        {"name": settings.WITNESS_NAME, "verifier_key": vkey, "logs": logs, "evidence": evidence},
    )
