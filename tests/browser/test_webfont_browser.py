"""The pages' Chinese web font, in a browser that has no Chinese font of its own (as Debian's Chromium without
fonts-noto-cjk): every Chinese text, the first one on the page included, is drawn in it, not in boxes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from core import fonts


def _system_has_chinese_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    return bool(found.strip())


def _fonts_of(page, selector: str) -> list[str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return [f["familyName"] for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]


def test_chinese_text_is_drawn_in_the_web_font_when_the_browser_has_none(page, live_server):
    if _system_has_chinese_font():
        pytest.skip("this machine has a Chinese font: the browser uses it and never asks for the web font")
    # given the web font, built (once per data folder, as `manage.py statement_fonts` does)
    fonts.web_font()
    font_requests = []
    page.on("requestfinished", lambda r: font_requests.append(r.url) if r.url.endswith(".woff2") else None)

    # when a Chinese page opens (the login page: its first Chinese text is the brand in the top bar)
    page.goto(f"{live_server.url}/login/")
    page.wait_for_function("document.documentElement.classList.contains('webfont-ready')", timeout=20_000)

    # then the font came from the exchange, and the brand and the heading are drawn in it (Noto Sans SC),
    # not in a Latin font's boxes
    assert font_requests == [f"{live_server.url}/fonts/noto-sans-sc.woff2"]
    assert "Noto Sans SC" in _fonts_of(page, ".brand")
    assert "Noto Sans SC" in _fonts_of(page, "h1")
    # and so are the buttons, whose letter spacing the browser's own style sets (they stayed in boxes): the form's
    # and the language switch's
    assert "Noto Sans SC" in _fonts_of(page, "main form button[type=submit]")
    assert "Noto Sans SC" in _fonts_of(page, ".langswitch button[lang=zh-hans]")


def test_a_select_outside_a_form_field_is_drawn_in_the_web_font_too(page, live_server):
    # (found by a probe: the alert filters' selects and the console's reason boxes kept the browser's own font, and
    # drew their Chinese in boxes)
    from core.models import Role, User
    from tests.browser.steps import PASSWORD, log_in

    if _system_has_chinese_font():
        pytest.skip("this machine has a Chinese font: the browser uses it and never asks for the web font")
    fonts.web_font()
    User.objects.create_user(username="reg-fonts", password=PASSWORD, role=Role.REGULATOR)
    log_in(page, live_server.url, "reg-fonts")

    # when the surveillance console opens, its filters in Chinese
    page.goto(f"{live_server.url}/surveillance/")
    page.wait_for_function("document.documentElement.classList.contains('webfont-ready')", timeout=20_000)

    # then the filter's select is drawn in the web font
    assert "Noto Sans SC" in _fonts_of(page, "#filter-state")


def test_an_english_page_draws_the_chinese_language_switch_in_the_web_font(page, live_server):
    # (found by a walk-through: on an English page with no other Chinese text, the login page's or a staff page's,
    # the switch's 简体中文 was the page's only Chinese, never asked for the font, and stayed four boxes: a reader
    # of Chinese alone could not find the way back)
    if _system_has_chinese_font():
        pytest.skip("this machine has a Chinese font: the browser uses it and never asks for the web font")
    # given the web font, built, and a visitor who chose English on the login page
    fonts.web_font()
    page.goto(f"{live_server.url}/login/")
    page.locator(".langswitch button[value='en']").click()
    page.wait_for_load_state()
    font_requests = []
    page.on("requestfinished", lambda r: font_requests.append(r.url) if r.url.endswith(".woff2") else None)

    # when the English login page opens again (its only Chinese text is the language switch)
    page.goto(f"{live_server.url}/login/")
    assert page.locator("h1").inner_text() == "Log in"

    # then the font is fetched and the switch's 简体中文 is drawn in it, not in boxes
    expect(page.locator("html")).to_have_class(re.compile(r"\bwebfont-ready\b"), timeout=20_000)
    assert font_requests == [f"{live_server.url}/fonts/noto-sans-sc.woff2"]
    assert "Noto Sans SC" in _fonts_of(page, ".langswitch button[lang=zh-hans]")
