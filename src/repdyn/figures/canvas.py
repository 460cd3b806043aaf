"""Figures without pyplot, saved atomically in the format their file name asks for.

pyplot keeps global state (current figure, backend) that is neither thread- nor
process-safe; a `Figure` with its own Agg canvas is, and needs no display. Font
sizes are set per element rather than through rcParams, which are global too.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from repdyn.storage.atomic import atomic_path

DPI = 150
FONT_SIZE = 8
TITLE_SIZE = 9

# Suffix -> matplotlib format, and metadata that would make the bytes differ between runs.
FORMATS = {".png": "png", ".pdf": "pdf"}
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (inches) attached to its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_format(path: str | os.PathLike) -> str:
    """The matplotlib format for `path`'s suffix; ValueError naming the path if unsupported."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported figure suffix {suffix!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def save_figure(fig: Figure, path: str | os.PathLike, record: bool = True) -> None:
    """Write `fig` to `path` atomically (temporary name, then rename), format from the suffix.

    The figure's own dpi is used and no tight bounding box, so pixel positions in the
    file equal those of the figure's canvas; titles wider than the figure are wrapped first (wrap_titles).
    `record=False`: no checksum manifest (not an artifact).
    """
    fmt = figure_format(path)
    wrap_titles(fig)
    with atomic_path(path, suffix=Path(path).suffix, record=record) as tmp:
        fig.savefig(tmp, format=fmt, dpi=fig.dpi, metadata=_METADATA[fmt])


def titles(fig: Figure) -> list[Text]:
    """The figure's title and its axes' titles (left, centre, right) that hold text."""
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title]
    return [t for t in texts if t.get_text()]


def clipped_texts(fig: Figure) -> list[str]:
    """Texts of the figure (titles, axis labels, legends' entries; not tick labels) that reach past its edges."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels(which="both")}
    out = []
    for text in fig.findobj(Text):
        if id(text) in ticks or not text.get_visible() or not text.get_text().strip():
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1 or extent.y1 > box.y1 + 1:
            out.append(text.get_text())
    return out


def wrap_titles(fig: Figure) -> None:
    """Break titles that are wider than the figure into lines that fit (constrained layout makes room). Only
    the texts' widths are measured, which needs no drawing."""
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    for text in titles(fig):
        extent = text.get_window_extent(renderer)
        if extent.width <= width * 0.98:
            continue
        chars = max(20, int(len(text.get_text()) * width * 0.9 / extent.width))
        text.set_text("\n".join(textwrap.fill(line, chars) for line in text.get_text().split("\n")))
