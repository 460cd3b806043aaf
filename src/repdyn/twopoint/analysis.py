"""A run's two-point fits: every pair and layer fitted (fit_ce), then summarised per layer and pair type.

Per pair and layer, over the grid epochs: the invariant line H = Ĉ + κ̂ Y/H (R² beside Y-shuffled R²); C's
drift across the training phases (median C/median H per phase, split at the memorisation start, the
test-error peak and the perfect-fitting epoch; spread = max − min, beside the spread with shuffled Y); the
driven fit of η_h‖dx‖² and η_y with the measured W_CE (error beside W-shuffled error and beside the error
when the next pair's W_CE drives it: the control that can fail); the slope of log H
against log Y from the perfect-fitting epoch on (theory: ½; without a fit, the last third of the grid),
beside Y-shuffled. A pair type's row gives medians over its pairs and the fraction of pairs whose fit beats
its own baseline: a fit is read as agreement only where that fraction is high, never from R² alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .fit_ce import fit_driven, fit_invariant, fit_late_slope, invariant_drift, line_fit
from .ode import simulate_driven
from .pairs import PAIR_TYPES
from .series import PairSeries
from .shuffle import shuffled_median

SHUFFLES = 5
LATE_FALLBACK = 2 / 3  # without a perfect fit the late phase is the grid's last third


def phase_boundaries(phases: Mapping[str, Any]) -> list[int]:
    """Epochs where a new training phase begins: memorisation start, test-error peak, perfect fit (those present)."""
    memorisation = phases.get("memorisation") or [None]
    found = {memorisation[0], phases.get("test_error_peak_epoch"), phases.get("perfect_fit_epoch")}
    return sorted(int(e) for e in found if e is not None)


def late_start(epochs: np.ndarray, phases: Mapping[str, Any]) -> tuple[int, str]:
    """(first epoch of the late phase, the rule that chose it); the late phase has at least 3 grid epochs."""
    fit = phases.get("perfect_fit_epoch")
    if fit is not None and int(np.sum(epochs >= fit)) >= 3:
        return int(fit), "perfect_fit_epoch"
    if len(epochs) < 3:
        raise ValueError(f"two-point fits need at least 3 grid epochs, got {len(epochs)}")
    position = min(int(len(epochs) * LATE_FALLBACK), len(epochs) - 3)
    return int(epochs[position]), "last third of the grid (no perfect fit with 3 grid epochs from it)"


def drift_spread(epochs: np.ndarray, H: np.ndarray, Y: np.ndarray, boundaries: list[int]) -> float:
    """max − min over phases of median C / median H, κ from the invariant line on these very series (NaN with
    fewer than two phases that have epochs: no drift to measure)."""
    kappa_hat = line_fit(Y / H, H)[0]
    per_phase = invariant_drift(epochs, H, Y, kappa_hat, boundaries)
    finite = per_phase[np.isfinite(per_phase)]
    return float(finite.max() - finite.min()) if finite.size > 1 else float("nan")


def fit_pair(
    epochs: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    boundaries: list[int],
    late: int,
    W_other: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every reading of one pair at one layer, each with its shuffled baseline; the driven fit also beside the
    fit driven by `W_other` (another pair's W_CE)."""
    inv = fit_invariant(H, Y, shuffles=SHUFFLES)
    drift = invariant_drift(epochs, H, Y, inv.kappa, boundaries)
    driven = fit_driven(epochs, H, Y, W, shuffles=SHUFFLES, W_other=W_other)
    slope = fit_late_slope(epochs, H, Y, start=late, shuffles=SHUFFLES)
    return {
        "kappa": inv.kappa,
        "C_rel": inv.C / float(np.median(H)),
        "r2": inv.r2,
        "r2_shuffled": inv.r2_shuffled,
        "drift_per_phase": drift.tolist(),
        "drift": drift_spread(epochs, H, Y, boundaries),
        "drift_shuffled": shuffled_median(
            lambda p: drift_spread(epochs, H, Y[p], boundaries), H.size, shuffles=SHUFFLES
        ),
        "encoder_rate": driven.encoder_rate,
        "eta_y": driven.eta_y,
        "driven_error": driven.error,
        "driven_error_shuffled": driven.error_shuffled,
        "driven_error_other_pair": driven.error_other,
        "late_slope": slope.slope,
        "late_r2": slope.r2,
        "late_slope_shuffled": slope.slope_shuffled,
        "late_r2_shuffled": slope.r2_shuffled,
    }


def fit_all(series: PairSeries, phases: Mapping[str, Any]) -> dict[str, Any]:
    """Per-pair fits {layer: [row per pair]} with the phase boundaries and the late-phase start they used."""
    epochs = series.epochs.astype(np.float64)
    boundaries = phase_boundaries(phases)
    late, late_rule = late_start(series.epochs, phases)
    count = series.pairs.shape[0]
    fits = {
        layer: [
            fit_pair(
                epochs,
                series.H[p, k],
                series.Y[p],
                series.W_ce[p],
                boundaries,
                late,
                series.W_ce[(p + 1) % count] if count > 1 else None,
            )
            for p in range(count)
        ]
        for k, layer in enumerate(series.layers)
    }
    return {"boundaries": boundaries, "late_start": late, "late_rule": late_rule, "pairs": fits}


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else None


def _share(pairs: list[tuple[float, float]], better) -> float | None:
    """Fraction of pairs whose reading beats its baseline (pairs with a non-finite value left out)."""
    kept = [(a, b) for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
    return float(np.mean([better(a, b) for a, b in kept])) if kept else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One table row from the per-pair fits of one layer and pair type."""
    col = {key: [r[key] for r in rows] for key in rows[0] if key != "drift_per_phase"}
    phases = np.array([r["drift_per_phase"] for r in rows], dtype=np.float64)
    out = {key: _median(values) for key, values in col.items()}
    out.update(
        {
            "pairs": len(rows),
            "drift_per_phase": [_median(list(phases[:, k])) for k in range(phases.shape[1])],
            "share_r2_above_shuffled": _share(list(zip(col["r2"], col["r2_shuffled"])), lambda a, b: a > b),
            "share_drift_below_shuffled": _share(list(zip(col["drift"], col["drift_shuffled"])), lambda a, b: a < b),
            "share_driven_below_shuffled": _share(
                list(zip(col["driven_error"], col["driven_error_shuffled"])), lambda a, b: a < b
            ),
            "share_driven_below_other_pair": _share(
                list(zip(col["driven_error"], col["driven_error_other_pair"])), lambda a, b: a < b
            ),
            "late_slope_q25": _quantile(col["late_slope"], 0.25),
            "late_slope_q75": _quantile(col["late_slope"], 0.75),
        }
    )
    return out


def _quantile(values: list[float], q: float) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.quantile(finite, q)) if finite else None


def fit_table(series: PairSeries, fits: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (layer, pair type) in layer order, then PAIR_TYPES order; types without pairs are left out."""
    table = []
    for layer in series.layers:
        for k, name in enumerate(PAIR_TYPES):
            rows = [r for r, kind in zip(fits["pairs"][layer], series.kind) if kind == k]
            if rows:
                table.append({"layer": layer, "pair_type": name, **summarise(rows)})
    return table


def ratio_curves(series: PairSeries) -> dict[str, np.ndarray]:
    """{pair type: (layer, epoch) median over its pairs of H/H(first epoch)}."""
    ratio = series.H / series.H[..., :1]
    return {
        name: np.median(ratio[series.kind == k], axis=0)
        for k, name in enumerate(PAIR_TYPES)
        if np.any(series.kind == k)
    }


def representatives(series: PairSeries, fits: Mapping[str, Any], layer: str) -> dict[str, dict[str, Any]]:
    """Per pair type at `layer`: the pair with the median driven-fit error, its measured H, Y and the driven theory."""
    k_layer = series.layers.index(layer)
    out = {}
    for k, name in enumerate(PAIR_TYPES):
        members = np.flatnonzero(series.kind == k)
        if not members.size:
            continue
        errors = np.array([fits["pairs"][layer][p]["driven_error"] for p in members])
        p = int(members[np.argsort(np.nan_to_num(errors, nan=np.inf))[(members.size - 1) // 2]])
        row = fits["pairs"][layer][p]
        H, Y = series.H[p, k_layer], series.Y[p]
        theory = simulate_driven(
            H[0],
            Y[0],
            encoder_rate=row["encoder_rate"],
            eta_y=row["eta_y"],
            t=series.epochs.astype(np.float64),
            W=series.W_ce[p],
        )
        out[name] = {
            "pair": p,
            "index": series.pairs[p].tolist(),
            "H": H,
            "Y": Y,
            "H_theory": theory[:, 0],
            "Y_theory": theory[:, 1],
            "driven_error": row["driven_error"],
        }
    return out
