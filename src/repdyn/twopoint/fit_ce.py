"""Cross-entropy fits of the two-point theory, each beside its epoch-shuffled baseline.

Under cross-entropy W is replaced by W_CE = ⟨dz, g₂ − g₁⟩ (g = softmax(z) − t). The first two equations
keep their form, so three readings stay testable without the (MSE-only) third equation:
(a) the invariant C = H − κ Y/H (κ = (η_h/η_y)‖dx‖²): H = Ĉ + κ̂ (Y/H) is a straight line;
(b) the driven fit: solve dH/dt = −a W_CE, dY/dt = −W_CE(η_y H + a Y/H) with the measured W_CE (a = η_h‖dx‖²;
    closed form, ode.simulate_driven) and fit (a, η_y) to the measured H and Y;
(c) the late phase, once logits grow and C is small against H: H ≈ sqrt(κ Y), a log-log slope of ½.
Baselines: (a) and (c) permute Y's epochs against H's; (b) permutes W_CE's epochs (shuffle.py). That
shuffled baseline is weak: any monotone H fits a monotone ∫W better than a shuffled one. So (b) also reports
the sharper control that can fail: the same fit driven by another pair's W_CE (analysis.fit_pair passes the
next pair's), which keeps W's smoothness and trend but not this pair's own drive.

This cross-entropy form is repdyn's own extension of the two-point theory (van Rossem & Saxe derive it
for the mean squared error): only dH/dt = −a W keeps the theory's form exactly; the Y equation with W_CE in
place of W, and hence the invariant and the late slope, are a working hypothesis these fits test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .ode import check_times, cumulative_integral, simulate_driven
from .shuffle import shuffled_median

MAX_LOG_RATE = 300.0  # |log rate| beyond which a driven-fit trial is clipped (e^300 ~ 1e130: no fit lives there)


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = intercept + slope·x: (slope, intercept, R²); R² is NaN when y is constant.
    Centred sums, not np.polyfit: x = Y/H can be 1e-8 small, where polyfit warns of poor conditioning."""
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean())) / sxx if sxx > 0 else np.nan
    intercept = float(y.mean()) - slope * float(x.mean())
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - intercept - slope * x) ** 2)) / total if total > 0 else np.nan
    return float(slope), float(intercept), r2


@dataclass(frozen=True)
class InvariantFit:
    kappa: float  # κ̂
    C: float  # Ĉ
    r2: float  # of H = Ĉ + κ̂ Y/H
    r2_shuffled: float  # the same fit with Y's epochs permuted (median)


def fit_invariant(H: np.ndarray, Y: np.ndarray, *, shuffles: int = 5, seed: int = 0) -> InvariantFit:
    """κ̂, Ĉ and R² of the line H = Ĉ + κ̂ (Y/H) over epochs, and the R² it gets on epoch-shuffled Y."""
    H, Y = np.asarray(H, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    kappa_hat, c_hat, r2 = line_fit(Y / H, H)
    baseline = shuffled_median(lambda p: line_fit(Y[p] / H, H)[2], H.size, shuffles=shuffles, seed=seed)
    return InvariantFit(kappa_hat, c_hat, r2, baseline)


def invariant_drift(
    epochs: np.ndarray, H: np.ndarray, Y: np.ndarray, kappa_value: float, boundaries: list[float]
) -> np.ndarray:
    """Median of C = H − κY/H within each phase [b_k, b_k+1) (boundaries split the epochs), divided by median H.

    A conserved C gives equal entries; their spread is the drift across the phases (e.g. split at the
    perfect-fitting epoch and the test-error peak). A phase without epochs gives NaN.
    """
    epochs, H, Y = (np.asarray(v, dtype=np.float64) for v in (epochs, H, Y))
    c = (H - kappa_value * Y / H) / np.median(H)
    edges = [-np.inf, *sorted(boundaries), np.inf]
    return np.array(
        [
            np.median(c[(epochs >= a) & (epochs < b)]) if np.any((epochs >= a) & (epochs < b)) else np.nan
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )


@dataclass(frozen=True)
class DrivenFit:
    encoder_rate: float  # η_h ‖dx‖²
    eta_y: float
    error: float  # Σ_k ‖x_k − x̂_k‖²/‖x_k‖² over H and Y
    error_shuffled: float  # the same fit with W_CE's epochs permuted (median)
    error_other: float = float("nan")  # the same fit driven by another pair's W_CE (NaN when none was given)


def driven_residuals(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Per-series normalised residuals of the driven solution against measured H and Y."""
    model = simulate_driven(H[0], Y[0], encoder_rate=rates[0], eta_y=rates[1], t=t, W=W)
    data = np.column_stack([H, Y])
    return ((model - data) / np.sqrt(np.sum(data**2, axis=0))).ravel()


def driven_start(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Rates from the integrated equations: H − H0 = −a ∫W and Y/H − Y0/H0 = −η_y ∫W (least squares through 0)."""
    iw = cumulative_integral(t, W)
    denom = max(float(iw @ iw), 1e-300)
    a = -float(iw @ (H - H[0])) / denom
    eta_y = -float(iw @ (Y / H - Y[0] / H[0])) / denom
    return np.abs([a, eta_y]) + 1e-12


def driven_jacobian(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """d(driven_residuals)/d(log a, log η_y), exact: Ĥ = H0 − aI and Ŷ = Ĥ (Y0/H0 − η_y I) with I = ∫W.
    (Five times fewer residual evaluations than finite differences: a run's fits are thousands of pairs.)"""
    a, eta_y = rates
    iw = cumulative_integral(t, W)
    h_model = H[0] - a * iw
    scale_h, scale_y = np.sqrt(np.sum(H**2)), np.sqrt(np.sum(Y**2))
    d_h = np.column_stack([-a * iw / scale_h, np.zeros_like(iw)])
    d_y = np.column_stack([-a * iw * (Y[0] / H[0] - eta_y * iw), -eta_y * iw * h_model]) / scale_y
    return np.stack([d_h, d_y], axis=1).reshape(-1, 2)


def driven_rates(t: np.ndarray, H: np.ndarray, Y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, float]:
    """(rates (a, η_y), error) of the driven fit; refined in log-rates from driven_start."""

    def rates_of(log_rates: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(log_rates, -MAX_LOG_RATE, MAX_LOG_RATE))  # a wild trial step stays finite

    def log_residuals(log_rates: np.ndarray) -> np.ndarray:
        return driven_residuals(t, H, Y, W, rates_of(log_rates))

    def log_jacobian(log_rates: np.ndarray) -> np.ndarray:
        return driven_jacobian(t, H, Y, W, rates_of(log_rates))

    result = least_squares(log_residuals, np.log(driven_start(t, H, Y, W)), jac=log_jacobian, method="lm")
    return np.exp(result.x), float(np.sum(log_residuals(result.x) ** 2))


def fit_driven(
    t: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    W_ce: np.ndarray,
    *,
    shuffles: int = 5,
    seed: int = 0,
    W_other: np.ndarray | None = None,
) -> DrivenFit:
    """Driven fit of η_h‖dx‖² and η_y to H, Y with the measured W_CE, beside its W-shuffled baseline and, with
    `W_other` (another pair's W_CE on the same epochs), the fit driven by that."""
    t = check_times(t)
    H, Y, W = (np.asarray(v, dtype=np.float64) for v in (H, Y, W_ce))
    rates, error = driven_rates(t, H, Y, W)
    baseline = shuffled_median(lambda p: driven_rates(t, H, Y, W[p])[1], t.size, shuffles=shuffles, seed=seed)
    other = float("nan") if W_other is None else driven_rates(t, H, Y, np.asarray(W_other, dtype=np.float64))[1]
    return DrivenFit(float(rates[0]), float(rates[1]), error, baseline, other)


@dataclass(frozen=True)
class LateSlope:
    slope: float  # of log H against log Y (theory: ½)
    r2: float
    slope_shuffled: float  # median over permutations of Y's late epochs
    r2_shuffled: float


def fit_late_slope(
    epochs: np.ndarray, H: np.ndarray, Y: np.ndarray, *, start: float, shuffles: int = 5, seed: int = 0
) -> LateSlope:
    """Slope and R² of log H vs log Y over epochs >= start, and the same with Y's late epochs permuted."""
    late = np.asarray(epochs) >= start
    if late.sum() < 3:
        raise ValueError(f"the late phase (epochs >= {start}) needs at least 3 epochs, got {int(late.sum())}")
    log_h, log_y = np.log(np.asarray(H, dtype=np.float64)[late]), np.log(np.asarray(Y, dtype=np.float64)[late])
    slope, _, r2 = line_fit(log_y, log_h)
    slope_shuffled = shuffled_median(lambda p: line_fit(log_y[p], log_h)[0], log_y.size, shuffles=shuffles, seed=seed)
    r2_shuffled = shuffled_median(lambda p: line_fit(log_y[p], log_h)[2], log_y.size, shuffles=shuffles, seed=seed)
    return LateSlope(slope, r2, slope_shuffled, r2_shuffled)
