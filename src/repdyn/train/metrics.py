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

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from repdyn.storage.atomic import write_text
from repdyn.storage.integrity import require

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


PHASE_MARKS = {"perfect_fit_epoch": "perfect fit", "test_error_peak_epoch": "test-error peak"}
INSTABILITY_MARK = "instability"


def phase_marks(phases: Mapping[str, Any]) -> dict[str, Any]:
    """What every figure marks from `training_phases`' result: {legend label: epoch, (start, end) span, or None}.

    Instability spans are shaded (see repdyn.figures.axes.draw_marks); the first carries the legend label.
    """
    marks: dict[str, Any] = {label: phases.get(key) for key, label in PHASE_MARKS.items()}
    for number, span in enumerate(phases.get("instabilities") or []):
        marks[INSTABILITY_MARK if number == 0 else f"_{INSTABILITY_MARK} {number + 1}"] = (int(span[0]), int(span[1]))
    return marks


def training_phases(rows: Iterable[Mapping[str, float]]) -> dict[str, Any]:
    """The training events (repdyn.analysis.events: perfect fit, instabilities, memorisation, double descent)
    with the double-descent peak also as test_error_peak_epoch / test_error_peak (None when there is none)."""
    from repdyn.analysis.events import training_events

    events = training_events(rows).as_dict()
    dd = events["double_descent"] or {}
    return {**events, "test_error_peak_epoch": dd.get("peak_epoch"), "test_error_peak": dd.get("peak_value")}
