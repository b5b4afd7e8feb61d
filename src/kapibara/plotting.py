"""matplotlib for kapibara's plots, with a font that can show Chinese.

Plot labels carry model names and users' own names, often Chinese. matplotlib's default
DejaVu Sans has no CJK glyphs (each one warns "Glyph ... missing from font(s)" and is
drawn as a box), so every plot is drawn inside :func:`cjk_pyplot`: DejaVu Sans (or the
user's own sans-serif) stays first for Latin text and a CJK font is the fallback.

The CJK font comes, first found wins, from:

1. the ``plot`` extra: Noto Sans SC (SIL OFL 1.1), packaged as ``pylopdf-fonts-zh-cn``;
2. a CJK font matplotlib already knows (``CJK_FAMILIES``);
3. fontconfig (``fc-list :lang=zh``): Debian's ``fonts-noto-cjk``, ``fonts-wqy-zenhei``...

With none, plots still render; one :class:`MissingFontWarning` per process says how to get
a font, instead of one warning per glyph.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kapibara.errors import require

# Family names as matplotlib reads them from the files, most wanted first.
CJK_FAMILIES = (
    "Noto Sans SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)
HOW_TO_GET_ONE = 'pip install "kapibara[plot]" (Noto Sans SC), or apt-get install fonts-noto-cjk'


class MissingFontWarning(UserWarning):
    """No CJK font was found: Chinese text in plots is drawn as boxes."""


def _packaged_font() -> Path | None:
    try:
        import pylopdf_fonts_zh_cn  # the plot extra; optional like matplotlib itself
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return path if path.is_file() else None


def _fontconfig_font() -> Path | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):  # no fontconfig to ask: same as no font
        return None
    files = [Path(line.strip().rstrip(":")) for line in out.splitlines() if line.strip()]
    # Bitmap faces (.pcf, fonts-wqy-bitmapfont) are not fonts matplotlib can draw with.
    files = [p for p in files if p.suffix.lower() in (".ttf", ".otf", ".ttc")]
    # fc-list's order is arbitrary: prefer a sans (hei) face, then a stable order.
    files.sort(key=lambda p: (not any(w in p.name.lower() for w in ("sans", "hei")), str(p)))
    return next((p for p in files if p.is_file()), None)


@functools.cache
def cjk_family() -> str | None:
    """Register a CJK font with matplotlib and return its family name; ``None`` if none exists.

    Looked up once per process: a missing font warns once.
    """
    font_manager = require("matplotlib.font_manager", "matplotlib", "plot")
    path = _packaged_font()
    if path is None:
        known = {f.name for f in font_manager.fontManager.ttflist}
        family = next((f for f in CJK_FAMILIES if f in known), None)
        if family is not None:
            return family
        path = _fontconfig_font()
    if path is None:
        warnings.warn(f"no CJK font found: Chinese text in plots is drawn as boxes ({HOW_TO_GET_ONE})",
                      MissingFontWarning, stacklevel=2)
        return None
    font_manager.fontManager.addfont(str(path))
    name: str = font_manager.FontProperties(fname=str(path)).get_name()
    return name


def font_rc() -> dict[str, Any]:
    """rcParams that add the CJK font as a fallback after the configured sans-serif."""
    family = cjk_family()
    # matplotlib falls back glyph by glyph only across the entries of font.family.
    return {"font.family": ["sans-serif", family]} if family else {}


@contextmanager
def cjk_pyplot() -> Iterator[Any]:
    """``matplotlib.pyplot`` (Agg backend) for one plot whose text may be Chinese.

    Draw and save the figure inside the block: fonts are resolved when it is drawn.
    Without a CJK font the per-glyph warnings are silenced (one warning said it already).
    """
    mpl = require("matplotlib", "matplotlib", "plot")
    mpl.use("Agg")  # no display on servers and CI
    plt = require("matplotlib.pyplot", "matplotlib", "plot")
    rc = font_rc()
    with plt.rc_context(rc), warnings.catch_warnings():
        if not rc:
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        yield plt
