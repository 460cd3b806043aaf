"""Training events read off a run's per-epoch metrics: perfect fitting, instabilities, memorisation, double descent.

Why one module with fixed rules: an optimisation instability after perfect fitting (training error
on the training labels jumping from 0 to 22 % and back) also spikes the test error, and a readout
that takes the highest test error for the double-descent peak reports the spike. The rules below
tell the two apart and say "none" when the curve does not show an event clearly.

Rules (rows sorted by epoch; `train_err` is the error on the labels trained on, i.e. the noisy ones):
1. perfect_fit_epoch: the first epoch with train_err == 0 (None if never).
2. instabilities: after the first fit, an epoch is unstable when
     train_err > INSTABILITY_ERROR (1 % of the training set), or
     train_loss > INSTABILITY_LOSS_FACTOR (100) x the lowest train_loss from the first fit to that epoch.
   Unstable epochs closer than MERGE_GAP (3) epochs apart form one span [start, end]: start is the
   first unstable epoch, end the last. Before the first fit nothing is an instability (the network
   is still fitting; its training error is expected to be high).
3. test-error curve s: test_err with the unstable epochs left out, smoothed by a centred running
   median over SMOOTHING_WINDOW (5) epochs (of the neighbours that exist and are stable). A median,
   not a mean: one-epoch swings (at lr 1e-3 the default's test error moves by +-5 % from one epoch
   to the next) and the steep first descent do not leak into the neighbouring epochs.
   Its noise sigma is the robust (median absolute deviation) scale of the epoch-to-epoch
   differences of the raw stable test_err, divided by sqrt 2 (the noise of one epoch's value).
   margin = max(MIN_RISE, SIGNIFICANCE x sigma)  (0.01 and 2.5): the rise that counts as real. The
   difference of two 5-epoch running medians of independent noise has a standard deviation of about
   0.76 sigma, so the margin is about 3.3 of those; on flat noise over a 30-epoch memorisation phase
   it is crossed by chance in about 3 % of draws (tests/test_events.py measures it).
4. memorisation [start, end]: end is the perfect-fit epoch; start is the first test-error minimum:
   walking s forward through epochs <= perfect_fit_epoch and tracking its running minimum, the
   minimum at the first epoch where s exceeds that running minimum by more than the margin; if s
   never does, the lowest s up to the fit. None without a fit or when start == end.
5. double_descent: when s rose by more than the margin inside memorisation (rule 4 found its
   minimum that way), {minimum_epoch, minimum_value, peak_epoch, peak_value} with the peak the
   highest s in (minimum_epoch, perfect_fit_epoch] (earliest on ties), never an unstable epoch;
   values are smoothed test errors as fractions. None otherwise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

INSTABILITY_ERROR = 0.01
INSTABILITY_LOSS_FACTOR = 100.0
MERGE_GAP = 3
SMOOTHING_WINDOW = 5
MIN_RISE = 0.01
SIGNIFICANCE = 2.5
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of a normal distribution

REQUIRED = ("epoch", "train_loss", "train_err", "test_err")


@dataclass(frozen=True)
class DoubleDescent:
    """The smoothed test error's first minimum and its peak inside memorisation (fractions)."""

    minimum_epoch: int
    minimum_value: float
    peak_epoch: int
    peak_value: float


@dataclass(frozen=True)
class TrainingEvents:
    """What `training_events` reads off a run; `as_dict` is the JSON `repdyn events` prints."""

    perfect_fit_epoch: int | None
    instabilities: tuple[tuple[int, int], ...]
    memorisation: tuple[int, int] | None
    double_descent: DoubleDescent | None
    margin: float

    def as_dict(self) -> dict[str, Any]:
        dd = self.double_descent
        return {
            "perfect_fit_epoch": self.perfect_fit_epoch,
            "instabilities": [list(span) for span in self.instabilities],
            "memorisation": list(self.memorisation) if self.memorisation else None,
            "double_descent": None if dd is None else {"minimum_epoch": dd.minimum_epoch,
                                                       "minimum_value": dd.minimum_value,
                                                       "peak_epoch": dd.peak_epoch, "peak_value": dd.peak_value},
        }

    def unstable(self, epoch: int) -> bool:
        """Whether `epoch` lies inside an instability span."""
        return any(start <= epoch <= end for start, end in self.instabilities)


def training_events(rows: Iterable[Mapping[str, float]]) -> TrainingEvents:
    """Apply rules 1-5 of the module docstring to metrics rows (any order)."""
    ordered = _checked(rows)
    fit = perfect_fit_epoch(ordered)
    spans = instabilities(ordered, fit)
    epochs, raw = _stable_test_error(ordered, spans)
    smooth = smoothed(epochs, raw, SMOOTHING_WINDOW)
    margin = significance_margin(epochs, raw)
    memorisation, dd = _memorisation(epochs, smooth, fit, margin)
    return TrainingEvents(fit, spans, memorisation, dd, margin)


def smoothed_test_error(rows: Iterable[Mapping[str, float]]) -> tuple[list[int], list[float]]:
    """The curve the double-descent peak is read from (rule 3): epochs and smoothed test error, instabilities
    left out. Drawn beside the raw test error, so that the marked peak lies on a drawn curve."""
    ordered = _checked(rows)
    epochs, raw = _stable_test_error(ordered, instabilities(ordered, perfect_fit_epoch(ordered)))
    return epochs, smoothed(epochs, raw, SMOOTHING_WINDOW)


def _stable_test_error(ordered: Sequence[Mapping[str, float]],
                       spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[float]]:
    stable = [r for r in ordered if math.isfinite(r["test_err"]) and not _inside(int(r["epoch"]), spans)]
    return [int(r["epoch"]) for r in stable], [float(r["test_err"]) for r in stable]


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
        if epoch > fit and (row["train_err"] > INSTABILITY_ERROR or loss > INSTABILITY_LOSS_FACTOR * lowest):
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


def smoothed(epochs: Sequence[int], values: Sequence[float], window: int) -> list[float]:
    """Centred running median over `window` epochs, of the points present (gaps are not bridged by position)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd integer, got {window!r}")
    half = window // 2
    out = []
    for epoch in epochs:
        out.append(statistics.median(v for e, v in zip(epochs, values) if abs(e - epoch) <= half))
    return out


def significance_margin(epochs: Sequence[int], values: Sequence[float]) -> float:
    """Rule 3: max(MIN_RISE, SIGNIFICANCE x robust epoch-to-epoch noise of the raw test error)."""
    steps = [b - a for (ea, a), (eb, b) in zip(zip(epochs, values), zip(epochs[1:], values[1:])) if eb - ea == 1]
    if len(steps) < 2:
        return MIN_RISE
    centre = statistics.median(steps)
    sigma = MAD_TO_SIGMA * statistics.median(abs(s - centre) for s in steps) / math.sqrt(2)
    return max(MIN_RISE, SIGNIFICANCE * sigma)


def _memorisation(epochs: list[int], smooth: list[float], fit: int | None,
                  margin: float) -> tuple[tuple[int, int] | None, DoubleDescent | None]:
    """Rules 4 and 5 on the stable smoothed curve."""
    if fit is None:
        return None, None
    before = [i for i, e in enumerate(epochs) if e <= fit]
    if not before:
        return None, None
    low, risen = before[0], False
    for i in before:
        if smooth[i] < smooth[low]:
            low = i
        elif smooth[i] > smooth[low] + margin:
            risen = True
            break
    if not risen:
        low = min(before, key=lambda i: (smooth[i], i))
    memorisation = (epochs[low], fit) if epochs[low] < fit else None
    if not risen:
        return memorisation, None
    peak = max((i for i in before if i > low), key=lambda i: (smooth[i], -i))
    return memorisation, DoubleDescent(epochs[low], smooth[low], epochs[peak], smooth[peak])


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
