"""Fitting the theory's two rates (η_h, η_y) to a measured MSE trajectory of H, Y and W.

Objective (normalised so layers of different scale compare): Σ_k Σ_t (x_k − x̂_k)² / Σ_t x_k², over the three
series k = H, Y, W, where x̂ integrates the ODE from the measured state at the first time. Start: in the rich
regime H∞² = (η_h/η_y)‖dx‖²‖dy*‖², so r = H(end)²/(‖dx‖²‖dy*‖²) estimates η_h/η_y; the scan tries
(η_h, η_y) = (g m r, g) for g and m on log grids and keeps the best (the authors scan g alone, m = 1; the
extra multipliers m rescue runs far from the rich regime), then a least-squares refinement in log-rates
moves both rates freely.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from .ode import Rhs, check_times, simulate, theory_rhs
from .shuffle import shuffled_median

SCAN = np.logspace(-6, 2, 17)  # overall scale g of the rates
RATIO_SCAN = np.logspace(-2, 2, 5)  # multipliers of the rich-regime ratio r (it is off when the run is not rich)
FAILED_RESIDUAL = 10.0  # per series when the ODE cannot be integrated: a fit error of 3 · 10², far above any real fit


def measured_state(H: np.ndarray, Y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(len(t), 3) float64 array of the measured series, checked for equal length and finiteness."""
    data = np.column_stack([np.asarray(v, dtype=np.float64) for v in (H, Y, W)])
    if not np.all(np.isfinite(data)):
        raise ValueError("H, Y and W must be finite")
    if data[0, 0] <= 0:
        raise ValueError(f"H at the first time must be > 0, got {data[0, 0]}")
    return data


def residuals(model: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per-series normalised residuals (x − x̂)/‖x‖, flattened; their squared sum is the fit error."""
    scale = np.sqrt(np.sum(data**2, axis=0))
    scale[scale == 0] = 1.0
    r = (model - data) / scale
    if not np.all(np.isfinite(r)):
        return np.full(data.size, FAILED_RESIDUAL / np.sqrt(data.shape[0]))
    return r.ravel()


def model_and_data(
    t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, rates: dict[str, float], rhs: Rhs
) -> tuple[np.ndarray, np.ndarray]:
    """(the ODE integrated from the measured first state with `rates` (eta_h, eta_y, dx2, dy2), the measurements)."""
    data = measured_state(H, Y, W)
    return simulate(*data[0], **rates, t=check_times(t), rhs=rhs), data


def fit_error(
    t: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    *,
    eta_h: float,
    eta_y: float,
    dx2: float,
    dy2: float,
    rhs: Rhs = theory_rhs,
) -> float:
    """Normalised objective Σ_k ‖x_k − x̂_k‖² / ‖x_k‖² of given rates (0 = perfect; ≈ 3 = no better than zero)."""
    model, data = model_and_data(t, H, Y, W, {"eta_h": eta_h, "eta_y": eta_y, "dx2": dx2, "dy2": dy2}, rhs)
    return float(np.sum(residuals(model, data) ** 2))


def raw_error(
    t: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    *,
    eta_h: float,
    eta_y: float,
    dx2: float,
    dy2: float,
    rhs: Rhs = theory_rhs,
) -> float:
    """Unnormalised objective Σ_t (H − Ĥ)² + (Y − Ŷ)² + (W − Ŵ)² (the scale-dependent form)."""
    model, data = model_and_data(t, H, Y, W, {"eta_h": eta_h, "eta_y": eta_y, "dx2": dx2, "dy2": dy2}, rhs)
    return float(np.sum((model - data) ** 2))


def fit_mse(
    t: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    *,
    dx2: float,
    dy2: float,
    rhs: Rhs = theory_rhs,
) -> tuple[float, float]:
    """Fitted (η_h, η_y) of the ODE `rhs` (default: the theory's) to measured H, Y, W at times t."""
    t = check_times(t)
    data = measured_state(H, Y, W)
    if data.shape[0] != t.size:
        raise ValueError(f"H, Y, W have {data.shape[0]} entries but t has {t.size}")
    if dx2 <= 0 or dy2 < 0:
        raise ValueError(f"need dx2 > 0 and dy2 >= 0, got dx2={dx2}, dy2={dy2}")

    def log_residuals(log_rates: np.ndarray) -> np.ndarray:
        eta_h, eta_y = np.exp(log_rates)
        return residuals(simulate(*data[0], eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2, t=t, rhs=rhs), data)

    ratio = data[-1, 0] ** 2 / (dx2 * max(dy2, 1e-12))
    starts = [np.log([g * m * ratio, g]) for g in SCAN for m in RATIO_SCAN]
    best = min(starts, key=lambda x: float(np.sum(log_residuals(x) ** 2)))
    refined = least_squares(log_residuals, best, method="trf", x_scale=1.0, diff_step=1e-6, xtol=1e-12, ftol=1e-12)
    eta_h, eta_y = np.exp(refined.x)
    return float(eta_h), float(eta_y)


def shuffled_fit_error(
    t: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    *,
    dx2: float,
    dy2: float,
    shuffles: int = 3,
    seed: int = 0,
) -> float:
    """Baseline: median fit error of the same fit on the series with their epochs jointly permuted (first kept)."""
    data = measured_state(H, Y, W)

    def score(p: np.ndarray) -> float:
        eta_h, eta_y = fit_mse(t, *data[p].T, dx2=dx2, dy2=dy2)
        return fit_error(t, *data[p].T, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)

    return shuffled_median(score, data.shape[0], shuffles=shuffles, seed=seed)
