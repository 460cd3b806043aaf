"""The two-point effective theory as an ODE: how H, Y and W of one pair evolve under gradient flow.

State (H, Y, W): H = ‖dh‖², Y = ‖dy‖², W = ⟨dy, dy − dy*⟩ (MSE). Time is in epochs; the learning rate and the
loss's constant factors are absorbed into the two rates η_h (encoder) and η_y (decoder):

    dH/dt = −η_h ‖dx‖² W
    dY/dt = −W (η_y H + η_h ‖dx‖² Y / H)
    dW/dt = −½ η_y (3W − Y + ‖dy*‖²) H − ½ η_h ‖dx‖² (Y + W) W / H

The first equation needs only the linearised encoder; the other two also need a decoder aligned with dy
(docs/twopoint.md). Integration uses LSODA (scipy's odeint), which switches to a stiff method when a fit's trial
rates make the system stiff; on the toy's trajectories it is ~100x faster than scipy's Radau at the same result
(to 1e-9), which is what makes scanning and refining fits cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.integrate import odeint

# rhs(state, eta_h, eta_y, dx2, dy2) -> d(state)/dt; the theory's below, modified ones in controls.py
Rhs = Callable[[np.ndarray, float, float, float, float], np.ndarray]

RTOL = 1e-8
MAX_STEPS = 5000  # per output interval; a trial rate that needs more has blown up (fails fast, counts as a bad fit)
ATOL_FRACTION = 1e-10  # absolute tolerance as a fraction of the initial state's largest entry


def theory_rhs(state: np.ndarray, eta_h: float, eta_y: float, dx2: float, dy2: float) -> np.ndarray:
    """Time derivative of (H, Y, W) under the effective theory (MSE loss)."""
    h, y, w = state
    encoder = eta_h * dx2
    return np.array(
        [
            -encoder * w,
            -w * (eta_y * h + encoder * y / h),
            -0.5 * eta_y * (3.0 * w - y + dy2) * h - 0.5 * encoder * (y + w) * w / h,
        ]
    )


def check_times(t: np.ndarray) -> np.ndarray:
    """Times as a float64 vector, strictly increasing, at least two; the first is the initial state's."""
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError(f"t must be a strictly increasing 1-D array of at least 2 times, got shape {t.shape}")
    return t


def integrate(fun: Callable[[float, np.ndarray], np.ndarray], state0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Solve state' = fun(t, state) from state0 at t[0]; (len(t), k) array, all NaN if the solver failed."""
    state0 = np.asarray(state0, dtype=np.float64)
    atol = ATOL_FRACTION * max(float(np.max(np.abs(state0))), 1e-300)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odeint warns on failure; the NaN result says it
        out, info = odeint(fun, state0, t, tfirst=True, rtol=RTOL, atol=atol, full_output=True, mxstep=MAX_STEPS)
    if info["message"] != "Integration successful." or not np.all(np.isfinite(out)):
        return np.full((t.size, state0.size), np.nan)
    return out


def simulate(
    H0: float,
    Y0: float,
    W0: float,
    *,
    eta_h: float,
    eta_y: float,
    dx2: float,
    dy2: float,
    t: np.ndarray,
    rhs: Rhs = theory_rhs,
) -> np.ndarray:
    """(len(t), 3) array of H, Y, W integrated from (H0, Y0, W0) at t[0]; rows after a solver failure are NaN."""
    if H0 <= 0:
        raise ValueError(f"H0 must be > 0 (the theory divides by H), got {H0}")
    t = check_times(t)
    return integrate(lambda _, s: rhs(s, eta_h, eta_y, dx2, dy2), np.array([H0, Y0, W0], dtype=np.float64), t)


def cumulative_integral(t: np.ndarray, f: np.ndarray) -> np.ndarray:
    """∫_{t0}^{t} f at every t, f linear between samples (trapezoidal rule, exact for such f)."""
    return np.concatenate([[0.0], np.cumsum(np.diff(t) * (f[1:] + f[:-1]) / 2.0)])


def simulate_driven(
    H0: float,
    Y0: float,
    *,
    encoder_rate: float,
    eta_y: float,
    t: np.ndarray,
    W: np.ndarray,
) -> np.ndarray:
    """(len(t), 2) array of H, Y solving the first two equations with W(t) given (linear between samples).

    encoder_rate is η_h ‖dx‖², the only combination the first two equations see. This is the cross-entropy
    form: W is the measured W_CE and no third equation is assumed. With W given the system is solved in closed
    form: H' = −a W gives H = H0 − a I and (Y/H)' = −η_y W gives Y = H (Y0/H0 − η_y I), where I(t) = ∫W.
    """
    t = check_times(t)
    I = cumulative_integral(t, np.asarray(W, dtype=np.float64))  # noqa: E741
    H = H0 - encoder_rate * I
    return np.column_stack([H, H * (Y0 / H0 - eta_y * I)])
