"""The per-epoch metrics table (TSV) and the training phases read off it.

Each segment writes its own `metrics.tsv` (one row per epoch it trained);
`read_metrics` joins the segments of a run. Floats are written with Python's
shortest round-trip repr, so a table read back equals the numbers computed.

Columns (in this order):
  epoch            epoch e = the network after e completed training epochs
  train_loss       cross-entropy, eval mode, un-augmented training set, training (noisy) labels
  train_err        error rate of the same pass vs the training labels
  train_err_clean  error rate of the same pass vs the clean labels
  noisy_fit        fraction of label-flipped examples predicted as their noisy label (NaN without noise)
  test_loss        cross-entropy on the test set, eval mode
  test_err         error rate on the test set
  run_loss         mean loss of the epoch's augmented train-mode minibatches (NaN at epoch 0)
  run_err          their error rate vs the training labels (NaN at epoch 0)
  wall_s           seconds the epoch took (training + evaluation)
With `train.eval_train: false` no eval-mode pass over the training set is made
and the four train_*/noisy_fit columns hold the running (train-mode, augmented)
values instead; they are NaN at epoch 0.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from repdyn.atomic import write_text
from repdyn.integrity import require

COLUMNS: tuple[str, ...] = (
    "epoch",
    "train_loss",
    "train_err",
    "train_err_clean",
    "noisy_fit",
    "test_loss",
    "test_err",
    "run_loss",
    "run_err",
    "wall_s",
)

# Centred moving-average window for finding the test-error peak (epochs).
PEAK_SMOOTHING_WINDOW = 5


def format_metrics(rows: Iterable[Mapping[str, float]]) -> str:
    """The TSV text of `rows` (header line first)."""
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        missing = [column for column in COLUMNS if column not in row]
        if missing:
            raise ValueError(f"metrics row for epoch {row.get('epoch')!r} lacks column(s) {', '.join(missing)}")
        cells = [str(int(row["epoch"]))] + [repr(float(row[column])) for column in COLUMNS[1:]]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def write_metrics(path: str | os.PathLike, rows: Iterable[Mapping[str, float]]) -> None:
    """Write the metrics table atomically."""
    write_text(path, format_metrics(rows))


def _read_one(path: Path) -> list[dict[str, float]]:
    require(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics table {path} does not exist")
    lines = path.read_text().splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"{path} is not a repdyn metrics table: expected header {' '.join(COLUMNS)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(COLUMNS):
            raise ValueError(f"{path}, line {number}: expected {len(COLUMNS)} columns, got {len(cells)}")
        try:
            row: dict[str, float] = {"epoch": int(cells[0])}
            row.update((column, float(cell)) for column, cell in zip(COLUMNS[1:], cells[1:]))
        except ValueError as err:
            raise ValueError(f"{path}, line {number}: {err}") from err
        rows.append(row)
    return rows


def read_metrics(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[dict[str, float]]:
    """Rows of one or more metrics tables, sorted by epoch; an epoch in two tables is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    rows: list[dict[str, float]] = []
    source: dict[int, Path] = {}
    for path in map(Path, paths):
        for row in _read_one(path):
            epoch = int(row["epoch"])
            if epoch in source:
                raise ValueError(f"epoch {epoch} appears in both {source[epoch]} and {path}")
            source[epoch] = path
            rows.append(row)
    return sorted(rows, key=lambda row: row["epoch"])


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average; near the ends it averages the neighbours that exist."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd integer, got {window!r}")
    half = window // 2
    return [
        sum(values[max(0, i - half) : i + half + 1]) / len(values[max(0, i - half) : i + half + 1])
        for i in range(len(values))
    ]


PHASE_MARKS = {"perfect_fit_epoch": "perfect fit", "test_error_peak_epoch": "test-error peak"}


def phase_marks(phases: Mapping[str, Any]) -> dict[str, int | None]:
    """The epochs every figure marks ({legend label: epoch or None}) from `training_phases`' result."""
    return {label: phases.get(key) for key, label in PHASE_MARKS.items()}


def training_phases(
    rows: Iterable[Mapping[str, float]], window: int = PEAK_SMOOTHING_WINDOW
) -> dict[str, int | float | None]:
    """The perfect-fitting epoch and the epoch-wise double-descent test-error peak.

    perfect_fit_epoch: the first epoch whose train_err is exactly 0 (None if never).

    Test-error peak, on the rows sorted by epoch with a finite test_err:
      1. s = centred moving average of test_err over `window` consecutive rows
         (default 5; window=1 uses the raw curve). Smoothing keeps epoch-to-epoch
         jitter during the initial descent from passing for a minimum.
      2. The first local minimum is the first row i with s[i+1] > s[i], i.e.
         the end of the initial non-increasing stretch.
      3. The peak is the row after i with the largest s (the earliest one on
         ties); test_error_peak_epoch is its epoch and test_error_peak its
         smoothed value s. If s never rises (no such i), both are None.
    """
    ordered = sorted(rows, key=lambda row: row["epoch"])
    perfect = next((int(row["epoch"]) for row in ordered if row["train_err"] == 0), None)
    curve = [row for row in ordered if math.isfinite(row["test_err"])]
    smooth = moving_average([row["test_err"] for row in curve], window)
    minimum = next((i for i in range(len(smooth) - 1) if smooth[i + 1] > smooth[i]), None)
    if minimum is None:
        return {"perfect_fit_epoch": perfect, "test_error_peak_epoch": None, "test_error_peak": None}
    peak = max(range(minimum + 1, len(smooth)), key=lambda i: (smooth[i], -i))
    return {
        "perfect_fit_epoch": perfect,
        "test_error_peak_epoch": int(curve[peak]["epoch"]),
        "test_error_peak": smooth[peak],
    }
