"""Headers and caching (security issue, item 6): the Content-Security-Policy and templates without inline script,
``Cache-Control: no-store`` on private answers, the staff session idle timeout, and ``check --deploy`` under the
production switch (``EXCHANGE_SECURE=1``, docs/operations.md "Production settings")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from core.middleware import LAST_ACTIVITY, POLL_HEADER
from core.models import Role
from exchange.models import Trade
from exchange.services import OrderRequest, order_place
from ledger.services import block_seal
from tests.conftest import api_for, log_in, snapshot

ROOT = Path(__file__).resolve().parent.parent
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "img-src": ["'self'", "data:"],
}
STAFF = [Role.BROKER_STAFF, Role.EXCHANGE_OPERATOR, Role.DEPOSITORY_OPERATOR, Role.REGULATOR, Role.AUDITOR]


def client_for(user) -> Client:
    client = Client()
    log_in(client, user)
    return client


def policy_of(response) -> dict[str, list[str]]:
    directives = (d.split() for d in response["Content-Security-Policy"].split(";") if d.strip())
    return {name: values for name, *values in directives}


def staff_user(market, role: str):
    return market.user(role, broker=market.broker) if role == Role.BROKER_STAFF else market.user(role)


def sealed_trade(market) -> tuple[Trade, object]:
    """A trade of a new investor, sealed into a block: (trade, the buyer's account)."""
    mm = market.market_maker()
    market.quote(mm, "9.90", "10.10")
    buyer = market.investor(cash="10000")
    order_place(
        placed_by=buyer.owner,
        account=buyer,
        request=OrderRequest(market.security.code, "buy", 100, Decimal("10.10"), "IOC", "proof-1"),
    )
    block_seal()
    return Trade.objects.get(buyer=buyer), buyer


# --- Content-Security-Policy -------------------------------------------------------------------------------


def test_the_login_page_carries_the_policy(db):
    # when
    response = Client().get("/login/")

    # then
    assert response.status_code == 200
    assert policy_of(response) == POLICY


@pytest.mark.parametrize("path", ["/", "/orders/new/", "/trades/", "/balances/", "/kyc/me/"])
def test_an_investors_pages_carry_the_policy_without_inline_script(market, path):
    # given
    client = client_for(market.investor().owner)

    # when
    response = client.get(path)

    # then
    assert response.status_code == 200
    policy = policy_of(response)
    assert policy == POLICY
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


def test_the_settlement_monitor_loads_its_script_from_a_file(market):
    # when
    response = client_for(market.depository).get("/settlement/")

    # then
    assert response.status_code == 200
    assert policy_of(response) == POLICY
    assert 'src="/static/js/settlement.js"' in response.content.decode()


def test_the_api_docs_load_under_a_policy_without_inline_script(db):
    # when the Swagger UI page and its start-up script are fetched
    page = Client().get("/api/docs/")
    script = Client().get("/api/docs/?script=")

    # then the page loads its script from a URL of its own and allows one inline style block by its hash
    assert page.status_code == 200
    body = page.content.decode()
    assert '<script src="/api/docs/?script="></script>' in body
    policy = policy_of(page)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'" and policy["style-src"][1].startswith("'sha256-")
    assert {k: v for k, v in policy.items() if k != "style-src"} == POLICY
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


# --- No inline script in any template ----------------------------------------------------------------------

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[a-zA-Z][^<>]*>")
EVENT_ATTRIBUTE = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def inline_code(html: str) -> list[str]:
    """What the policy would block in a template: script bodies, event attributes, javascript: URLs, styles."""
    found = []
    for attributes, body in SCRIPT.findall(html):
        if body.strip() and "application/json" not in attributes:
            found.append(f"<script>{body.strip()[:60]}")
        elif not body.strip() and "src=" not in attributes:
            found.append(f"<script{attributes}>")
    for tag in TAG.findall(html):
        if EVENT_ATTRIBUTE.search(tag) or re.search(r"\sstyle\s*=", tag, re.IGNORECASE):
            found.append(tag[:80])
    found += re.findall(r"javascript:", html, re.IGNORECASE)
    found += re.findall(r"<style\b", html, re.IGNORECASE)
    return found


def our_templates() -> list[Path]:
    paths = [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]
    return sorted(p for p in paths if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


def test_the_scan_finds_inline_code():
    assert inline_code('<script src="/static/js/a.js" defer></script>') == []
    assert inline_code('<script id="d" type="application/json">{"a": 1}</script>') == []
    assert inline_code("<script>\n  alert(1);\n</script>") == ["<script>alert(1);"]
    assert inline_code('<button type="button" onclick="go()">x</button>') == ['<button type="button" onclick="go()">']
    assert inline_code('<form\n  onsubmit = "return confirm()">') == ['<form\n  onsubmit = "return confirm()">']
    assert inline_code('<a href="javascript:void(0)">') == ["javascript:"]
    assert inline_code('<p style="color: red">') == ['<p style="color: red">']


def test_no_template_holds_inline_script_event_attributes_or_styles():
    # given every template of ours
    templates = our_templates()
    assert len(templates) > 40
    assert ROOT / "templates/settlement/monitor.html" in templates

    # then none holds code or styles that the policy would refuse to run
    found = {str(p.relative_to(ROOT)): inline_code(p.read_text()) for p in templates}
    assert {name: items for name, items in found.items() if items} == {}


# --- Cache-Control: no-store -------------------------------------------------------------------------------


def test_an_investors_balances_page_is_never_stored(market):
    # when
    response = client_for(market.investor(cash="100").owner).get("/balances/")

    # then
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_kyc_pages_are_never_stored(market):
    # when an investor opens their own KYC page and staff their review queue
    own = client_for(market.investor().owner).get("/kyc/me/")
    queue = client_for(market.staff).get("/kyc/applications/")

    # then
    assert (own.status_code, queue.status_code) == (200, 200)
    assert "no-store" in own["Cache-Control"]
    assert "no-store" in queue["Cache-Control"]


def test_a_form_shown_again_with_what_was_typed_is_never_stored(market):
    # when an anonymous registration is refused and shown again
    response = Client().post("/kyc/register/", {"username": "someone", "phone": "13800000000"})

    # then
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_api_answers_are_never_stored(market):
    # given a sealed trade of an investor
    trade, buyer = sealed_trade(market)
    client = api_for(buyer.owner)

    # when the account, the trade's proof and an anonymous error are fetched
    account = client.get("/api/v1/account/")
    proof = client.get(f"/api/v1/trades/{trade.pk}/proof/?download=1")
    anonymous = Client().get("/api/v1/account/")

    # then
    assert (account.status_code, proof.status_code, anonymous.status_code) == (200, 200, 401)
    for response in (account, proof, anonymous):
        assert "no-store" in response["Cache-Control"]
    assert proof["Content-Disposition"] == f'attachment; filename="trade-{trade.pk}-proof.json"'


def test_static_files_keep_their_cache_even_for_a_signed_in_user(market, settings):
    # given whitenoise serving from the source folders (no collectstatic in tests) and a signed-in investor
    settings.WHITENOISE_USE_FINDERS = True
    client = client_for(market.investor().owner)

    # when a script is fetched
    response = client.get("/static/js/poll.js")

    # then whitenoise answered it, with its public cache and no no-store
    assert response.status_code == 200
    assert "exchangePoll" in b"".join(response.streaming_content).decode()
    assert "public" in response["Cache-Control"] and "max-age=" in response["Cache-Control"]
    assert "no-store" not in response["Cache-Control"]
    assert "Content-Security-Policy" not in response


# --- Staff session idle timeout ----------------------------------------------------------------------------


def set_last_activity(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[LAST_ACTIVITY] = int(time.time()) - seconds_ago
    session.save()


@pytest.mark.parametrize("role", STAFF)
def test_a_staff_session_ends_after_the_idle_period(market, role):
    # given a staff member who used a page, then was away for longer than the idle period
    client = client_for(staff_user(market, role))
    assert client.get("/").status_code == 200
    assert LAST_ACTIVITY in client.session
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)

    # when they come back to a page
    response = client.get("/orders/?page=1")

    # then they are logged out and sent to the login page, which brings them back afterwards
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/orders/%3Fpage%3D1"
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_a_post_after_the_idle_period_is_not_made_and_the_login_leads_back_to_its_page(market):
    # (found by a walk: a clerk whose session ended with a deposit form open landed on the market watch after the
    # new login, not on the client's page the form was on)
    staff = market.staff
    investor = market.investor(cash="100")
    client = client_for(staff)
    assert client.get(f"/counter/{investor.code}/").status_code == 200
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)
    before = snapshot()

    # when the form is posted after the idle period
    response = client.post(f"/counter/{investor.code}/deposit/", {"deposit-amount": "50.00"})

    # then nothing is deposited, and the login leads back to the post's address, which a browser's GET turns into
    # the client's page
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/counter/{investor.code}/deposit/"
    assert "_auth_user_id" not in client.session and snapshot() == before
    again = client_for(staff).get(f"/counter/{investor.code}/deposit/", HTTP_ACCEPT="text/html")
    assert (again.status_code, again["Location"]) == (302, f"/counter/{investor.code}/")


def test_a_staff_session_within_the_idle_period_goes_on_and_is_renewed(market):
    # given a staff member last active a minute before the end of the idle period
    client = client_for(market.staff)
    client.get("/")
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS - 60)

    # when
    response = client.get("/kyc/applications/")

    # then
    assert response.status_code == 200
    assert int(time.time()) - client.session[LAST_ACTIVITY] < 5


def test_stay_signed_in_renews_a_staff_session_and_the_page_says_when_it_will_end(market):
    # (found by an accessibility audit: the session ended after 30 minutes without a warning or a way to extend it)
    client = client_for(market.staff)
    page = client.get("/kyc/applications/").content.decode()
    assert f'id="session-warning" role="alert" hidden data-idle-seconds="{settings.STAFF_SESSION_IDLE_SECONDS}"' in page
    assert "js/session.js" in page
    set_from = int(time.time())
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS - 60)
    # the page asks, as a poll, how long is left: that is no activity (another tab's would have renewed it)
    asked = client.get("/session/keepalive/", HTTP_X_EXCHANGE_POLL="1")
    # (a minute, less the whole seconds the test itself took since: two at most on a quiet machine, more on a
    # loaded one, where a fixed 58 could fail)
    took = int(time.time()) - set_from
    assert asked.status_code == 200 and 60 - took <= asked.json()["seconds_left"] <= 60
    assert int(time.time()) - client.session[LAST_ACTIVITY] >= settings.STAFF_SESSION_IDLE_SECONDS - 61
    # when the staff member asks to stay signed in, a minute before the end
    response = client.get("/session/keepalive/")
    # then the idle period starts again, and nothing else is answered
    assert (response.status_code, response.content) == (204, b"")
    assert int(time.time()) - client.session[LAST_ACTIVITY] < 5
    # and once it has ended, staying is too late
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)
    assert client.get("/session/keepalive/").status_code == 302
    # and an investor's pages carry no warning, whose session keeps Django's age
    investor_page = client_for(market.investor().owner).get("/orders/").content.decode()
    assert 'id="session-warning"' not in investor_page and "js/session.js" not in investor_page


def test_an_idle_staff_session_gets_no_api_answer(market):
    # given an idle depository operator's web session
    client = client_for(market.depository)
    client.get("/")
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)

    # when the API is called with the session
    response = client.get("/api/v1/trades/")

    # then it answers as to an anonymous caller, and the session is over
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "_auth_user_id" not in client.session


def test_an_idle_staff_post_is_not_carried_out(market):
    # given an idle depository operator
    trade, _buyer = sealed_trade(market)
    client = client_for(market.depository)
    client.get("/")
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)

    # when they post a hold from the monitor left open
    response = client.post(f"/settlement/trades/{trade.pk}/hold/", {"reason": "check"})

    # then they are sent to the login page (which leads back to the address, with a GET) and the trade is not held
    assert (response.status_code, response["Location"]) == (302, f"/login/?next=/settlement/trades/{trade.pk}/hold/")
    trade.refresh_from_db()
    assert trade.status == Trade.Status.MATCHED
    assert not trade.settlement_actions.exists()


def test_a_background_refresh_is_not_activity(market):
    # given a supervisor on the market watch, last active 100 s ago
    client = client_for(market.depository)
    client.get("/")
    set_last_activity(client, 100)
    before = client.session[LAST_ACTIVITY]

    # when the page refreshes its rows in the background, then the user opens a page
    polled = client.get("/market/data/", headers={POLL_HEADER: "1"})
    after_poll = client.session[LAST_ACTIVITY]
    client.get("/orders/")

    # then the refresh was answered but did not count; the page did
    assert polled.status_code == 200
    assert after_poll == before
    assert client.session[LAST_ACTIVITY] > before


def test_a_background_refresh_after_the_idle_period_ends_the_session(market):
    # given a supervisor's market watch left open past the idle period
    client = client_for(market.depository)
    client.get("/")
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS + 5)

    # when it refreshes
    response = client.get("/market/data/", headers={POLL_HEADER: "1"})

    # then it is sent to the login page (static/js/poll.js then shows "session ended")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("role", [Role.INVESTOR, Role.MARKET_MAKER])
def test_investors_and_market_makers_have_no_idle_timeout(market, role):
    # given an investor or market maker away far longer than the staff idle period
    user = market.investor().owner if role == Role.INVESTOR else market.market_maker().owner
    client = client_for(user)
    assert client.get("/").status_code == 200
    assert LAST_ACTIVITY not in client.session
    set_last_activity(client, settings.STAFF_SESSION_IDLE_SECONDS * 10)

    # when they come back
    response = client.get("/balances/")

    # then their session goes on
    assert response.status_code == 200
    assert client.session["_auth_user_id"] == str(user.pk)


# --- Production settings -----------------------------------------------------------------------------------


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production process: no inherited DJANGO_/EXCHANGE_ variables, a fresh data folder
    (so the secret key is the one generated for it), EXCHANGE_SECURE=1."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EXCHANGE_"))}
    return {
        **inherited,
        "DATABASE_URL": "postgres://unused@localhost/unused",
        "REDIS_URL": "redis://localhost:6379/0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "EXCHANGE_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "exchange.example",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://exchange.example",
        "EXCHANGE_SECURE": "1",
        **extra,
    }


def check_deploy(env: dict[str, str]) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    return done.returncode, set(re.findall(r"^\S*: \((\S+)\)", output, re.MULTILINE)), output


def test_check_deploy_under_the_production_switch_prints_no_warning(tmp_path):
    # when check --deploy runs with the production settings of docs/operations.md
    returncode, ids, output = check_deploy(production_env(tmp_path))

    # then it reports nothing about the deployment (security.W009 included: the generated key is long enough)
    assert returncode == 0, output
    assert ids == set(), output
    assert len((tmp_path / "data" / "secret_key").read_text().strip()) >= 50


def test_without_the_switch_check_deploy_names_what_the_switch_turns_on(tmp_path):
    # when check --deploy runs with the demo's settings (plain http on 127.0.0.1)
    _returncode, ids, output = check_deploy(production_env(tmp_path, EXCHANGE_SECURE="0"))

    # then exactly the HTTPS settings are missing
    assert ids == {"security.W004", "security.W008", "security.W012", "security.W016"}, output


def test_the_production_switch_redirects_to_https_and_sends_hsts(tmp_path):
    # given a production process behind a proxy that ends TLS and sets X-Forwarded-Proto
    probe = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='exchange.example')\n"
        "plain = c.get('/login/')\n"
        "tls = c.get('/login/', headers={'X-Forwarded-Proto': 'https'})\n"
        "print(plain.status_code, plain['Location'])\n"
        "print(tls.status_code, tls['Strict-Transport-Security'])\n"
        "print(sorted(k for k, v in tls.cookies.items() if v['secure']))\n"
    )

    # when a page is asked for over plain http, then over https
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True
    )

    # then plain http is redirected and https gets HSTS and a secure CSRF cookie
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "301 https://exchange.example/login/",
        "200 max-age=31536000; includeSubDomains; preload",
        "['csrftoken']",
    ]


def test_the_demo_settings_serve_plain_http(db):
    # the tests run with the switch off, as `make run` does
    response = Client().get("/login/")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not settings.SESSION_COOKIE_SECURE and not settings.CSRF_COOKIE_SECURE
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("host", ["evil.example", "", "bad host"])
@pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/market/"])
def test_a_request_for_a_host_not_served_is_a_400_page_or_json(db, host, path):
    # given a Host header the exchange does not serve (refused before any middleware sets request.user)
    # when a page or the API is asked for with it
    response = Client().get(path, HTTP_HOST=host, HTTP_ACCEPT_LANGUAGE="en")

    # then it is a 400, an error page for a page and JSON for the API, never a 500
    assert response.status_code == 400, response.content[:500]
    if path.startswith("/api/"):
        assert response.json()["code"] == "bad_request"
    else:
        assert "Bad request." in response.content.decode()


def test_a_head_answer_has_the_get_headers_and_no_body(db):
    # given the site's middleware around a view that answers a body (Django's test client would drop a HEAD
    # body itself, gunicorn does not: the middleware is called as the server calls it)
    from django.http import HttpResponse, StreamingHttpResponse
    from django.test import RequestFactory

    from core.middleware import head_without_body

    factory = RequestFactory()
    plain = head_without_body(lambda request: HttpResponse(b'{"open": true}', content_type="application/json"))
    stream = head_without_body(lambda request: StreamingHttpResponse(iter([b"data: 1\n\n"])))

    # when it is asked with HEAD, and with GET
    head, get = plain(factory.head("/api/v1/market/")), plain(factory.get("/api/v1/market/"))
    streamed = stream(factory.head("/events/"))

    # then HEAD has GET's length and type and no body; GET keeps its body; a stream sends nothing
    assert head.content == b"" and head["Content-Length"] == "14" and head["Content-Type"] == "application/json"
    assert get.content == b'{"open": true}'
    assert b"".join(streamed.streaming_content) == b""


@pytest.mark.parametrize("venue", ["open", "cn-regional-2017"])
def test_the_plain_error_page_names_the_venues_rules_too(db, settings, venue):
    # (found by a probe: the venue's rules are shown on every page, but the plain error page, drawn without the
    # database, showed none)
    # given a venue under a rule profile
    settings.VENUE_PROFILE = venue
    # when a page is asked for with a Host header the exchange does not serve
    response = Client().get("/", HTTP_HOST="evil.example", HTTP_ACCEPT_LANGUAGE="en")
    # then the 400 page says so and names the profile in its footer, as every other page does
    page = response.content.decode()
    assert response.status_code == 400 and "Bad request." in page
    assert f'data-profile="{venue}"' in page and "Venue rules:" in page
