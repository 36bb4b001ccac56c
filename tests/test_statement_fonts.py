"""The statements' Chinese font: Noto Sans SC at the regular weight, made once from the variable font."""

from __future__ import annotations

from importlib.resources import as_file, files

from fontTools.ttLib import TTFont

from settlement import fonts


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
