"""Readouts at the paper's length, on inputs with known answers (repdyn.analysis.surrogates): double descent
at memorisation lengths 30-1000, events robustness, log-time blocks at E = 61, 1001, 4001, alignment chance.
Calibration with many draws: bench/readout_calibration.py (tables in docs/readouts.md)."""

from __future__ import annotations

import numpy as np
import pytest

from repdyn.analysis.alignment import alignment_chance
from repdyn.analysis.blocks import detect_blocks
from repdyn.analysis.descent import double_descent, read_rise
from repdyn.analysis.events import INSTABILITY_LOSS_FLOOR, training_events
from repdyn.analysis.surrogates import (
    drift_matrix,
    error_curve,
    log_drift_positions,
    log_grid,
)

DRAWS = 20


@pytest.mark.parametrize("length", [30, 300, 1000])
@pytest.mark.parametrize("noise", [dict(), dict(noise_before=0.03, noise_after=0.01)])
def test_flat_test_error_gives_at_most_one_false_peak_in_twenty_at_any_length(length, noise):
    found = [read_rise(*error_curve(length, seed=seed, **noise)) for seed in range(DRAWS)]
    assert sum(r.kind == "double_descent" for r in found) <= 1  # at most 5 %


@pytest.mark.parametrize("length", [30, 300])
def test_monotone_overfitting_is_overfitting_never_double_descent(length):
    kinds = [read_rise(*error_curve(length, shape="overfit", rise=0.047, seed=s)).kind for s in range(DRAWS)]
    assert "double_descent" not in kinds
    assert kinds.count("overfitting") >= (DRAWS if length == 300 else DRAWS // 2)


def test_a_genuine_peak_inside_a_300_epoch_memorisation_is_found_with_its_p_value():
    epochs, values, fit = error_curve(300, shape="peak", rise=0.05, seed=3)
    found = double_descent(epochs, values, fit)
    assert found is not None and abs(found["peak_epoch"] - 153) <= 30
    assert found["p_value"] < 0.02 and found["rise"] > found["margin"]


def test_double_descent_on_a_short_log_spaced_probe_grid():
    grid = log_grid(4000, 15)
    u = np.log1p(grid)
    peak = 0.3 + 0.08 * np.exp(-((u - 4.0) ** 2) / 0.5) + np.random.default_rng(0).normal(0, 0.005, u.size)
    found = double_descent(grid, peak)
    assert found is not None and 20 <= found["peak_epoch"] <= 150
    assert double_descent(grid, 0.3 + 0.08 * (u / u[-1])) is None  # rises to the end: no second descent


def test_loss_fluctuations_near_round_off_are_not_instabilities_and_unmeasured_fit_says_so():
    rows = [{"epoch": e, "test_err": 0.3, "train_err": max(0.0, 0.5 - e / 20), "train_loss": 1e-6} for e in range(60)]
    rows[40]["train_loss"] = 1e-4  # 100-fold, but far below the floor
    rows[50]["train_loss"] = 10 * INSTABILITY_LOSS_FLOOR
    assert training_events(rows).instabilities == ((50, 50),)
    rows[45]["train_err"], rows[46]["test_err"] = 7 / 2000, 0.3 + 1 / 400  # set sizes 2000 and 400 (lcm of 2000/7)
    thresholds = training_events(rows).as_dict()["thresholds"]
    assert (thresholds["training_set_size"], thresholds["instability_error_images"]) == (2000, 21)
    assert (thresholds["test_set_size"], thresholds["min_rise_images"]) == (400, 4)
    running = [dict(r, run_loss=r["train_loss"], run_err=r["train_err"]) for r in rows]
    events = training_events(running)
    assert events.perfect_fit_epoch is None and not events.train_measured
    assert events.as_dict()["training_error"].startswith("not measured")


@pytest.mark.parametrize("size", [1001, 4001])
@pytest.mark.parametrize("speed", [0.3, 1.0])
def test_steady_log_time_drift_is_at_most_two_blocks(size, speed):
    grid = np.arange(size)
    found = detect_blocks(drift_matrix(log_drift_positions(grid, speed), noise=0.02, seed=1), grid)
    assert len(found.ranges) <= 2
    sparse = log_grid(size - 1, 49)
    assert detect_blocks(drift_matrix(log_drift_positions(sparse, speed), noise=0.02), sparse).transitions == ()


@pytest.mark.parametrize("size, plateau", [(61, (8, 14)), (1001, (50, 100))])
def test_a_plateau_on_log_time_drift_is_found_with_no_extra_transitions(size, plateau):
    grid = np.arange(size)
    found = detect_blocks(drift_matrix(log_drift_positions(grid, 1.0, plateaus=[plateau]), noise=0.02), grid)
    assert len(found.transitions) == 2
    assert all(abs(t - edge) <= max(2, 0.1 * edge) for t, edge in zip(found.transitions, plateau))


@pytest.mark.parametrize("size, grid_kind", [(61, "dense"), (1001, "dense"), (1001, "log"), (4001, "log")])
def test_a_tenfold_drop_of_pace_is_one_transition_within_ten_percent_or_a_grid_step(size, grid_kind):
    grid = np.arange(size) if grid_kind == "dense" else log_grid(size - 1, 49)
    drop = size // 4
    found = detect_blocks(drift_matrix(log_drift_positions(grid, 1.0, drop_at=drop), noise=0.02), grid)
    first = int(np.searchsorted(grid, drop))  # the first grid epoch of the slow pace
    near = [
        t
        for t in found.transitions  # a 49-point grid steps by 19 %: there, one grid step is allowed
        if abs(t - drop) <= 0.1 * drop or abs(int(np.searchsorted(grid, t)) - first) <= 1
    ]
    assert len(found.transitions) == 1
    assert near and len(found.strengths) == len(found.transitions) and min(found.strengths) >= 1


def test_alignment_chance_is_exact_and_small_only_for_close_alignments():
    epochs = list(range(1001))
    span = np.log1p(1000)
    assert alignment_chance([100], 100, epochs) == pytest.approx(2 * np.log(102 / 101) / 2 / span, rel=0.02)
    close, far = alignment_chance([13], 13, epochs), alignment_chance([300], 13, epochs)
    assert close < 0.05 < far
    assert alignment_chance([300, 500, 13], 13, epochs) == pytest.approx(1 - (1 - close) ** 3)
    assert alignment_chance([], 13, epochs) is None
