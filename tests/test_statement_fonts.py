"""The Chinese fonts: Noto Sans SC at the regular and bold weights for the statements, made once from the
variable font, and the pages' web font cut from the regular one."""

from __future__ import annotations

from importlib.resources import as_file, files

from fontTools.ttLib import TTFont

from core import fonts
from core.models import Role
from tests.conftest import build_market


def stroke_height(font: TTFont, char: str) -> int:
    """The height of the glyph of ``char`` (一, one horizontal stroke: its thickness), in font units."""
    glyph = font["glyf"][font.getBestCmap()[ord(char)]]
    glyph.recalcBounds(font["glyf"])
    return glyph.yMax - glyph.yMin


def test_the_regular_instance_is_static_weight_400_and_its_strokes_are_not_hairlines(settings):
    # given the data folder's font (built once for every test and process that needs it: about 12 s)
    path = fonts.cjk_regular()

    # when it is asked for again, then it is the same file, with no half-built one beside it
    assert fonts.cjk_regular() == path and path.parent == settings.DATA_DIR / "fonts"
    assert not list(path.parent.glob("*.partial"))
    # and it is static (no variation axes), weight 400, named like Noto Sans SC
    regular = TTFont(str(path))
    assert "fvar" not in regular and regular["OS/2"].usWeightClass == 400
    assert regular["name"].getDebugName(1) == "Noto Sans SC"  # not "Noto Sans SC Thin", the default's family
    assert regular["name"].getDebugName(6) == "NotoSansSC-Regular"  # not the default instance's "-Thin"
    # and its strokes are several times thicker than the variable font's default (the thinnest) instance's
    with as_file(files(fonts.PACKAGE).joinpath(fonts.VARIABLE_FONT)) as source:
        thin = TTFont(str(source))
        assert thin["fvar"].axes[0].defaultValue == 100  # why the instance is needed
        assert stroke_height(regular, "一") >= 2 * stroke_height(thin, "一")


def test_the_bold_instance_is_weight_700_and_bolder_than_the_regular(settings):
    # given both instances (built once per data folder)
    regular, bold = TTFont(str(fonts.cjk_regular())), TTFont(str(fonts.cjk_bold()))

    # then the bold one is static, weight 700, and its strokes are thicker than the regular one's
    assert "fvar" not in bold and bold["OS/2"].usWeightClass == 700
    assert bold["name"].getDebugName(6) == "NotoSansSC-Bold"
    assert stroke_height(bold, "一") > stroke_height(regular, "一")


def test_the_web_font_covers_the_pages_chinese_in_a_sixth_of_the_bytes(settings):
    # given the data folder's web font (built once from the regular instance: about half a minute)
    path = fonts.web_font()

    # then it is WOFF2, built whole (no .partial beside it), with a glyph for every Chinese character of the
    # catalogs and of GB 2312 (the names people have), and at most a sixth of the regular instance's bytes
    font = TTFont(str(path))
    assert font.flavor == "woff2" and not list(path.parent.glob("*.partial"))
    cmap = font.getBestCmap()
    catalogs = {c for c in fonts.web_characters() if "\u4e00" <= c <= "\u9fff"}
    assert {"陈", "静", "欧", "阳", "娜", "冻", "结", "证", "券"} <= catalogs
    missing = {c for c in catalogs if ord(c) not in cmap}
    assert not missing
    assert path.stat().st_size * 6 < fonts.cjk_regular().stat().st_size


def test_the_pages_serve_the_web_font_once_built_and_say_so_when_not(settings, tmp_path, client, db):
    # given a data folder with no web font yet
    settings.DATA_DIR = tmp_path
    url = "/fonts/noto-sans-sc.woff2"

    # then no page links it (the browser's own fonts serve), its URL is a 404, and nothing is built
    assert "webfont" not in client.get("/login/").content.decode()
    assert client.get(url).status_code == 404
    assert not (tmp_path / "fonts").exists()

    # when it is built (here: its bytes put where the build puts them)
    path = fonts.web_font_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"wOF2 font bytes")

    # then it is served as WOFF2, cached for a day, and a browser that has it gets a 304
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "font/woff2"
    assert b"".join(served.streaming_content) == b"wOF2 font bytes"
    assert served["Cache-Control"] == "public, max-age=86400"
    again = client.get(url, HTTP_IF_MODIFIED_SINCE=served["Last-Modified"])
    assert again.status_code == 304
    # the same for a signed-in staff member before the second factor (the login page asks for it): it is public
    client.force_login(build_market().user(Role.AUDITOR))
    signed_in = client.get(url)
    assert signed_in.status_code == 200 and signed_in["Cache-Control"] == "public, max-age=86400"
    # and the pages link its stylesheet, which declares it for the CJK ranges only; the main stylesheet names
    # it after every Chinese font a system may have
    page = client.get("/login/").content.decode()
    assert "css/webfont.css" in page and "js/webfont.js" in page
    face = (settings.BASE_DIR / "static" / "css" / "webfont.css").read_text()
    assert f'url("{url}") format("woff2")' in face and "unicode-range: U+2E80-2FDF" in face
    css = (settings.BASE_DIR / "static" / "css" / "exchange.css").read_text()
    stack = css.split("--font:", 1)[1].split(";", 1)[0]
    assert stack.index('"Noto Sans CJK SC"') < stack.index('"Exchange SC"') < stack.index("sans-serif")


def test_a_font_whose_build_needs_another_font_built_first_does_not_wait_on_itself(settings, tmp_path):
    # (found by a browser test on a fresh data folder: the web font, cut from the regular instance, took the
    # folder's one lock and then waited for it again to build the regular instance, for ever)
    import threading

    settings.DATA_DIR = tmp_path
    folder = tmp_path / "fonts"

    # given two fonts, the first of which is built from the second
    def build_second(path):
        path.write_bytes(b"second")

    def build_first(path):
        second = fonts._built(folder / "second.ttf", build_second)
        path.write_bytes(b"first from " + second.read_bytes())

    # when the first is asked for on a folder where neither is built (in a thread: a deadlock must not hang the run)
    done = []
    worker = threading.Thread(
        target=lambda: done.append(fonts._built(folder / "first.woff2", build_first)), daemon=True
    )
    worker.start()
    worker.join(timeout=30)

    # then both are built, once, with no half-built file left
    assert done == [folder / "first.woff2"]
    assert (folder / "first.woff2").read_bytes() == b"first from second"
    assert (folder / "second.ttf").read_bytes() == b"second"
    assert not list(folder.glob("*.partial"))


def test_building_an_instance_logs_nothing_at_info(tmp_path, caplog, monkeypatch):
    # given fontTools' logger as a fresh process has it (found on `make run`'s first start: "Restricted limits: …",
    # "Normalized limits: …" and "Instantiating glyf/gvar tables" among the launcher's lines)
    import logging

    monkeypatch.setattr(logging.getLogger("fontTools"), "level", logging.NOTSET)

    # when the regular instance is built with INFO records captured
    with caplog.at_level(logging.INFO):
        fonts._instance(tmp_path / "regular.ttf", 400)

    # then it is built, and fontTools said nothing
    assert TTFont(str(tmp_path / "regular.ttf"))["OS/2"].usWeightClass == 400
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("fontTools")]
