"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live server.

Playwright's own browser download cannot work on these machines, so the tests
use /usr/bin/chromium; without it they are skipped, and the run says so loudly
at the end (a skipped browser test is easy to miss in a row of dots).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import BROWSER_SKIPPED as SKIPPED  # its summary hook is there: xdist's controller loads it

# Playwright's sync API keeps an event loop running in the test thread; Django
# would then refuse the test body's database calls as coming "from an async
# context". The tests make no concurrent use of a connection, so this is safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_REASON = f"{SKIPPED}: {CHROMIUM} not found (apt-get install chromium)"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        pytest.skip(f"{SKIPPED}: the playwright package is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(autouse=True)
def _polling_pages(settings):
    """The browser tests watch pages poll (no Celery worker publishes the market's events here); the event
    stream has its own browser test (test_live_browser.py), which turns it back on."""
    settings.LIVE_EVENTS = False


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) whose language is Chinese, like the exchange's users."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# A phone's screen, in CSS pixels.
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["zh", "en"])
def phone(request, browser, live_server):
    """A phone's browser in Chinese, and the language the test switches to after logging in, as a user would."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page(), request.param
    finally:
        context.close()
