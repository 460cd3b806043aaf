"""Training events (repdyn.analysis.events) on curves with known answers and on real metrics tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repdyn.analysis.descent import smooth
from repdyn.analysis.events import (
    INSTABILITY_ERROR,
    INSTABILITY_LOSS_FACTOR,
    MIN_RISE,
    training_events,
)

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def rows_of(test_err, train_err, train_loss=None):
    """Metrics rows with the columns the rules read (the others do not matter to them)."""
    train_loss = train_loss or [0.5 * r + 1e-3 for r in train_err]
    return [
        {"epoch": e, "test_err": t, "train_err": r, "train_loss": loss}
        for e, (t, r, loss) in enumerate(zip(test_err, train_err, train_loss))
    ]


def fitting(fit: int, length: int) -> list[float]:
    """Train error falling linearly from 0.8 to 0 at epoch `fit`, then 0."""
    return [max(0.0, 0.8 * (1 - e / fit)) for e in range(length)]


def double_descent(length=60, minimum=5, peak=20, low=0.29, high=0.40, end=0.31) -> list[float]:
    """Piecewise-linear test error: 0.8 -> low at `minimum`, -> high at `peak`, -> end at the last epoch."""
    points = ([0, minimum, peak, length - 1], [0.8, low, high, end])
    return list(np.interp(np.arange(length), *points))


def five_epoch_median(values: list[float]) -> np.ndarray:
    """Independent reference for the smoothing: 5-point centred median, shorter at the ends."""
    v = np.asarray(values)
    return np.array([np.median(v[max(0, i - 2) : i + 3]) for i in range(len(v))])


def test_clean_double_descent_inside_memorisation():
    curve = double_descent()
    events = training_events(rows_of(curve, fitting(30, 60)))
    assert events.perfect_fit_epoch == 30
    assert events.instabilities == ()
    reference = smooth(np.arange(60), np.array(curve))  # from epoch 19 on also averaged over +-5 % of the epoch
    assert reference[:18] == pytest.approx(five_epoch_median(curve)[:18])
    minimum = int(np.argmin(reference[:31]))
    assert minimum == 5  # a running median keeps the corners of a piecewise-linear curve in place
    assert events.memorisation == (minimum, 30)
    dd = events.double_descent
    peak = minimum + 1 + int(np.argmax(reference[minimum + 1 : 31]))
    assert abs(peak - 20) <= 1  # the log-time mean moves a sharp corner by up to one epoch
    assert (dd.minimum_epoch, dd.peak_epoch) == (minimum, peak)
    assert dd.minimum_value == pytest.approx(reference[minimum])
    assert dd.peak_value == pytest.approx(reference[peak])


def test_instability_after_the_fit_is_a_span_and_never_the_peak():
    test_err = double_descent(high=0.38)
    train_err = fitting(30, 60)
    for e, err in zip(range(37, 44), (0.05, 0.12, 0.22, 0.18, 0.09, 0.03, 0.011)):
        train_err[e] = err
        test_err[e] = 0.3 + 2 * err  # test error spikes far above the double-descent peak
    events = training_events(rows_of(test_err, train_err))
    assert events.instabilities == ((37, 43),)
    assert events.unstable(40) and not events.unstable(44)
    assert abs(events.double_descent.peak_epoch - 20) <= 1  # the spike (0.74 at 39) is not read as the peak
    assert events.as_dict()["instabilities"] == [[37, 43]]


def test_loss_jump_without_error_is_an_instability_and_small_wobbles_are_not():
    train_err = fitting(10, 40)
    train_loss = [0.5 * r + 1e-3 for r in train_err]
    train_loss[20] = 1e-3 * 5 * INSTABILITY_ERROR  # below the error threshold, loss x 5: no event
    train_err[25] = INSTABILITY_ERROR / 2
    train_loss[30] = 0.5  # x 500 the lowest loss since the fit, error still 0
    events = training_events(rows_of(double_descent(40, 3, 8), train_err, train_loss))
    assert events.instabilities == ((30, 30),)


def test_unstable_epochs_within_the_merge_gap_form_one_span():
    train_err = fitting(10, 50)
    for e in (20, 23, 30, 34):  # 20..23: gap 3, one span; 30 and 34: gap 4, two spans
        train_err[e] = 0.1
    events = training_events(rows_of([0.3] * 50, train_err))
    assert events.instabilities == ((20, 23), (30, 30), (34, 34))


def test_noise_is_not_double_descent():
    rng = np.random.default_rng(0)
    test_err = list(np.clip(0.3 + rng.normal(0, 0.015, 60), 0, 1))  # flat, test-subset-sized noise
    events = training_events(rows_of(test_err, fitting(30, 60)))
    assert events.double_descent is None
    assert events.rise.sigma == pytest.approx(0.015, rel=0.4)  # the noise estimate sees sigma ~ 0.015
    assert events.margin > 2 * events.rise.sigma
    assert events.memorisation is not None and events.memorisation[1] == 30


def test_a_rise_just_above_the_margin_counts_and_just_below_does_not():
    base = double_descent(low=0.30, high=0.30, end=0.30)  # flat after epoch 5
    for rise, found in ((MIN_RISE * 1.5, True), (MIN_RISE * 0.5, False)):
        test_err = [v + (rise if 15 <= e <= 25 else 0.0) for e, v in enumerate(base)]
        events = training_events(rows_of(test_err, fitting(30, 60)))
        assert (events.double_descent is not None) is found
        if found:
            assert 15 <= events.double_descent.peak_epoch <= 25


def test_no_fit_no_memorisation_and_a_peak_after_the_fit_is_not_memorisation():
    events = training_events(rows_of(double_descent(), [0.2] * 60))
    assert (events.perfect_fit_epoch, events.memorisation, events.double_descent) == (None, None, None)
    assert events.instabilities == ()
    late = training_events(rows_of(double_descent(minimum=20, peak=40), fitting(10, 60)))
    assert late.perfect_fit_epoch == 10 and late.double_descent is None  # still descending at the fit
    assert late.memorisation is None


def test_smoothing_is_a_five_epoch_median_on_short_runs_and_bridges_no_gaps():
    assert list(smooth(np.array([0, 1, 2, 3]), np.array([1.0, 2.0, 3.0, 10.0]))) == [2.0, 2.5, 2.5, 3.0]
    assert list(smooth(np.array([0, 1, 5, 6]), np.array([1.0, 3.0, 5.0, 7.0]))) == [2.0, 2.0, 6.0, 6.0]
    curve = double_descent()
    assert smooth(np.arange(18), np.array(curve[:18])) == pytest.approx(five_epoch_median(curve[:18]))


def test_flat_noise_rarely_passes_for_a_peak():
    """The margin's false-positive rate: flat test error with test-error-like noise, 60 draws."""
    rng = np.random.default_rng(1)
    found = 0
    for _ in range(60):
        test_err = list(0.3 + rng.normal(0, 0.05, 60))
        test_err[:3] = [0.9, 0.6, 0.4]  # the first descent
        found += training_events(rows_of(test_err, fitting(30, 60))).double_descent is not None
    assert found <= 4  # about 3 % expected (1.8 of 60); 4 or fewer in all but ~3 % of such batches
    step = training_events(rows_of(double_descent(low=0.3, high=0.45, end=0.3), fitting(30, 60)))
    assert step.double_descent is not None


def test_bad_rows_name_the_column():
    with pytest.raises(ValueError, match="train_loss"):
        training_events([{"epoch": 0, "train_err": 0.1, "test_err": 0.2}])
    with pytest.raises(ValueError, match="no metrics rows"):
        training_events([])


def test_events_command_prints_the_json(tmp_path, capsys):
    from repdyn.cli import main
    from repdyn.train.metrics import COLUMNS, write_metrics

    test_err, train_err = double_descent(), fitting(30, 60)
    train_err[45] = 0.05
    rows = [{c: 0.5 for c in COLUMNS} | row for row in rows_of(test_err, train_err)]
    write_metrics(tmp_path / "m.tsv", rows)
    assert main(["events", str(tmp_path / "m.tsv")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"perfect_fit_epoch", "instabilities", "memorisation", "double_descent"} <= set(printed)
    assert printed["perfect_fit_epoch"] == 30 and printed["instabilities"] == [[45, 45]]
    assert {"minimum_epoch", "minimum_value", "peak_epoch", "peak_value", "p_value", "margin"} <= set(
        printed["double_descent"]
    )
    assert printed["training_error"] == "measured" and printed["thresholds"]["instability_loss_floor"] > 0
    assert main(["events", str(tmp_path / "missing.tsv")]) == 2
    assert "missing.tsv" in capsys.readouterr().err


# ---------------------------------------------------------------- real metrics tables


def real_rows(name: str) -> list[dict]:
    from repdyn.train.metrics import read_metrics

    return read_metrics(FIXTURES / name)


def test_previous_default_seed0_fits_at_32_without_instability_and_shows_double_descent():
    """The previous config.yaml (Adam lr 1e-3, eps 1e-8), train.seed 0, commit 18f3db0
    (results/train/60b6a8f333e5), 60 epochs on a 2-core CPU."""
    rows = real_rows("default_seed0_baseline.tsv")
    events = training_events(rows)
    first_zero = next(r["epoch"] for r in rows if r["train_err"] == 0)
    assert events.perfect_fit_epoch == first_zero == 32
    assert max(r["train_err"] for r in rows if r["epoch"] >= 32) == 0 and events.instabilities == ()
    dd = events.double_descent
    assert events.memorisation == (dd.minimum_epoch, 32)
    assert dd.minimum_epoch == 3 and dd.minimum_value == pytest.approx(0.334)  # median of epochs 1-5
    assert 3 < dd.peak_epoch < 32 and dd.peak_value - dd.minimum_value > events.margin
    assert (dd.peak_epoch, dd.peak_value) == (11, pytest.approx(0.447))
    assert rows[-1]["test_err"] < dd.peak_value - events.margin  # and the error comes down again


def test_an_instability_injected_into_the_real_run_is_found_and_never_the_peak():
    """The seed-0 table with the shape of an instability seen in an earlier run (training error 0 -> 22 % -> 0
    at 37-43, loss 0.0006 -> 0.94, test error spiking with it): synthetic, on real noise."""
    rows = real_rows("default_seed0_baseline.tsv")
    spike = {38: 0.06, 39: 0.15, 40: 0.22, 41: 0.12, 42: 0.04}
    for row in rows:
        if row["epoch"] in spike:
            row["train_err"] = spike[row["epoch"]]
            row["train_loss"] = 0.94 * spike[row["epoch"]] / 0.22
            row["test_err"] = 0.33 + 1.2 * spike[row["epoch"]]
        elif row["epoch"] in (37, 43):
            row["train_loss"] = 0.0006 if row["epoch"] == 37 else 0.05
    events = training_events(rows)
    assert events.instabilities == ((38, 43),)  # 43: error back to 0 but the loss still 400-fold its low
    assert events.double_descent.peak_epoch == 11
    assert training_events(real_rows("default_seed0_baseline.tsv")).double_descent == events.double_descent


def test_default_seed1_fits_at_13_stays_fitted_and_its_rise_is_within_the_noise():
    """config.yaml with train.seed 1 (Adam lr 5e-4, eps 1e-5), results/train/55a93a0a29c8 trained to 60 epochs
    on a 2-core CPU: the default stops at 40; its first 40 epochs are this run's."""
    rows = real_rows("default_seed1.tsv")
    events = training_events(rows)
    assert events.perfect_fit_epoch == 13 and events.instabilities == ()
    after = [r for r in rows if r["epoch"] >= 13]
    assert max(r["train_err"] for r in after) == 0  # not one image relabelled wrongly in 47 epochs
    jumps, lowest = [], after[0]["train_loss"]
    for row in after[1:]:
        jumps.append(row["train_loss"] / lowest)
        lowest = min(lowest, row["train_loss"])
    assert 1 < max(jumps) < 3 < INSTABILITY_LOSS_FACTOR  # the loss creeps up 2.6-fold once (epoch 49), no more
    # Its rise 5:0.32 -> 8:0.358 is 1.2 times the noise of the test error before the fit (sigma 0.032: the
    # epochs 4-12 swing by +-0.05); against that noise it is not significant, so no double descent is claimed.
    rise = events.rise
    assert (rise.minimum_epoch, rise.peak_epoch) == (5, 8)
    assert (rise.minimum_value, rise.peak_value) == (pytest.approx(0.32), pytest.approx(0.358))
    assert rise.sigma == pytest.approx(0.032, abs=0.003) and rise.p_value > 0.2
    assert events.double_descent is None and events.overfitting is None
    assert events.memorisation == (5, 13)
    cut = training_events([r for r in rows if r["epoch"] <= 40])  # the default's own length
    assert cut.as_dict() == events.as_dict()
