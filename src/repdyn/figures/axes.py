"""The epoch axis of every repdyn figure: symmetric-log scale, cell edges, ticks and epoch marks.

Training dynamics span four decades of epochs (0 … 4000) and the early epochs matter
as much as the late ones, so epochs are drawn on a symmetric-log scale: linear in
[0, 1] (LINTHRESH), logarithmic beyond. A plain log scale would hide epoch 0, the
initialisation. LINSCALE = 0.5 makes the linear stretch half a decade wide, so the
cell of epoch 0 is about as wide as that of epoch 1 on a grid of step 1.

Cell edges (so an irregular grid's cell spans its epoch interval):
  * between two grid epochs: their midpoint;
  * below the first epoch e0 (next e1): e0 - min((e1 - e0)/2, max(e0/2, 0.5)), i.e. half
    the gap, but never below e0/2 (a cell must not stretch down over decades on the log
    scale) and at most 0.5 below 0 -- so epoch 0's cell is [-0.5, e1/2];
  * above the last epoch: half the last gap;
  * a one-epoch grid gets the cell [e0 - 0.5, e0 + 0.5].
Each cell therefore contains its epoch, and the edges increase strictly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.scale import SymmetricalLogTransform
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from repdyn.config.integers import is_int, is_number

BASE = 10
END_GAP = 0.06  # fraction of the axis that keeps a tick label clear of the first or last epoch's label
LINTHRESH = 1.0
LINSCALE = 0.5

# Epoch marks (perfect fit, test-error peak, ...): colours that read on viridis and on white,
# with different dash patterns so two marks stay apart where colours are hard to tell.
MARK_STYLES = (
    {"color": "#d62728", "linestyle": (0, (4, 2))},
    {"color": "#ff7f0e", "linestyle": (0, (1, 1.5))},
    {"color": "#e377c2", "linestyle": (0, (6, 2, 1, 2))},
    {"color": "#000000", "linestyle": (0, (2, 2))},
)
MARK_WIDTH = 1.3
# Epoch spans (instabilities): a translucent grey band, drawn under the marks; labels starting with "_"
# are drawn but left out of the legend (only the first instability is named).
SPAN_STYLE = {"color": "#7f7f7f", "alpha": 0.25, "linewidth": 0}


def check_epochs(epochs: Sequence[int] | np.ndarray, name: str = "epochs") -> np.ndarray:
    """`epochs` as int64, or ValueError: a non-empty 1-D strictly increasing sequence of integers >= 0."""
    arr = np.asarray(epochs)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of epochs; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold integers; got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
        bad = next(v for v in arr.tolist() if not (np.isfinite(v) and v == round(v)))
        raise ValueError(f"{name} must hold integers; got {bad!r}")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError(f"{name} must be >= 0; got {int(arr.min())}")
    steps = np.diff(arr)
    if np.any(steps <= 0):
        pos = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"{name} must increase strictly; position {pos} is {arr[pos]} after {arr[pos - 1]}")
    return arr


def cell_edges(epochs: Sequence[int] | np.ndarray) -> np.ndarray:
    """The E+1 cell edges of an epoch grid (rules in the module docstring)."""
    e = check_epochs(epochs).astype(np.float64)
    if e.size == 1:
        return np.array([e[0] - 0.5, e[0] + 0.5])
    first = e[0] - min((e[1] - e[0]) / 2, max(e[0] / 2, 0.5))
    last = e[-1] + (e[-1] - e[-2]) / 2
    return np.concatenate([[first], (e[:-1] + e[1:]) / 2, [last]])


class EpochAxis:
    """One epoch grid as drawn on an axis: its cells, limits, ticks and scale."""

    def __init__(self, epochs: Sequence[int] | np.ndarray, name: str = "epochs") -> None:
        self.epochs = check_epochs(epochs, name)
        self.edges = cell_edges(self.epochs)
        self._transform = SymmetricalLogTransform(BASE, LINTHRESH, LINSCALE)

    def __len__(self) -> int:
        return int(self.epochs.size)

    @property
    def limits(self) -> tuple[float, float]:
        """The axis range: from the first cell's lower edge to the last cell's upper edge."""
        return float(self.edges[0]), float(self.edges[-1])

    def cell_of(self, epoch: float) -> int:
        """Index of the cell that contains `epoch` (ValueError outside the axis)."""
        lo, hi = self.limits
        if not lo <= epoch <= hi:
            raise ValueError(f"epoch {epoch} is outside the axis range [{lo}, {hi}]")
        return int(min(np.searchsorted(self.edges, epoch, side="right") - 1, len(self) - 1))

    def to_scale(self, values: np.ndarray | Sequence[float]) -> np.ndarray:
        """Epochs -> the symmetric-log coordinate the axis draws them at (uniform on screen)."""
        return self._transform.transform(np.asarray(values, dtype=np.float64).reshape(-1, 1)).ravel()

    def from_scale(self, coords: np.ndarray | Sequence[float]) -> np.ndarray:
        """Inverse of `to_scale`."""
        inverse = self._transform.inverted()
        return inverse.transform(np.asarray(coords, dtype=np.float64).reshape(-1, 1)).ravel()

    def major_ticks(self) -> list[int]:
        """The first and last grid epochs, and between them 0 and the powers of ten (1-2-5 steps when that gives
        fewer than three ticks), leaving out those closer to an end than END_GAP of the axis on screen."""
        lo, hi = self.limits
        first, last = int(self.epochs[0]), int(self.epochs[-1])
        for subs in ((1,), (1, 2, 5)):
            ticks = [0] if lo <= 0 else []
            power = 1
            while power <= hi:
                ticks += [s * power for s in subs if lo <= s * power <= hi]
                power *= BASE
            if len(ticks) >= 3:
                break
        span = float(np.ptp(self.to_scale([lo, hi]))) or 1.0
        ends = self.to_scale([first, last])
        inner = [
            t for t in ticks if first < t < last and np.min(np.abs(self.to_scale([t])[0] - ends)) >= END_GAP * span
        ]
        return sorted({first, *inner, last})

    def minor_ticks(self) -> list[int]:
        """2…9 times each power of ten in range, without the major ticks."""
        lo, hi = self.limits
        majors = set(self.major_ticks())
        ticks, power = [], 1
        while power <= hi:
            ticks += [m * power for m in range(2, BASE) if lo <= m * power <= hi and m * power not in majors]
            power *= BASE
        return ticks

    def apply(self, ax: Axes, which: str) -> None:
        """Give `ax`'s x or y axis this grid's symmetric-log scale, limits and integer ticks."""
        if which not in ("x", "y"):
            raise ValueError(f"which must be 'x' or 'y'; got {which!r}")
        set_scale = ax.set_xscale if which == "x" else ax.set_yscale
        set_scale("symlog", base=BASE, linthresh=LINTHRESH, linscale=LINSCALE)
        (ax.set_xlim if which == "x" else ax.set_ylim)(*self.limits)
        axis = ax.xaxis if which == "x" else ax.yaxis
        axis.set_major_locator(FixedLocator(self.major_ticks()))
        axis.set_minor_locator(FixedLocator(self.minor_ticks()))
        axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{int(round(value))}"))
        axis.set_minor_formatter(NullFormatter())


Mark = int | tuple[int, int]


def check_marks(marks: Mapping[str, Mark | None] | None, axis: EpochAxis) -> dict[str, Mark]:
    """Marks to draw, as {label: epoch or (start, end) span}; None values (event never happened) are left out.

    ValueError names a mark whose epoch is not an integer, a span that is not two increasing epochs,
    or a mark outside the axis range.
    """
    if marks is None:
        return {}
    if not isinstance(marks, Mapping):
        raise ValueError(f"marks must be a mapping of label -> epoch; got {type(marks).__name__}")
    lo, hi = axis.limits
    checked = {}
    for label, epoch in marks.items():
        if epoch is None:
            continue
        if isinstance(epoch, (tuple, list)):
            checked[str(label)] = _checked_span(label, epoch, lo, hi)
            continue
        if not is_number(epoch) or epoch != round(epoch):
            raise ValueError(f"marks[{label!r}]: epoch must be an integer; got {epoch!r}")
        if not lo <= epoch <= hi:
            raise ValueError(f"marks[{label!r}]: epoch {epoch} is outside the plotted epochs [{lo}, {hi}]")
        checked[str(label)] = int(epoch)
    return checked


def _checked_span(label: object, span: Sequence, lo: float, hi: float) -> tuple[int, int]:
    if len(span) != 2 or not all(is_int(e) for e in span):
        raise ValueError(f"marks[{label!r}]: a span must be two integer epochs (start, end); got {span!r}")
    start, end = int(span[0]), int(span[1])
    if start > end:
        raise ValueError(f"marks[{label!r}]: span start {start} is after its end {end}")
    if start < lo or end > hi:
        raise ValueError(f"marks[{label!r}]: span {start}-{end} is outside the plotted epochs [{lo}, {hi}]")
    return start, end


def visible_marks(marks: Mapping[str, Mark | None] | None, epochs: Sequence[int]) -> dict[str, Mark] | None:
    """The marks inside the plotted epoch range, spans clipped to it; an event past the grid, or one that
    never happened (None), is left out. None when none is left."""
    if not marks:
        return None
    lo, hi = min(epochs), max(epochs)
    shown: dict[str, Mark] = {}
    for label, mark in marks.items():
        if isinstance(mark, (tuple, list)):
            start, end = max(int(mark[0]), lo), min(int(mark[1]), hi)
            if start <= end:
                shown[label] = (start, end)
        elif mark is not None and lo <= mark <= hi:
            shown[label] = mark
    return shown or None


def draw_span(ax: Axes, label: str, span: tuple[int, int], vertical: bool = True, horizontal: bool = False) -> Patch:
    """Shade the epochs start..end (their whole cells, +-0.5) and return the legend handle."""
    low, high = span[0] - 0.5, span[1] + 0.5
    if vertical:
        ax.axvspan(low, high, label=label, zorder=0.5, **SPAN_STYLE)
    if horizontal:
        ax.axhspan(low, high, label=f"_{label} (horizontal)", zorder=0.5, **SPAN_STYLE)
    return Patch(label=label, **SPAN_STYLE)


def draw_marks(ax: Axes, marks: Mapping[str, Mark], vertical: bool = True, horizontal: bool = False) -> list[Artist]:
    """Dashed lines at the marked epochs, shaded bands over the marked spans; the vertical one carries the
    legend label.

    Returns the legend handles (one per mark whose label does not start with "_").
    """
    handles: list[Artist] = []
    lines = [(label, epoch) for label, epoch in marks.items() if not isinstance(epoch, (tuple, list))]
    for label, span in marks.items():
        if isinstance(span, (tuple, list)):
            handle = draw_span(ax, label, (int(span[0]), int(span[1])), vertical, horizontal)
            if not label.startswith("_"):
                handles.append(handle)
    for pos, (label, epoch) in enumerate(lines):
        style = {**MARK_STYLES[pos % len(MARK_STYLES)], "linewidth": MARK_WIDTH}
        handle = Line2D([], [], label=label, **style)
        if vertical:
            handle = ax.axvline(epoch, label=label, **style)
        if horizontal:
            ax.axhline(epoch, label=f"_{label} (horizontal)", **style)
        handles.append(handle)
    return handles
