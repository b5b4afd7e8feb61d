"""Plots show Chinese with a real CJK font, or render anyway with one warning saying how to get one."""

from __future__ import annotations

import os
import stat
import warnings

import pytest

from kapibara import plotting
from kapibara.plotting import MissingFontWarning, cjk_family, cjk_pyplot, font_rc

pytest.importorskip("matplotlib")

NAMES = "张伟 / native   李娜 / raw   欧阳龘 / 測試"


@pytest.fixture(autouse=True)
def fresh_lookup():
    """Each test looks the font up anew (the lookup is cached per process)."""
    cjk_family.cache_clear()
    yield
    cjk_family.cache_clear()


@pytest.fixture
def packaged_font():
    """The Noto Sans SC file of the plot extra (pylopdf-fonts-zh-cn)."""
    fonts = pytest.importorskip("pylopdf_fonts_zh_cn", reason='the plot extra is not installed: pip install "kapibara[plot]"')
    return fonts.sans_path()


def draw(path, text=NAMES):
    with cjk_pyplot() as plt:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.set_title(text)
        ax.annotate(text, (0.1, 0.5), fontsize=7)
        fig.savefig(path, dpi=60)
        plt.close(fig)
    return path


def test_chinese_renders_with_no_missing_glyph(tmp_path, packaged_font):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 24352 missing from font(s) DejaVu Sans" would raise
        png = draw(tmp_path / "zh.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert cjk_family() == "Noto Sans SC"


def test_latin_text_keeps_the_default_font_first(packaged_font):
    # CJK is only the fallback: plots without Chinese look as they did before.
    assert font_rc() == {"font.family": ["sans-serif", "Noto Sans SC"]}


def test_a_system_font_is_used_when_the_extra_is_absent(tmp_path, monkeypatch, packaged_font):
    # Stand-in for a fontconfig font (fonts-noto-cjk, fonts-wqy-zenhei) unknown to matplotlib's cache.
    monkeypatch.setattr(plotting, "_packaged_font", lambda: None)
    monkeypatch.setattr(plotting, "CJK_FAMILIES", ())
    monkeypatch.setattr(plotting, "_fontconfig_font", lambda: packaged_font)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draw(tmp_path / "zh.png")
    assert cjk_family() == "Noto Sans SC"


def test_no_cjk_font_still_renders_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(plotting, "_packaged_font", lambda: None)
    monkeypatch.setattr(plotting, "CJK_FAMILIES", ())
    monkeypatch.setattr(plotting, "_fontconfig_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw(tmp_path / "a.png")
        draw(tmp_path / "b.png", "另一个图")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert [w.category for w in caught] == [MissingFontWarning]  # no per-glyph warnings
    assert "kapibara[plot]" in str(caught[0].message)
    assert font_rc() == {}


def test_fontconfig_lookup_prefers_a_sans_face(tmp_path, monkeypatch):
    serif = tmp_path / "uming.ttc"
    sans = tmp_path / "wqy-zenhei.ttc"
    for f in (serif, sans):
        f.write_bytes(b"")
    fc_list = tmp_path / "fc-list"
    bitmap = tmp_path / "wqy-bitmap-sans.pcf"
    bitmap.write_bytes(b"")
    lines = "".join(f"echo '{p}:'\n" for p in (serif, tmp_path / "gone-sans.ttf", bitmap, sans))
    fc_list.write_text(f"#!/bin/sh\n{lines}")
    fc_list.chmod(fc_list.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert plotting._fontconfig_font() == sans
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert plotting._fontconfig_font() is None
