"""Training events read off a run's per-epoch metrics: perfect fitting, instabilities, memorisation, double descent.

Why one module with fixed rules: an optimisation instability after perfect fitting (training error
on the training labels jumping from 0 to 22 % and back) also spikes the test error, and a readout
that takes the highest test error for the double-descent peak reports the spike. The rules below
tell the two apart and say "none" when the curve does not show an event clearly.

Rules (rows sorted by epoch; `train_err` is the error on the labels trained on, i.e. the noisy ones):
1. perfect_fit_epoch: the first epoch with train_err == 0 (None if never).
2. instabilities: after the first fit, an epoch is unstable when
     train_err > INSTABILITY_ERROR (1 % of the training set), or
     train_loss > INSTABILITY_LOSS_FACTOR (100) x the lowest train_loss from the first fit to that epoch
     and above INSTABILITY_LOSS_FLOOR (0.01: a mean cross-entropy below it means every training label
     is predicted with about 99 % probability or more, so late in a long run, with the loss near float32
     resolution, harmless fluctuations of 100-fold do not count).
   The error threshold is also reported in images (`thresholds`), with the training-set size read off
   the table (the smallest size for which every train_err is a whole number of images); so is the
   smallest rise of rule 3 (MIN_RISE) in test images.
   Unstable epochs closer than MERGE_GAP (3) epochs apart form one span [start, end]: start is the
   first unstable epoch, end the last. Before the first fit nothing is an instability (the network
   is still fitting; its training error is expected to be high).
3. test-error rise (repdyn.analysis.descent, on test_err without the unstable epochs): the smoothed curve
   (5-epoch running median, then a running mean over +-5 % of the epoch: log-time smoothing for long runs),
   its largest rise before the fit, the noise sigma estimated before the fit, and the margin that rise must
   clear: the 1 - alpha (0.05) quantile of the largest rise of pure noise (studentised) on the same epochs,
   at least MIN_RISE (0.01). Its false-positive rate therefore does not grow with the length of memorisation.
4. memorisation [start, end]: end is the perfect-fit epoch; start is the minimum of a significant rise, or
   the lowest smoothed test error up to the fit when there is none. None without a fit or when start == end.
5. double_descent: a significant rise whose smoothed test error falls back after the peak by at least
   max(margin, half the rise): {minimum_epoch, minimum_value, peak_epoch, peak_value} plus rise, margin,
   p_value, descent, sigma. A significant rise without that second descent is `overfitting` (same fields),
   never double descent. The peak is never an unstable epoch.
Training error measured: with `train.eval_train: false` the train_* columns repeat the running (augmented,
train-mode) values, NaN at epoch 0; then perfect fitting and instabilities are "not measured", not "none".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from repdyn.analysis.descent import ALPHA, MIN_RISE, TIE_DIGITS, Rise, read_rise, smooth

#: Version of the rules above. phases.json lives inside the run's artifact, whose id does not change with
#: them: the run_metrics rule passes this as a param, so a new version rewrites phases.json (and what reads
#: it) without retraining. Bump it whenever a rule changes what phases.json says.
RULES_VERSION = 2
INSTABILITY_ERROR = 0.01
INSTABILITY_LOSS_FACTOR = 100.0
INSTABILITY_LOSS_FLOOR = 0.01
MERGE_GAP = 3
MAX_SET_SIZE = 10**7  # largest training set whose size is read off the training errors

REQUIRED = ("epoch", "train_loss", "train_err", "test_err")
NOT_MEASURED = "not measured (train.eval_train is off: the train_* columns are running, augmented values)"


@dataclass(frozen=True)
class TrainingEvents:
    """What `training_events` reads off a run; `as_dict` is the JSON `repdyn events` prints."""

    perfect_fit_epoch: int | None
    instabilities: tuple[tuple[int, int], ...]
    memorisation: tuple[int, int] | None
    rise: Rise | None  # the largest test-error rise before the fit, whatever its kind
    train_measured: bool = True
    train_size: int | None = None
    test_size: int | None = None

    @property
    def double_descent(self) -> Rise | None:
        return self.rise if self.rise is not None and self.rise.kind == "double_descent" else None

    @property
    def overfitting(self) -> Rise | None:
        return self.rise if self.rise is not None and self.rise.kind == "overfitting" else None

    @property
    def margin(self) -> float:
        """The rise a test-error peak must clear (MIN_RISE when no rise was tested)."""
        return self.rise.margin if self.rise is not None else MIN_RISE

    def as_dict(self) -> dict[str, Any]:
        return {
            "perfect_fit_epoch": self.perfect_fit_epoch,
            "instabilities": [list(span) for span in self.instabilities],
            "memorisation": list(self.memorisation) if self.memorisation else None,
            "double_descent": _rise_dict(self.double_descent),
            "overfitting": _rise_dict(self.overfitting),
            "largest_rise": _rise_dict(self.rise),
            "training_error": "measured" if self.train_measured else NOT_MEASURED,
            "thresholds": {
                "instability_error": INSTABILITY_ERROR,
                "instability_error_images": None
                if self.train_size is None
                else math.floor(INSTABILITY_ERROR * self.train_size) + 1,
                "training_set_size": self.train_size,
                "instability_loss_factor": INSTABILITY_LOSS_FACTOR,
                "instability_loss_floor": INSTABILITY_LOSS_FLOOR,
                "rise_alpha": ALPHA,
                "min_rise": MIN_RISE,
                "test_set_size": self.test_size,
                "min_rise_images": None if self.test_size is None else math.ceil(MIN_RISE * self.test_size - 1e-9),
            },
        }

    def unstable(self, epoch: int) -> bool:
        """Whether `epoch` lies inside an instability span."""
        return _inside(epoch, self.instabilities)


def training_events(rows: Iterable[Mapping[str, float]], *, eval_train: bool | None = None) -> TrainingEvents:
    """Apply rules 1-5 of the module docstring to metrics rows (any order).

    `eval_train`: whether the train_* columns come from an eval-mode pass (None: read off the table).
    """
    ordered = _checked(rows)
    measured = train_error_measured(ordered) if eval_train is None else bool(eval_train)
    fit = perfect_fit_epoch(ordered) if measured else None
    spans = instabilities(ordered, fit)
    epochs, raw = _stable_test_error(ordered, spans)
    rise = read_rise(epochs, raw, fit) if fit is not None else None
    return TrainingEvents(
        fit,
        spans,
        _memorisation(epochs, raw, fit, rise),
        rise,
        measured,
        set_size(r["train_err"] for r in ordered) if measured else None,
        set_size(r["test_err"] for r in ordered),
    )


def smoothed_test_error(rows: Iterable[Mapping[str, float]]) -> tuple[list[int], list[float]]:
    """The curve the double-descent peak is read from (rule 3): epochs and smoothed test error, instabilities
    left out. Drawn beside the raw test error, so that the marked peak lies on a drawn curve."""
    ordered = _checked(rows)
    fit = perfect_fit_epoch(ordered) if train_error_measured(ordered) else None
    epochs, raw = _stable_test_error(ordered, instabilities(ordered, fit))
    if not epochs:
        return [], []
    return epochs, [float(v) for v in smooth(np.asarray(epochs), np.asarray(raw, dtype=np.float64))]


def _stable_test_error(
    ordered: Sequence[Mapping[str, float]], spans: Sequence[tuple[int, int]]
) -> tuple[list[int], list[float]]:
    stable = [r for r in ordered if math.isfinite(r["test_err"]) and not _inside(int(r["epoch"]), spans)]
    return [int(r["epoch"]) for r in stable], [float(r["test_err"]) for r in stable]


def train_error_measured(rows: Sequence[Mapping[str, float]]) -> bool:
    """False when the train_* columns repeat the running values (eval_train off): equal to run_loss/run_err
    at every epoch (NaN alike). Tables without the run_* columns count as measured."""

    def same(a: float, b: float) -> bool:
        return a == b or (math.isnan(a) and math.isnan(b))

    if not all("run_loss" in r and "run_err" in r for r in rows):
        return True
    return not all(
        same(float(r["train_loss"]), float(r["run_loss"])) and same(float(r["train_err"]), float(r["run_err"]))
        for r in rows
    )


def set_size(errors: Iterable[float]) -> int | None:
    """The smallest set size for which every error rate is a whole number of images (None if unknown)."""
    size = 1
    for value in errors:
        err = float(value)
        if math.isfinite(err) and 0 < err < 1:
            size = math.lcm(size, Fraction(err).limit_denominator(MAX_SET_SIZE).denominator)
    return size if 1 < size <= MAX_SET_SIZE else None


def perfect_fit_epoch(rows: Sequence[Mapping[str, float]]) -> int | None:
    """Rule 1: the first epoch with zero training error on the training labels."""
    return next((int(r["epoch"]) for r in rows if r["train_err"] == 0), None)


def instabilities(rows: Sequence[Mapping[str, float]], fit: int | None) -> tuple[tuple[int, int], ...]:
    """Rule 2: [start, end] spans of unstable epochs after the first fit."""
    if fit is None:
        return ()
    unstable, lowest = [], math.inf
    for row in rows:
        epoch, loss = int(row["epoch"]), float(row["train_loss"])
        if epoch < fit:
            continue
        jumped = loss > max(INSTABILITY_LOSS_FACTOR * lowest, INSTABILITY_LOSS_FLOOR)
        if epoch > fit and (row["train_err"] > INSTABILITY_ERROR or jumped):
            unstable.append(epoch)
        elif math.isfinite(loss):
            lowest = min(lowest, loss)
    spans: list[list[int]] = []
    for epoch in unstable:
        if spans and epoch - spans[-1][1] <= MERGE_GAP:
            spans[-1][1] = epoch
        else:
            spans.append([epoch, epoch])
    return tuple((start, end) for start, end in spans)


def _memorisation(epochs: list[int], raw: list[float], fit: int | None, rise: Rise | None) -> tuple[int, int] | None:
    """Rule 4: from the significant rise's minimum (else the lowest smoothed test error up to the fit) to the fit."""
    if fit is None or rise is None:
        return None
    if rise.kind is not None:
        start = rise.minimum_epoch
    else:
        before = [i for i, e in enumerate(epochs) if e <= fit]
        s = smooth(np.asarray(epochs), np.asarray(raw, dtype=np.float64))
        start = epochs[min(before, key=lambda i: (round(float(s[i]), TIE_DIGITS), i))]
    return (start, fit) if start < fit else None


def _rise_dict(rise: Rise | None) -> dict[str, Any] | None:
    return None if rise is None else rise.as_dict()


def _inside(epoch: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= epoch <= end for start, end in spans)


def _checked(rows: Iterable[Mapping[str, float]]) -> list[Mapping[str, float]]:
    ordered = sorted(rows, key=lambda r: r["epoch"])
    if not ordered:
        raise ValueError("no metrics rows: nothing to read events from")
    for row in ordered:
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise ValueError(f"metrics row for epoch {row.get('epoch')!r} lacks column(s) {', '.join(missing)}")
    return ordered
