"""Figures without pyplot, saved atomically in the format their file name asks for.

pyplot keeps global state (current figure, backend) that is neither thread- nor
process-safe; a `Figure` with its own Agg canvas is, and needs no display. Font
sizes are set per element rather than through rcParams, which are global too.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from repdyn.atomic import atomic_path

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
    file equal those of the figure's canvas. `record=False`: no checksum manifest (not an artifact).
    """
    fmt = figure_format(path)
    with atomic_path(path, suffix=Path(path).suffix, record=record) as tmp:
        fig.savefig(tmp, format=fmt, dpi=fig.dpi, metadata=_METADATA[fmt])
