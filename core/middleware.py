"""Middleware of the whole site: answering HEAD without a body, refusing NUL bytes in URLs and forms, keeping
private answers out of caches, and ending idle staff sessions.

* ``reject_nul_bytes``: requests whose path or query string carries a NUL byte are refused with a 400 before
  any view runs. PostgreSQL text cannot hold NUL, so such a value reaching a query (a security code in the
  path, a ``?status=`` filter) raised ValueError and became a 500. So are posted URL-encoded forms (not JSON:
  the serializers' fields refuse NUL) with NUL in a field: many pages read ``request.POST`` raw (a holiday's
  name, an alert's note).
* ``api_query_once``: an API query parameter given twice is a 400 naming it, where Django would read the
  last one (none of the API's parameters is a list).
* ``no_store_private``: every answer to a signed-in user, every API answer and every answer to a form post
  is ``Cache-Control: no-store``, but for one its view marked ``public`` (the same for everyone), so
  balances, personal data and proofs stay out of browser and proxy caches. Static files never get here:
  whitenoise answers them earlier in ``MIDDLEWARE`` with its own long cache.
* ``staff_session_idle_timeout``: a staff member's web session (``core.roles.STAFF_ROLES``) ends after
  ``STAFF_SESSION_IDLE_SECONDS`` without activity; investors and market makers keep Django's session age.
  The last activity is a time in the session. A page's background refresh (a request carrying the
  ``X-Exchange-Poll`` header, sent by ``static/js/poll.js`` and ``settlement.js``) is not activity, or a
  supervisor's market watch left open would never time out.
* ``CommonMiddleware``: Django's, except that a request it sends to its address with a slash keeps its method
  and body: 308, not 301. A client following a 301 turns a POST into a GET (RFC 9110 §15.4.2), so an order
  sent to ``/api/v1/orders`` came back as the list of orders, with a 200 and no order placed.
* ``form_address_opens_its_page``: a browser's GET of an address that only takes a form's post (a deposit, a KYC
  step, a cancel) goes to the nearest page above it (``/counter/C1/deposit/`` to ``/counter/C1/``), where Django
  answered an empty 405 the browser showed as a blank page with no way back. A user gets there without meaning
  to: a form refused with errors is drawn at its post's address, and the language switch (or a reload in the
  address bar) then asks for that address; a session that ended while a form was open sends the post to the
  login page with the form's address as the page to come back to.
* ``staff_second_factor``: a staff member whose session has not passed the second factor
  (``core.twofactor``) reaches only the login, the code and enrolment pages, the logout, the language
  switch and static files; any other page redirects to the code page (which sends a member without a
  device on to enrolment). On the API such a session counts as no session at all, so it cannot read or
  change anything and ``auth/token/`` asks for the code itself.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import (
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponsePermanentRedirect,
    JsonResponse,
    UnreadablePostError,
)
from django.middleware import common
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import escape_leading_slashes, urlencode
from django.utils.translation import gettext_noop

from .api.fields import CONTROL_CHARACTERS, is_password
from .audit import _request as audited_request
from .audit import refusal_audited
from .roles import STAFF_ROLES

# JSON as DRF renders it (UTF-8, not \u escapes), for the answers these middleware give themselves.
PLAIN_JSON = {"ensure_ascii": False}
LAST_ACTIVITY = "_staff_last_activity"  # session key: Unix time, in seconds, of the last request that counted
POLL_HEADER = "X-Exchange-Poll"


def head_without_body(get_response):
    """A HEAD answer carries the headers a GET would, and no body (RFC 9110 §9.3.2). Django leaves that to the
    server, and gunicorn sends the body: a client reading the next answer on a kept-alive connection read it
    as the start of that answer. Outermost in ``MIDDLEWARE``, so it sees the finished answer."""

    def middleware(request):
        response = get_response(request)
        if request.method == "HEAD":
            if response.streaming:
                response.streaming_content = []
            else:
                if not response.has_header("Content-Length"):
                    response["Content-Length"] = str(len(response.content))
                response.content = b""
        return response

    return middleware


def public_answers_shared(get_response):
    """A public answer (its view marked it ``public``: the web font, the ledger's checkpoint and hash tiles) is the
    same for every reader in every language: it does not vary on the ``Cookie`` the session middleware names
    once the session was read, nor on the ``Accept-Language`` and ``Content-Language`` the locale middleware
    adds. Either one split a shared cache's copy per visitor, or kept a CDN from caching it at all. Outside the
    session and locale middlewares, so it sees what they added; an answer that sets a cookie is left alone
    (``no_store_private`` has already made it private)."""

    def middleware(request):
        response = get_response(request)
        cache_control = response.get("Cache-Control", "")
        if "public" in cache_control and "private" not in cache_control and not response.cookies:
            vary = [v.strip() for v in response.get("Vary", "").split(",") if v.strip()]
            kept = [v for v in vary if v.lower() not in ("cookie", "accept-language")]
            if kept:
                response["Vary"] = ", ".join(kept)
            elif "Vary" in response:
                del response["Vary"]
            if "Content-Language" in response:
                del response["Content-Language"]
        return response

    return middleware


def _nul_refused(request, text: str):
    # The URL check runs before LocaleMiddleware: pick the request's language as it would.
    with translation.override(translation.get_language_from_request(request)):
        message = translation.gettext(text)
    if request.path_info.startswith(JSON_ERROR_PATHS):
        return JsonResponse({"code": "invalid_input", "message": message}, status=400, json_dumps_params=PLAIN_JSON)
    return HttpResponseBadRequest(message)


# Where every error is the API's JSON ({code, message}): the API, and the ledger's C2SP tiles and checkpoint, read by
# programs (docs/ledger.md, "Tiles": a misspelt tile path is a JSON 404). A NUL byte in a tile's URL was a 400 in
# text/html (found by a probe).
JSON_ERROR_PATHS = ("/api/", "/ledger/tile/", "/ledger/checkpoint")


def reject_nul_bytes(get_response):
    def middleware(request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return _nul_refused(request, gettext_noop("NUL characters are not allowed in the URL."))
        return get_response(request)

    return middleware


def api_query_once(get_response):
    """An API query parameter given more than once is a 400 naming it: every one of them is a single value,
    and reading the last (Django's ``QueryDict.get``) would answer a question the client did not ask
    (``?tree_size=20&tree_size=21`` proved against 21)."""

    def middleware(request):
        query = request.META.get("QUERY_STRING", "")
        if query and request.path_info.startswith("/api/"):
            seen: set[str] = set()
            for name, _value in parse_qsl(query, keep_blank_values=True):
                if name in seen:
                    with translation.override(translation.get_language_from_request(request)):
                        message = translation.gettext("Give this parameter once.")
                    body = {"code": "invalid_input", "message": f"{name}: {message}", "fields": {name: [message]}}
                    return JsonResponse(body, status=400, json_dumps_params=PLAIN_JSON)
                seen.add(name)
        return get_response(request)

    return middleware


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


_FORM_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


class RejectNulInForms:
    """A page's posted form with a NUL character in a field is a 400; so is one with another control character
    (but tab and line breaks) or a text direction override, which the API refuses too (``core.api.fields``): the
    operations page took a halt reason with an escape sequence and a right-to-left override that the API turned
    away, and every role's screen showed it (found by a security walk). A password field is left as typed: a
    password is never shown, and one set before must still sign in. It runs as a view is about to be called,
    after ``CsrfViewMiddleware`` has refused a forged post without reading its body, so an anonymous upload is
    never parsed here first. The API is left out: its serializers' fields refuse these."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.path_info.startswith("/api/") or request.content_type not in FORM_TYPES:
            return None
        try:
            fields = [(key, value) for key, values in request.POST.lists() for value in values]
        except UnreadablePostError:  # the client went away mid-body: the view will find out
            return None
        if any("\x00" in value for _key, value in fields):
            return _nul_refused(request, gettext_noop("NUL characters are not allowed in a form."))
        if any(_FORM_CONTROL.search(value) for key, value in fields if not is_password(key)):
            return _nul_refused(
                request,
                gettext_noop(
                    "Control characters (an escape, a bell, a text direction override) are not allowed in a form:"
                    " tabs and line breaks only."
                ),
            )
        return None


# Where views answer the same to everyone, marked public (the web font, the ledger's checkpoint and hash tiles;
# not its entry bundles).
PUBLIC_ANSWER_PATHS = ("/fonts/", "/ledger/checkpoint", "/ledger/tile/")
PRIVATE_TILES = "/ledger/tile/entries/"


def no_store_private(get_response):
    def middleware(request):
        response = get_response(request)
        # Read after the view: a login makes the answer private, a logout no longer does. An answer its view marked
        # public is the same for everyone (the pages' web font, the ledger's checkpoint and hash tiles): it keeps
        # its own caching. Made no-store on top, a full tile read "max-age=0, immutable, no-store, private".
        # Not when this answer writes the session: its cookie must never sit in a shared cache.
        session_written = getattr(getattr(request, "session", None), "modified", False)
        public = "public" in response.get("Cache-Control", "")
        if public and not session_written:
            return response
        if public:  # its own caching goes: "max-age=0, immutable, no-store" would contradict itself
            del response["Cache-Control"]
        if (
            request.path_info.startswith("/api/")
            or request.method not in ("GET", "HEAD")  # a form shown again holds what was typed in
            or request.user.is_authenticated
        ):
            add_never_cache_headers(response)
        return response

    return middleware


# The live event stream (core.event_views) is a background refresh too, and cannot send POLL_HEADER.
EVENTS_PATH = "/events/"


def staff_session_idle_timeout(get_response):
    def middleware(request):
        user = request.user
        if user.is_authenticated and user.role in STAFF_ROLES:
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY)
            if last is not None and now - last > settings.STAFF_SESSION_IDLE_SECONDS:
                logout(request)  # flushes the session; request.user is anonymous from here on
                if request.path_info.startswith("/api/"):
                    return get_response(request)  # the API answers an anonymous caller itself (401/403)
                # Back to the page after the login, with a GET: a post is not repeated; its address, when it takes
                # only posts, opens the page above it (form_address_opens_its_page), where the form was.
                return redirect_to_login(request.get_full_path())
            # A public answer (the ledger's checkpoint and hash tiles, the web font) is not activity either: writing
            # the session would put the staff member's session cookie on an answer shared caches may keep.
            public = request.path_info.startswith(PUBLIC_ANSWER_PATHS) and not request.path_info.startswith(
                PRIVATE_TILES
            )
            if not public and (
                last is None or (POLL_HEADER not in request.headers and request.path_info != EVENTS_PATH)
            ):
                request.session[LAST_ACTIVITY] = now
        return get_response(request)

    return middleware


def _page_above(path: str) -> str:
    """The nearest address above ``path`` that names a page (``/`` at the last)."""
    parts = [p for p in path.split("/") if p]
    while parts:
        parts.pop()
        above = "/" + "".join(f"{p}/" for p in parts)
        try:
            resolve(above)
        except Resolver404:
            continue
        return above
    return "/"


def form_address_opens_its_page(get_response):
    def middleware(request):
        response = get_response(request)
        # The address inside the site (``path_info``), which the URLconf resolves; ``path`` also carries the prefix
        # of a deployment under a sub-path (SCRIPT_NAME), which the redirect keeps (found by a review: under /otc/
        # every such GET went up to the site's root).
        inside = request.path_info
        if (
            isinstance(response, HttpResponseNotAllowed)
            and request.method in ("GET", "HEAD")
            and not inside.startswith("/api/")
            and "text/html" in request.headers.get("Accept", "")
        ):
            prefix = request.path.removesuffix(inside) if request.path.endswith(inside) else ""
            # A page above that takes no GET either comes back here and goes up again: each step is shorter, and
            # "/" takes a GET.
            return redirect(prefix + _page_above(inside), permanent=False)
        return response

    return middleware


# Paths a staff member reaches between the password and the code.
SECOND_FACTOR_OPEN = ("/login/", "/logout/", "/otp/", "/i18n/", "/static/", "/fonts/", "/favicon.ico")


def staff_second_factor(get_response):
    def middleware(request):
        user = request.user
        if user.is_authenticated and user.role in STAFF_ROLES and not user.is_verified():
            if request.path_info.startswith("/api/"):
                # DRF's SessionAuthentication reads this user: the unverified session authenticates nothing.
                request.user = AnonymousUser()
            elif not request.path_info.startswith(SECOND_FACTOR_OPEN):
                target = reverse("otp-verify")
                if request.method in ("GET", "HEAD"):
                    target += "?" + urlencode({"next": request.get_full_path()})
                return redirect(target)
        return get_response(request)

    return middleware


class PermanentRedirectKeepingMethod(HttpResponsePermanentRedirect):
    status_code = 308


class CommonMiddleware(common.CommonMiddleware):
    """``django.middleware.common.CommonMiddleware`` whose slash redirect keeps a write a write (308)."""

    def process_request(self, request):
        return self._keeping_method(request, super().process_request(request))

    def process_response(self, request, response):
        return self._keeping_method(request, super().process_response(request, response))

    def get_full_path_with_slash(self, request):
        # Django's raises in DEBUG for a POST (its redirect would lose the body); a 308 keeps it.
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))

    @staticmethod
    def _keeping_method(request, response):
        if response is not None and response.status_code == 301 and request.method not in ("GET", "HEAD"):
            return PermanentRedirectKeepingMethod(response["Location"])
        return response


def audit_refusals(get_response):
    """A staff member's write the exchange refused is on the audit trail with outcome ``refused``
    (``core.audit.refusal_audited``): the views and the API's error handler note the refusal they answer, and
    it is recorded once the answer is made."""

    def middleware(request):
        token = audited_request.set(request)
        try:
            response = get_response(request)
        finally:
            audited_request.reset(token)
        refusal_audited(request)
        return response

    return middleware
