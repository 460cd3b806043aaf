"""The paper's findings as contrasts between experiments, each with its numbers, its verdict and its controls.

A finding is a comparison against a control, not a number from one run. The experiments of a report are
grouped into noise contrasts (repdyn.report.noise_contrasts): experiments whose settings and length are equal
except for the label noise (and the seeds), a noisy level paired with noise 0 seed by seed. Per finding (rows of
reports/findings.tsv, written by repdyn.report.findings_tsv):

- depth x noise (Sharon & Dar: deeper layers change more when there is label noise): per layer, the change of
  representation (1 - log-time weighted mean off-diagonal CKA, repdyn.analysis.change) with noise minus
  without. Holds when the difference is positive at the last layer and larger there than at the first, in
  every seed pair.
- return toward initialisation (the first layer moves back toward its initial state after perfect fitting):
  per layer, the rise of CKA to epoch 0 between the fit and the end, beside the change of CKA to the
  early-stopping epoch. Holds when the first layer that moves at all (change >= MOVED) rises by more than the
  tolerance in every seed of the noisy runs; a high final value alone is not a return.
- probe double descent by depth: which layers' linear-probe test error over the DRS grid rises and falls again
  (the double-descent rule of repdyn.analysis.descent). Holds when the last layer shows it and the first does
  not, in every seed of the noisy runs.
- transition at perfect fitting: the last layer's CKA transition nearest the fit, with the chance of so close
  an alignment for transitions placed at random on the same log-time axis (repdyn.analysis.alignment). Holds when
  that chance is below ALIGNMENT_LEVEL in every seed of the noisy runs.

Verdicts: "holds", "does not hold", "not testable" (what it needs is missing, e.g. no noise-0 twin); a verdict
from one seed pair is labelled "(one seed: a measurement)".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from repdyn.analysis.change import return_to_init, weighted_change

from .analysis import finite_or_none
from .findings_tsv import finding_row, mean_sd, verdict_text
from .noise_contrasts import NoiseContrast, noise_contrasts

ALIGNMENT_LEVEL = 0.05
MOVED = 0.01  # change (1 - weighted mean CKA) below which a layer never moved

DEPTH_NOISE = "deeper layers change more with label noise (depth x noise)"
RETURN_INIT = "the first layer returns toward initialisation after perfect fitting"
PROBE_DD = "probe double descent in deep layers, not in shallow ones"
FIT_TRANSITION = "the last layer changes phase at perfect fitting"


# ---------------------------------------------------------------------------------------------- per experiment
def experiment_measures(
    cka: Any, drs: Any, phases: Mapping[str, Any], rows: Sequence[Mapping[str, float]]
) -> dict[str, Any]:
    """What the findings read from one experiment (stored in its report.json under "findings").

    `cka`, `drs`: repdyn.report.readers.SimilarityResult or None; `phases`: the training events; `rows`: metrics.
    """
    fit = phases.get("perfect_fit_epoch")
    best = best_epoch(phases, rows)
    layers: dict[str, dict[str, Any]] = {}
    if cka is not None:
        epochs = [int(e) for e in cka.row_epochs]
        for layer in cka.layers:
            m = np.asarray(cka.matrices[layer], dtype=np.float64)
            back = return_to_init(m, epochs, fit, best) if fit is not None and best is not None else None
            layers.setdefault(layer, {}).update(
                change=finite_or_none(weighted_change(m, epochs)), return_to_init=back.as_dict() if back else None
            )
    if drs is not None and getattr(drs, "probe_test_err", None) is not None:
        for k, layer in enumerate(drs.layers):
            layers.setdefault(layer, {}).update(
                probe_epochs=[int(e) for e in drs.row_epochs],
                probe_test_err=[float(v) for v in drs.probe_test_err[:, k]],
            )
    return {"best_epoch": best, "layers": layers}


def best_epoch(phases: Mapping[str, Any], rows: Sequence[Mapping[str, float]]) -> int | None:
    """The early-stopping epoch: the double-descent minimum, else the lowest test error up to the fit."""
    dd = phases.get("double_descent") or {}
    if dd.get("minimum_epoch") is not None:
        return int(dd["minimum_epoch"])
    fit = phases.get("perfect_fit_epoch")
    scored = [
        (float(r["test_err"]), int(r["epoch"]))
        for r in rows
        if math.isfinite(float(r.get("test_err", math.nan))) and (fit is None or int(r["epoch"]) <= fit)
    ]
    return min(scored)[1] if scored else None


# ---------------------------------------------------------------------------------------------- findings
def findings_table(
    reports: Sequence[Mapping[str, Any]],
    flat_settings: Callable[[Mapping[str, Any]], dict[str, Any]],
    double_descent: Callable[..., Mapping[str, Any] | None],
    alignment_chance: Callable[[Sequence[int], int, Sequence[int]], float | None],
) -> list[dict[str, Any]]:
    """The rows of reports/findings.tsv over all reports (COLUMNS; verdict rows have layer "all")."""
    contrasts = noise_contrasts(reports, flat_settings)
    if not contrasts:
        everyone = ", ".join(r["name"] for r in reports)
        return [
            finding_row(
                f,
                "all",
                "",
                "needs a noise-0 twin of a noisy experiment (equal but for data.label_noise)",
                "not testable",
                everyone,
            )
            for f in (DEPTH_NOISE, RETURN_INIT, PROBE_DD, FIT_TRANSITION)
        ]
    rows: list[dict[str, Any]] = []
    for contrast in contrasts:
        rows += depth_noise_rows(contrast)
        rows += return_init_rows(contrast)
        rows += probe_dd_rows(contrast, double_descent)
        rows += fit_transition_rows(contrast, alignment_chance)
    return rows


def depth_noise_rows(contrast: NoiseContrast) -> list[dict[str, Any]]:
    """Per layer: change with noise, without, and their difference per seed pair; then the verdict."""
    layers = _common_layers([r for pair in contrast.pairs for r in pair])
    if len(layers) < 2 or not all(
        _layer(r, layer).get("change") is not None for pair in contrast.pairs for r in pair for layer in layers
    ):
        return [
            finding_row(
                DEPTH_NOISE, "all", "", "needs CKA in two or more layers of both runs", "not testable", contrast.names
            )
        ]
    diffs = {
        layer: [_layer(n, layer)["change"] - _layer(c, layer)["change"] for n, c in contrast.pairs] for layer in layers
    }
    rows = []
    for layer in layers:
        noisy = [_layer(n, layer)["change"] for n, _ in contrast.pairs]
        clean = [_layer(c, layer)["change"] for _, c in contrast.pairs]
        rows.append(
            finding_row(
                DEPTH_NOISE,
                _label(contrast, layer),
                f"change {mean_sd(noisy)} with {contrast.noise:g} noise, {mean_sd(clean)} without; "
                f"difference {mean_sd(diffs[layer])}",
                "1 - log-time weighted mean off-diagonal CKA, noisy minus clean, per seed pair",
                "",
                contrast.names,
            )
        )
    first, last = diffs[layers[0]], diffs[layers[-1]]
    holds = all(b > 0 and b > a for a, b in zip(first, last))
    rho = _spearman(list(range(len(layers))), [statistics.fmean(diffs[layer]) for layer in layers])
    rows.append(
        finding_row(
            DEPTH_NOISE,
            "all",
            f"difference at {_label(contrast, layers[-1])} {mean_sd(last)}, at "
            f"{_label(contrast, layers[0])} {mean_sd(first)}; rank correlation with depth {rho:.2f}",
            "last layer's difference > 0 and > the first layer's, in every seed pair",
            verdict_text(holds, len(contrast.pairs)),
            contrast.names,
        )
    )
    return rows


def return_init_rows(contrast: NoiseContrast, tolerance: float = 0.02) -> list[dict[str, Any]]:
    """Per layer and noise level: CKA to epoch 0 gained after the fit, beside CKA to the early-stopping epoch."""
    layers = _common_layers([r for pair in contrast.pairs for r in pair])
    backs = {
        (side, layer): [_layer(pair[side], layer).get("return_to_init") for pair in contrast.pairs]
        for side in (0, 1)
        for layer in layers
    }
    if not layers or any(b is None for b in backs[(0, layers[0])]):
        return [
            finding_row(
                RETURN_INIT,
                "all",
                "",
                "needs CKA epochs after perfect fitting in the noisy runs",
                "not testable",
                contrast.names,
            )
        ]
    rows = []
    for layer in layers:
        parts = []
        for side, what in ((0, f"{contrast.noise:g} noise"), (1, "no noise")):
            known = [b for b in backs[(side, layer)] if b is not None]
            if known:
                parts.append(
                    f"{what}: CKA to epoch 0 {mean_sd([b['rise'] for b in known], signed=True)} after the "
                    f"fit, to the early-stopping epoch {mean_sd([b['drift'] for b in known], signed=True)}"
                )
            else:
                parts.append(f"{what}: never fits")
        rows.append(
            finding_row(
                RETURN_INIT,
                _label(contrast, layer),
                "; ".join(parts),
                "CKA(end, 0) - CKA(fit, 0) and CKA(end, best) - CKA(fit, best)",
                "",
                contrast.names,
            )
        )
    first = first_moving_layer(contrast, layers)
    rises = [b["rise"] for b in backs[(0, first)]]
    skipped = layers[: layers.index(first)]
    note = (
        f" ({', '.join(_label(contrast, x) for x in skipped)} never moved: change below {MOVED:g})" if skipped else ""
    )
    rows.append(
        finding_row(
            RETURN_INIT,
            "all",
            f"{_label(contrast, first)} rise after the fit {mean_sd(rises, True)}{note}",
            f"first moving layer's CKA to epoch 0 rises by more than {tolerance:g} after the fit, every noisy seed",
            verdict_text(all(r > tolerance for r in rises), len(rises)),
            contrast.names,
        )
    )
    return rows


def first_moving_layer(contrast: NoiseContrast, layers: Sequence[str]) -> str:
    """The first layer whose change reaches MOVED in every noisy run (the first layer when none does).

    A layer that never moves cannot return; on small grey-scale images the stem convolution is one: its output
    is a linear map of nearly constant 3 x 3 patches, whose linear CKA is about 1 for any weights.
    """
    for layer in layers:
        changes = [_layer(r, layer).get("change") for r in contrast.noisy]
        if all(c is not None and c >= MOVED for c in changes):
            return layer
    return layers[0]


def probe_dd_rows(
    contrast: NoiseContrast, double_descent: Callable[..., Mapping[str, Any] | None]
) -> list[dict[str, Any]]:
    """Per layer: in how many runs the probe test error shows double descent, with and without noise."""
    layers = _common_layers([r for pair in contrast.pairs for r in pair])
    if not layers or any(_layer(r, layers[0]).get("probe_test_err") is None for pair in contrast.pairs for r in pair):
        return [finding_row(PROBE_DD, "all", "", "needs DRS probes in both runs", "not testable", contrast.names)]

    def peak(report: Mapping[str, Any], layer: str) -> Mapping[str, Any] | None:
        m = _layer(report, layer)
        return double_descent(
            m["probe_epochs"], m["probe_test_err"], fit_epoch=report["phases"].get("perfect_fit_epoch")
        )

    found = {(side, layer): [peak(pair[side], layer) for pair in contrast.pairs] for side in (0, 1) for layer in layers}
    n = len(contrast.pairs)
    rows = []
    for layer in layers:
        noisy, clean = found[(0, layer)], found[(1, layer)]
        where = ", ".join(f"{p['minimum_epoch']}->{p['peak_epoch']}" for p in noisy if p) or "none"
        rows.append(
            finding_row(
                PROBE_DD,
                _label(contrast, layer),
                f"double descent in {sum(p is not None for p in noisy)} of {n} noisy runs "
                f"(minimum->peak: {where}), {sum(p is not None for p in clean)} of {n} without noise",
                "the double-descent rule on the probe's test error over the DRS grid",
                "",
                contrast.names,
            )
        )
    holds = all(found[(0, layers[-1])][k] is not None and found[(0, layers[0])][k] is None for k in range(n))
    rows.append(
        finding_row(
            PROBE_DD,
            "all",
            "",
            "the last layer's probe shows double descent and the first layer's does not, every noisy seed",
            verdict_text(holds, n),
            contrast.names,
        )
    )
    return rows


def fit_transition_rows(
    contrast: NoiseContrast, alignment_chance: Callable[[Sequence[int], int, Sequence[int]], float | None]
) -> list[dict[str, Any]]:
    """Per noisy run: the last layer's CKA transition nearest the fit and the chance of so close an alignment."""
    layers = _common_layers([r for pair in contrast.pairs for r in pair])
    if not layers or any(not r.get("cka") for r in contrast.noisy):
        return [finding_row(FIT_TRANSITION, "all", "", "needs CKA blocks", "not testable", contrast.names)]
    last = layers[-1]
    chances = []
    rows = []
    for report in contrast.noisy:
        fit = report["phases"].get("perfect_fit_epoch")
        blocks = report["cka"][last]["blocks"]
        transitions = [int(t) for t in blocks.get("transitions") or []]
        epochs = [int(e) for e in report["cka"][last]["init"]["epochs"]] if report["cka"][last].get("init") else []
        chance = alignment_chance(transitions, int(fit), epochs) if fit is not None and epochs else None
        chances.append(chance)
        if chance is None:
            text = "no perfect fit" if fit is None else "no CKA transition"
        else:
            nearest = min(transitions, key=lambda t: abs(math.log1p(t) - math.log1p(fit)))
            text = f"fit at {fit}, nearest transition {nearest}, chance of so close an alignment {chance:.3f}"
        rows.append(
            finding_row(
                FIT_TRANSITION,
                _label(contrast, last),
                text,
                "transitions placed at random on the same log-time axis",
                "",
                report["name"],
            )
        )
    holds = all(c is not None and c < ALIGNMENT_LEVEL for c in chances)
    rows.append(
        finding_row(
            FIT_TRANSITION,
            "all",
            "",
            f"chance below {ALIGNMENT_LEVEL:g} in every noisy seed",
            verdict_text(holds, len(chances)),
            contrast.names,
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------- helpers
def _layer(report: Mapping[str, Any], layer: str) -> Mapping[str, Any]:
    return ((report.get("findings") or {}).get("layers") or {}).get(layer) or {}


def _common_layers(reports: Sequence[Mapping[str, Any]]) -> list[str]:
    """Layers every report analysed, in the first report's order."""
    return [layer for layer in reports[0]["layers"] if all(layer in r["layers"] for r in reports)]


def _label(contrast: NoiseContrast, layer: str) -> str:
    return contrast.pairs[0][0]["labels"].get(layer, layer)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""

    def ranks(v: Sequence[float]) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for value in set(v):
            same = np.asarray(v) == value
            r[same] = r[same].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])
