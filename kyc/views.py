"""KYC pages: online registration, the investor's account opening, the broker's review queue,
ID documents, and the regulator's identity reveal.

Each page reads through ``kyc.selectors`` and writes through ``kyc.services``;
a service error becomes a form error or a message. Who may see a profile is
``selectors.profiles_visible``: a profile outside it is "not found" (404), so
its existence does not leak across brokers. Masked data only, everywhere,
except the one response that shows a regulator the identity they revealed,
which is never cached.
"""

from __future__ import annotations

import io
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.audit import client_ip
from core.errors import DomainError
from core.forms import add_service_error, form_refusal_noted, report_refusal
from core.labels import choice_label
from core.models import Role
from core.permissions import role_required
from registry import profile as venue_profile

from . import questionnaire, selectors, services
from .forms import (
    DocumentForm,
    IdentityForm,
    QualificationForm,
    QuestionnaireForm,
    RegistrationForm,
    RejectForm,
    RevealForm,
)
from .models import KycDocument, KycProfile
from .throttles import RegistrationThrottle

PAGE_SIZE = 50

HISTORY_STEPS = {
    "kyc_register": _("Registered online"),
    "kyc_open_at_counter": _("Opened at the counter"),
    "kyc_update": _("Personal data changed"),
    "kyc_assess": _("Questionnaire answered"),
    "kyc_qualify": _("Qualified-investor attestation"),
    "kyc_document_add": _("Document uploaded"),
    "kyc_document_view": _("Document opened"),
    "kyc_apply": _("Application sent by the investor"),
    "kyc_submit": _("Submitted for approval"),
    "kyc_approve": _("Approval"),
    "kyc_reject": _("Rejected"),
    "kyc_expire": _("Assessment expired"),
}


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"


# --------------------------------------------------------------------------
# What a profile looks like on a page (masked)


def _answers(profile: KycProfile) -> list[dict]:
    rows = []
    for q in questionnaire.QUESTIONS:
        chosen = profile.risk_answers.get(q["key"])
        text = next((str(t) for key, t, _p in q["options"] if key == chosen), "")
        rows.append({"question": str(q["text"]), "answer": text})
    return rows


def badge_of(state: str, applied_at, reviewed_at) -> tuple[str, str]:
    """One status for the badge: (css key, label). An application the investor has sent and nobody has taken
    up yet is "Sent, awaiting review", not "Draft" (or "Rejected"/"Expired" when it was sent again after that).
    The counter's client list shows the same (``counter.views``)."""
    if state in services.EDITABLE and services.sent_since_review(applied_at, reviewed_at):
        return "sent", gettext("Sent, awaiting review")
    return state, choice_label(KycProfile.State, state)


def status_badge(profile: KycProfile) -> tuple[str, str]:
    return badge_of(profile.state, profile.applied_at, profile.reviewed_at)


def profile_view(profile: KycProfile, *, mask_name: bool = False) -> dict:
    now = timezone.now()
    account = getattr(profile.user, "account", None)
    badge, badge_label = status_badge(profile)
    return {
        "badge": badge,
        "badge_label": badge_label,
        "id": profile.pk,
        "username": profile.user.username,
        "account": account.code if account else "",
        "broker": profile.broker,
        "state": profile.state,
        "state_label": choice_label(KycProfile.State, profile.state),
        "real_name": profile.real_name_masked if mask_name else profile.real_name,
        "id_type_label": choice_label(KycProfile.IdType, profile.id_type),
        "id_number": profile.id_number_masked,
        "phone": profile.phone_masked,
        "address": profile.address_masked,
        "level": f"C{profile.risk_level}" if profile.risk_level else None,
        "score": profile.risk_score,
        "max_score": questionnaire.MAX_SCORE,
        "assessed_at": profile.assessed_at,
        "expires_at": profile.expires_at,
        "assessment_expired": profile.expires_at is not None and profile.expires_at <= now,
        "qualified": profile.qualified_investor,
        "qualified_evidence": profile.qualified_evidence,
        # The venue's rules admit qualified individuals only: the attestation is a step, not an option.
        "qualification_required": venue_profile.current().individuals_qualified_only,
        "venue_profile": venue_profile.current().name,
        "rejection_reason": profile.rejection_reason,
        "applied_at": profile.applied_at,
        "awaiting_review": services.awaiting_review(profile),
        "entered_by": profile.entered_by,
        "last_edited_by": profile.last_edited_by,
        "submitted_by": profile.submitted_by,
        "submitted_at": profile.submitted_at,
        "reviewed_by": profile.reviewed_by,
        "reviewed_at": profile.reviewed_at,
        "opened_at_counter": profile.entered_by_id != profile.user_id,
        "created_at": profile.created_at,
        "editable": profile.state in services.EDITABLE,
    }


def _documents(profile: KycProfile) -> list[dict]:
    return [
        {
            "id": d.pk,
            "kind_label": choice_label(KycDocument.Kind, d.kind),
            "name": d.original_name,
            "content_type": d.content_type,
            "size": _size(d.size),
            "uploaded_by": d.uploaded_by,
            "uploaded_at": d.uploaded_at,
            "url": reverse("kyc-document", args=[d.pk]),
        }
        for d in profile.documents.select_related("uploaded_by").order_by("uploaded_at", "pk")
    ]


def _workspace(request, profile: KycProfile, *, staff: bool, forms: dict | None = None, status: int = 200):
    """The account-opening page of one profile: the investor's own, or a staff member's at the counter."""
    forms = forms or {}
    view = profile_view(profile)
    base = reverse("kyc-application", args=[profile.pk]) if staff else reverse("kyc-me")
    answers_initial = dict(profile.risk_answers) if profile.risk_answers else None
    context = {
        "profile": view,
        "documents": _documents(profile),
        "answers": _answers(profile) if profile.risk_level else [],
        "staff": staff,
        "base": base,
        "identity_form": forms.get("identity")
        or IdentityForm(initial={"real_name": profile.real_name, "id_type": profile.id_type}),
        "questionnaire_form": forms.get("questionnaire") or QuestionnaireForm(initial=answers_initial),
        "document_form": forms.get("documents") or DocumentForm(),
        "qualification_form": forms.get("qualification")
        or QualificationForm(initial={"qualified": profile.qualified_investor, "evidence": profile.qualified_evidence}),
        "reject_form": forms.get("reject") or RejectForm(),
        "open": next(iter(forms), None),
        "has_id_front": any(d.kind == KycDocument.Kind.ID_FRONT for d in profile.documents.all()),
        "assessment_days": settings.KYC_ASSESSMENT_DAYS,
    }
    if staff:
        # Staff record the investor's attestation: "I am a qualified investor" read as the staff member's own.
        context["qualification_form"].fields["qualified"].label = gettext("The investor is a qualified investor")
        context["history"] = [
            {
                "at": e.at,
                "who": e.actor_username,
                "step": str(HISTORY_STEPS.get(e.action, e.action)),
                "ok": e.outcome == "ok",
            }
            for e in selectors.profile_history(profile)
        ]
        context["is_maker"] = services.is_maker(request.user, profile)
    return render(request, "kyc/profile.html", context, status=status)


# --------------------------------------------------------------------------
# Online registration


@never_cache
def register(request):
    if request.user.is_authenticated:
        return redirect("kyc-me" if request.user.role == Role.INVESTOR else "market")
    form = RegistrationForm(request.POST or None)
    throttle = RegistrationThrottle()
    if request.method == "POST" and not throttle.allow_request(request, None):
        form.is_valid()  # bound, so the page shows what was typed
        # When to try again, not only "later" (found by a walk-through: the refusal said no time).
        minutes = max(1, math.ceil((throttle.wait() or 60) / 60))
        form.add_error(
            None,
            ngettext(
                "Too many registrations from your address. Try again in %(minutes)s minute.",
                "Too many registrations from your address. Try again in %(minutes)s minutes.",
                minutes,
            )
            % {"minutes": minutes},
        )
        return render(request, "kyc/register.html", _register_context(form), status=429)
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.kyc_register(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                broker=form.cleaned_data["broker"],
                identity=form.identity(),
                entered_by=None,
                ip=client_ip(request),
            )
        except DomainError as exc:
            add_service_error(form, exc)
        else:
            login(request, profile.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                gettext("Welcome. Your account %(account)s is open; complete the steps below to start trading.")
                % {"account": profile.user.account.code},
            )
            return redirect("kyc-me")
    return render(request, "kyc/register.html", _register_context(form))


def _register_context(form) -> dict:
    """The registration page says up front when the venue's rules admit qualified investors only (found by a
    walk-through: a newcomer under cn-regional-2017 learnt it only after registering). The profile itself comes from
    the context processor, as on every page: a ``venue_profile`` here, its name alone, left the footer's "Venue
    rules:" with nothing after it (found by a walk)."""
    return {"form": form, "qualification_required": venue_profile.current().individuals_qualified_only}


# --------------------------------------------------------------------------
# The investor's own account opening


@login_required
@never_cache
def me(request):
    if request.user.role != Role.INVESTOR:
        raise PermissionDenied
    profile = selectors.profile_of(request.user)
    if profile is None:
        return render(request, "kyc/no_profile.html")
    return _workspace(request, profile, staff=False)


def _run_edit(request, profile: KycProfile, action: str):
    """Carry out one edit of a profile for its investor or a staff member. Returns a response."""
    actor, ip = request.user, client_ip(request)
    staff = actor.role == Role.BROKER_STAFF
    back = reverse("kyc-application", args=[profile.pk]) if staff else reverse("kyc-me")
    forms_by_action = {
        "identity": lambda: IdentityForm(request.POST),
        "questionnaire": lambda: QuestionnaireForm(request.POST),
        "documents": lambda: DocumentForm(request.POST, request.FILES),
        "qualification": lambda: QualificationForm(request.POST),
        "reject": lambda: RejectForm(request.POST),
    }
    form = forms_by_action[action]() if action in forms_by_action else None
    if form is not None and not form.is_valid():
        return _workspace(request, profile, staff=staff, forms={action: form})
    data = form.cleaned_data if form is not None else {}
    try:
        if action == "identity":
            services.kyc_update_identity(actor=actor, profile_id=profile.pk, identity=form.identity(), ip=ip)
            done = gettext("Your personal data was saved.") if not staff else gettext("The personal data was saved.")
        elif action == "questionnaire":
            saved = services.kyc_assess(actor=actor, profile_id=profile.pk, answers=form.answers(), ip=ip)
            done = gettext("Questionnaire saved: investor level C%(level)s, valid until %(date)s.") % {
                "level": saved.risk_level,
                # The moment, not the day: it ends at the time of day it was taken (found by a probe: "valid until
                # 2028-12-06" and refused at 10:15 on 2028-12-06).
                "date": timezone.localtime(saved.expires_at).strftime("%Y-%m-%d %H:%M"),
            }
        elif action == "documents":
            services.kyc_document_add(actor=actor, profile_id=profile.pk, kind=data["kind"], upload=data["file"], ip=ip)
            done = gettext("The document was uploaded.")
        elif action == "qualification":
            services.kyc_qualify(
                actor=actor, profile_id=profile.pk, qualified=data["qualified"], evidence=data["evidence"], ip=ip
            )
            done = gettext("The qualified-investor attestation was saved.")
        elif action == "apply":
            waiting = services.awaiting_review(profile)
            services.kyc_apply(actor=actor, profile_id=profile.pk, ip=ip)
            done = (
                gettext("Your application is already with your broker, waiting for review.")
                if waiting
                else gettext("Your application was sent to your broker for review.")
            )
        elif action == "submit":
            services.kyc_submit(staff=actor, profile_id=profile.pk, ip=ip)
            done = gettext("Submitted for approval. A second staff member must approve it.")
        elif action == "approve":
            services.kyc_approve(staff=actor, profile_id=profile.pk, ip=ip)
            done = gettext("Approved. The investor may trade.")
        elif action == "reject":
            services.kyc_reject(staff=actor, profile_id=profile.pk, reason=data["reason"], ip=ip)
            done = gettext("Rejected. The investor sees the reason.")
        else:  # pragma: no cover - the URL patterns name the actions
            raise Http404
    except DomainError as exc:
        # A maker's rejection is refused as their approval is: a message, the form is not theirs to see.
        if form is not None and not isinstance(exc, services.MakerChecker):
            add_service_error(form, exc)
            return _workspace(request, profile, staff=staff, forms={action: form})
        report_refusal(request, exc)
        return redirect(back)
    messages.success(request, done)
    return redirect(back)


INVESTOR_ACTIONS = {"identity", "questionnaire", "documents", "qualification", "apply"}
STAFF_ACTIONS = {"identity", "questionnaire", "documents", "qualification", "submit", "approve", "reject"}


@login_required
@require_POST
def me_action(request, action: str):
    if request.user.role != Role.INVESTOR or action not in INVESTOR_ACTIONS:
        raise Http404
    profile = selectors.profile_of(request.user)
    if profile is None:
        raise Http404
    return _run_edit(request, profile, action)


# --------------------------------------------------------------------------
# Broker staff: the review queue and one application


def _staff_profile(request, profile_id: int) -> KycProfile:
    profile = selectors.profiles_visible(request.user).filter(pk=profile_id).first()
    if profile is None:
        raise Http404
    return profile


@role_required(Role.BROKER_STAFF)
def queue(request):
    tab = "all" if request.GET.get("tab") == "all" else "queue"
    search = request.GET.get("q", "")[:100]
    state = request.GET.get("state", "")
    state = state if state in KycProfile.State.values else ""
    qs = selectors.applications_for(request.user, queue=tab == "queue", state=state or None, search=search)
    page = Paginator(qs.annotate(n_documents=Count("documents")), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            **profile_view(p),
            "url": reverse("kyc-application", args=[p.pk]),
            "documents": p.n_documents,
            "updated_at": p.updated_at,
        }
        for p in page
    ]
    return render(
        request,
        "kyc/queue.html",
        {
            "rows": rows,
            "page": page,
            "tab": tab,
            "search": search,
            "state": state,
            "states": KycProfile.State.choices,
            "waiting": selectors.applications_for(request.user, queue=True).count(),
        },
    )


@role_required(Role.BROKER_STAFF)
@never_cache
def application(request, profile_id: int):
    return _workspace(request, _staff_profile(request, profile_id), staff=True)


@role_required(Role.BROKER_STAFF)
@require_POST
def application_action(request, profile_id: int, action: str):
    if action not in STAFF_ACTIONS:
        raise Http404
    return _run_edit(request, _staff_profile(request, profile_id), action)


# --------------------------------------------------------------------------
# ID documents, served only to those allowed


@login_required
def document(request, document_id: int):
    try:
        doc, data = services.kyc_document_open(actor=request.user, document_id=document_id, ip=client_ip(request))
    except services.RevealRequired as exc:
        context = {"status": 403, "message": exc.message, "next_url": reverse("kyc-reveal")}
        return render(request, "error.html", {**context, "next_label": gettext("Identity reveal")}, status=403)
    except services.DocumentUnreadable as exc:
        return render(request, "error.html", {"status": 409, "message": exc.message}, status=409)
    except DomainError as exc:
        raise Http404 from exc
    response = FileResponse(
        io.BytesIO(data), content_type=doc.content_type, as_attachment=False, filename=doc.original_name
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --------------------------------------------------------------------------
# The regulator: identity reveal, and the reveal log (also for auditors)


def _reveal_page(request, *, forms: dict | None = None, status: int = 200):
    query = request.GET.get("q", "")[:100] if request.method == "GET" else request.POST.get("q", "")[:100]
    is_regulator = request.user.role == Role.REGULATOR
    results = []
    if is_regulator and query.strip():
        for p in selectors.profile_find(query=query)[:20]:
            form = (forms or {}).get(p.pk) or RevealForm(prefix=f"r{p.pk}")
            results.append({**profile_view(p, mask_name=True), "form": form})
    page = Paginator(selectors.reveals_visible(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "kyc/reveal.html",
        {
            "query": query,
            "results": results,
            "searched": bool(query.strip()),
            "is_regulator": is_regulator,
            "page": page,
        },
        status=status,
    )


@role_required(Role.REGULATOR, Role.AUDITOR)
@never_cache
def reveal(request):
    return _reveal_page(request)


@role_required(Role.REGULATOR)
@never_cache
def reveal_do(request, profile_id: int):
    if request.method != "POST":
        # Reached by a GET (the language switch reloads the page it was on): the identity is shown once, on the
        # POST that recorded the reveal; back to the reveal page, where a new reveal is one click away.
        return redirect("kyc-reveal")
    profile = KycProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        raise Http404
    form = RevealForm(request.POST, prefix=f"r{profile.pk}")
    if form.is_valid():
        try:
            shown = services.identity_reveal(
                regulator=request.user, profile_id=profile.pk, reason=form.cleaned_data["reason"], ip=client_ip(request)
            )
        except DomainError as exc:
            add_service_error(form, exc)
        else:
            # Recorded: the identity is shown on a page of its own (a reload or a language switch there shows this
            # reveal again, where re-posting the form recorded a second one).
            return redirect("kyc-revealed", reveal_id=shown["reveal"])
    form_refusal_noted(form)  # a reveal its form refused (no reason): on the audit trail, as the API's
    return _reveal_page(request, forms={profile.pk: form}, status=400)


@role_required(Role.REGULATOR)
@never_cache
def revealed(request, reveal_id: int):
    """The identity a reveal of this regulator recorded, within the hour its documents stay open."""
    try:
        reveal, shown = services.identity_reveal_again(regulator=request.user, reveal_id=reveal_id)
    except DomainError as exc:
        report_refusal(request, exc)
        return redirect("kyc-reveal")
    shown["id_type_label"] = choice_label(KycProfile.IdType, shown["id_type"])
    profile = reveal.profile
    return render(
        request,
        "kyc/revealed.html",
        {
            "shown": shown,
            "reason": reveal.reason,
            "at": reveal.at,
            "profile": profile_view(profile),
            "documents": _documents(profile),  # open for KYC_REVEAL_DOCUMENT_SECONDS after this reveal
        },
    )
