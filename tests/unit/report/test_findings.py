"""The paper's findings as contrasts (repdyn.report.findings) on constructed matrices with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repdyn.analysis.change import (
    log_weights,
    nearest_grid_epoch,
    return_to_init,
    weighted_change,
)
from repdyn.report import findings as F
from repdyn.report import findings_tsv
from repdyn.report.experiment_settings import flat_settings
from repdyn.report.index import compute_findings
from repdyn.report.noise_contrasts import noise_contrasts
from repdyn.report.readers import SimilarityResult

EPOCHS = [0, 1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256]
LAYERS = ["conv1", "layer4", "linear"]
FIT = 16


def drift_matrix(epochs, rate):
    """Steady drift on the log axis at `rate`: S_ij = exp(-rate |log(1+e_i) - log(1+e_j)|)."""
    u = np.log1p(np.asarray(epochs, dtype=float))
    return np.exp(-rate * np.abs(u[:, None] - u[None, :]))


def angle_matrix(angles):
    """Representations at angles theta(e) in a plane: S_ij = cos^2(theta_i - theta_j) (1 at equal angles)."""
    a = np.asarray(angles, dtype=float)
    return np.cos(a[:, None] - a[None, :]) ** 2


def cka(matrices):
    e = np.asarray(EPOCHS)
    return SimilarityResult("CKA", list(matrices), dict(matrices), e, e, Path("cka.zarr"), Path("cka"))


def report(name, *, noise, seed, matrices, fit=FIT, best=4, probe=None):
    """A report.json as the experiment report writes it, with only what the findings read."""
    phases = {"perfect_fit_epoch": fit, "double_descent": {"minimum_epoch": best}}
    drs = None
    if probe is not None:
        e = np.asarray(EPOCHS)
        drs = SimilarityResult("DRS", LAYERS, {}, e, e, Path("drs.zarr"), Path("drs"), np.asarray(probe).T)
    measures = F.experiment_measures(cka(matrices), drs, phases, [])
    return {
        "name": name,
        "epochs": EPOCHS[-1],
        "layers": LAYERS,
        "labels": {k: k for k in LAYERS},
        "phases": phases,
        "findings": measures,
        "cka": {k: {"blocks": {"transitions": []}, "init": {"epochs": EPOCHS}} for k in LAYERS},
        "settings": {
            "data": {"label_noise": noise, "noise_seed": 0},
            "train": {"train": {"seed": seed}, "model": {"width": 4}},
        },
    }


def by_rates(rates):
    return {layer: drift_matrix(EPOCHS, r) for layer, r in zip(LAYERS, rates)}


def verdict(rows, finding):
    (row,) = [r for r in rows if r["finding"] == finding and r["layer"] == "all"]
    return row["verdict"]


# ------------------------------------------------------------------------------------------- the measures
def test_log_weights_cover_the_log_axis_and_make_the_change_grid_independent():
    dense = list(range(0, 257))
    w = log_weights(dense)
    assert w.sum() == pytest.approx(np.log1p(256)) and (w > 0).all()
    # steady drift on the log axis: the dense grid and the log-spaced grid give nearly the same change,
    # where an unweighted mean over the dense grid is dominated by the late, closely spaced epochs
    a, b = weighted_change(drift_matrix(dense, 1.0), dense), weighted_change(drift_matrix(EPOCHS, 1.0), EPOCHS)
    assert a == pytest.approx(b, abs=0.03)
    plain_dense = 1 - drift_matrix(dense, 1.0)[~np.eye(257, dtype=bool)].mean()
    assert abs(plain_dense - b) > 0.1
    assert weighted_change(np.ones((5, 5)), [0, 1, 2, 3, 4]) == 0.0
    assert nearest_grid_epoch(EPOCHS, 15) == 16 and nearest_grid_epoch(EPOCHS, 100) == 90


def test_return_to_init_needs_a_rise_after_the_fit_not_a_high_final_value():
    u = np.log1p(EPOCHS)
    away = np.minimum(u / np.log1p(FIT), 1.0) * 0.9  # moves away until the fit
    back = np.where(np.asarray(EPOCHS) > FIT, 0.9 - 0.5 * (u - np.log1p(FIT)) / (u[-1] - np.log1p(FIT)), away)
    returned = return_to_init(angle_matrix(back), EPOCHS, FIT, 4)
    assert returned.rise > 0.3 and returned.drift == pytest.approx(returned.best_at_end - returned.best_at_fit)
    frozen = return_to_init(angle_matrix(away), EPOCHS, FIT, 4)
    assert frozen.rise == pytest.approx(0.0)
    never_moved = return_to_init(np.ones((len(EPOCHS),) * 2), EPOCHS, FIT, 4)
    assert never_moved.init_at_end == 1.0 and never_moved.rise == 0.0  # high at the end, but no return
    assert return_to_init(angle_matrix(away), EPOCHS, 256, 4) is None  # no grid epoch after the fit


# ------------------------------------------------------------------------------------------- contrasts
def test_noise_contrasts_pair_noisy_and_clean_runs_seed_by_seed():
    same = by_rates([0.1, 0.2, 0.3])
    reports = [
        report("n0", noise=0.2, seed=0, matrices=same),
        report("c0", noise=0.0, seed=0, matrices=same),
        report("n1", noise=0.2, seed=1, matrices=same),
        report("c1", noise=0.0, seed=1, matrices=same),
        report("n2", noise=0.2, seed=2, matrices=same),
    ]  # no clean twin: left out
    reports.append(report("wide", noise=0.0, seed=0, matrices=same))
    reports[-1]["settings"]["train"]["model"]["width"] = 8  # another width: not a control of these
    (contrast,) = noise_contrasts(reports, flat_settings)
    assert contrast.noise == 0.2 and [(n["name"], c["name"]) for n, c in contrast.pairs] == [("n0", "c0"), ("n1", "c1")]
    # the same run under a second name (another config's experiment) is not another seed
    again = report("n0-again", noise=0.2, seed=0, matrices=same)
    for r, run in ((reports[0], "run-n0"), (again, "run-n0")):
        r["ids"] = {"train": run}
    (contrast,) = noise_contrasts(reports + [again], flat_settings)
    assert [n["name"] for n, _ in contrast.pairs] == ["n0", "n1"]
    alone = [report("n0", noise=0.2, seed=0, matrices=same)]
    rows = compute_findings(alone)
    assert {r["verdict"] for r in rows} == {"not testable"} and len(rows) == 4


def test_depth_x_noise_holds_only_when_noise_adds_change_growing_with_depth():
    clean = by_rates([0.1, 0.2, 0.3])
    grows = [report(f"n{s}", noise=0.2, seed=s, matrices=by_rates([0.1, 0.5, 1.2])) for s in (0, 1)]
    controls = [report(f"c{s}", noise=0.0, seed=s, matrices=clean) for s in (0, 1)]
    rows = F.depth_noise_rows(noise_contrasts(grows + controls, flat_settings)[0])
    assert verdict(rows, F.DEPTH_NOISE) == "holds (2 seeds)"
    assert [r["layer"] for r in rows] == LAYERS + ["all"]
    # noise changes every layer alike: no interaction with depth
    flat = [report(f"n{s}", noise=0.2, seed=s, matrices=by_rates([0.4, 0.5, 0.6])) for s in (0, 1)]
    rows = F.depth_noise_rows(noise_contrasts(flat + controls, flat_settings)[0])
    assert verdict(rows, F.DEPTH_NOISE) == "does not hold (2 seeds)"
    # one seed pair of the growing case: a measurement, and one seed against it breaks the finding
    rows = F.depth_noise_rows(noise_contrasts(grows[:1] + controls[:1], flat_settings)[0])
    assert verdict(rows, F.DEPTH_NOISE) == "holds (one seed: a measurement)"
    mixed = [grows[0], report("n1", noise=0.2, seed=1, matrices=clean)]
    rows = F.depth_noise_rows(noise_contrasts(mixed + controls, flat_settings)[0])
    assert verdict(rows, F.DEPTH_NOISE) == "does not hold (2 seeds)"


def test_return_toward_init_holds_when_the_first_layer_rises_after_the_fit():
    u = np.log1p(EPOCHS)
    away = np.minimum(u / np.log1p(FIT), 1.0) * 0.9
    back = np.where(np.asarray(EPOCHS) > FIT, 0.9 - 0.5 * (u - np.log1p(FIT)) / (u[-1] - np.log1p(FIT)), away)
    deep = by_rates([0.1, 0.5, 1.0])
    returning = {**deep, "conv1": angle_matrix(back)}
    frozen = {**deep, "conv1": angle_matrix(away)}
    pair = [report("n", noise=0.2, seed=0, matrices=returning), report("c", noise=0.0, seed=0, matrices=frozen)]
    rows = F.return_init_rows(noise_contrasts(pair, flat_settings)[0])
    assert verdict(rows, F.RETURN_INIT) == "holds (one seed: a measurement)"
    first = next(r for r in rows if r["layer"] == "conv1")
    assert "0.2 noise: CKA to epoch 0 +" in first["values"] and "no noise: CKA to epoch 0 +0.000" in first["values"]
    pair = [report("n", noise=0.2, seed=0, matrices=frozen), report("c", noise=0.0, seed=0, matrices=returning)]
    rows = F.return_init_rows(noise_contrasts(pair, flat_settings)[0])
    assert verdict(rows, F.RETURN_INIT) == "does not hold (one seed: a measurement)"
    # a first layer that never moves (the stem convolution on grey-scale images) cannot return: the next one is read
    still = {**deep, "conv1": np.ones((len(EPOCHS),) * 2), "layer4": angle_matrix(back)}
    pair = [report("n", noise=0.2, seed=0, matrices=still), report("c", noise=0.0, seed=0, matrices=still)]
    rows = F.return_init_rows(noise_contrasts(pair, flat_settings)[0])
    (row,) = [r for r in rows if r["layer"] == "all"]
    assert row["verdict"] == "holds (one seed: a measurement)" and row["values"].startswith("layer4 rise")
    assert "conv1 never moved" in row["values"]


def test_findings_tsv_has_one_line_per_row_and_the_stated_columns(tmp_path):
    clean = by_rates([0.1, 0.2, 0.3])
    reports = [
        report("n0", noise=0.2, seed=0, matrices=by_rates([0.1, 0.5, 1.2])),
        report("c0", noise=0.0, seed=0, matrices=clean),
    ]
    rows = F.depth_noise_rows(noise_contrasts(reports, flat_settings)[0])
    path = tmp_path / "findings.tsv"
    findings_tsv.write_tsv(str(path), rows)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == list(findings_tsv.COLUMNS) and len(lines) == len(rows) + 1
    assert all(len(line.split("\t")) == len(findings_tsv.COLUMNS) for line in lines)


def probe_curve(shape, seed=0):
    """A probe's test error over EPOCHS (fit at 16): falling, then either a bump that falls again or flat."""
    e = np.asarray(EPOCHS, dtype=float)
    base = 0.3 + 0.6 * np.exp(-e / 2)
    if shape == "double_descent":
        base = base + 0.15 * np.exp(-(((np.log1p(e) - np.log1p(14)) / 0.35) ** 2))
    return base + np.random.default_rng(seed).normal(0, 0.002, e.size)


def test_probe_double_descent_holds_when_the_deep_layer_rises_and_falls_and_the_first_does_not():
    rates = by_rates([0.1, 0.5, 1.0])
    deep = [probe_curve("flat"), probe_curve("flat", 1), probe_curve("double_descent")]
    flat = [probe_curve("flat"), probe_curve("flat", 1), probe_curve("flat", 2)]
    pair = [
        report("n", noise=0.2, seed=0, matrices=rates, probe=deep),
        report("c", noise=0.0, seed=0, matrices=rates, probe=flat),
    ]
    rows = compute_findings(pair)
    assert verdict(rows, F.PROBE_DD) == "holds (one seed: a measurement)"
    last = next(r for r in rows if r["finding"] == F.PROBE_DD and r["layer"] == "linear")
    assert last["values"].startswith("double descent in 1 of 1 noisy runs") and "0 of 1 without noise" in last["values"]
    everywhere = [probe_curve("double_descent", s) for s in range(3)]
    pair[0] = report("n", noise=0.2, seed=0, matrices=rates, probe=everywhere)
    assert verdict(compute_findings(pair), F.PROBE_DD) == "does not hold (one seed: a measurement)"
    pair[0] = report("n", noise=0.2, seed=0, matrices=rates, probe=flat)
    assert verdict(compute_findings(pair), F.PROBE_DD) == "does not hold (one seed: a measurement)"


def test_transition_at_perfect_fitting_needs_an_alignment_unlikely_by_chance():
    from repdyn.analysis.alignment import alignment_chance

    dense = list(range(0, 301))

    def run(name, noise, transitions):
        r = report(name, noise=noise, seed=0, matrices=by_rates([0.1, 0.5, 1.0]))
        r["phases"]["perfect_fit_epoch"] = 20
        r["cka"]["linear"] = {"blocks": {"transitions": transitions}, "init": {"epochs": dense}}
        return r

    def rows(transitions):
        contrast = noise_contrasts([run("n", 0.2, transitions), run("c", 0.0, [])], flat_settings)[0]
        return F.fit_transition_rows(contrast, alignment_chance)

    assert verdict(rows([21]), F.FIT_TRANSITION) == "holds (one seed: a measurement)"
    assert "nearest transition 21" in rows([21])[0]["values"]
    assert verdict(rows([150]), F.FIT_TRANSITION) == "does not hold (one seed: a measurement)"
    # many transitions: one of them lands near the fit by chance
    assert verdict(rows(list(range(3, 300, 12))), F.FIT_TRANSITION) == "does not hold (one seed: a measurement)"
    assert verdict(rows([]), F.FIT_TRANSITION) == "does not hold (one seed: a measurement)"
