"""The toy validation's readings: the theory fitted to two-point runs, per layer, per gain, per (‖dx‖, ‖dy*‖).

Every reading is a fit of the full three-variable ODE (fit_mse) to a ToyRecord, with its error normalised
(fit_mse.fit_error) so layers and runs of different scale compare; the control refits modified ODEs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .closed_forms import final_distance, laziness
from .controls import CONTROLS
from .fit_mse import fit_error, fit_mse, raw_error, shuffled_fit_error
from .ode import simulate
from .toy import ToyRecord


@dataclass(frozen=True)
class LayerFit:
    layer: int
    eta_h: float
    eta_y: float
    error: float  # normalised
    raw_error: float  # unnormalised Σ (x − x̂)²


def series(record: ToyRecord, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, H, Y, W) of one hidden layer of a run."""
    return record.epochs, record.H[:, layer], record.Y, record.W


def fit_layer(record: ToyRecord, layer: int) -> LayerFit:
    """The theory fitted with H taken at one hidden layer (Y, W are the output's, the same for every layer)."""
    t, H, Y, W = series(record, layer)
    constants = {"dx2": record.setup.dx2, "dy2": record.setup.dy2}
    eta_h, eta_y = fit_mse(t, H, Y, W, **constants)
    rates = {"eta_h": eta_h, "eta_y": eta_y, **constants}
    return LayerFit(layer, eta_h, eta_y, fit_error(t, H, Y, W, **rates), raw_error(t, H, Y, W, **rates))


def depth_profile(record: ToyRecord) -> list[LayerFit]:
    """fit_layer for every hidden layer."""
    return [fit_layer(record, layer) for layer in range(record.H.shape[1])]


def theory_curves(record: ToyRecord, fit: LayerFit) -> np.ndarray:
    """(E, 3) H, Y, W of the fitted theory from the run's initial state at that layer."""
    t, H, Y, W = series(record, fit.layer)
    return simulate(H[0], Y[0], W[0], eta_h=fit.eta_h, eta_y=fit.eta_y, dx2=record.setup.dx2, dy2=record.setup.dy2, t=t)


def control_errors(record: ToyRecord, layer: int, shuffles: int = 3) -> dict[str, float]:
    """Fit error of the theory, of each modified ODE refitted, and of the theory on epoch-shuffled data."""
    t, H, Y, W = series(record, layer)
    constants = {"dx2": record.setup.dx2, "dy2": record.setup.dy2}
    errors = {"theory": fit_layer(record, layer).error}
    for name, rhs in CONTROLS.items():
        eta_h, eta_y = fit_mse(t, H, Y, W, rhs=rhs, **constants)
        errors[name] = fit_error(t, H, Y, W, eta_h=eta_h, eta_y=eta_y, rhs=rhs, **constants)
    errors["theory, epochs shuffled"] = shuffled_fit_error(t, H, Y, W, shuffles=shuffles, **constants)
    return errors


def synthetic_recovery(
    t: np.ndarray,
    state0: tuple[float, float, float],
    *,
    eta_h: float = 0.004,
    eta_y: float = 0.02,
    dx2: float = 1.0,
    dy2: float = 0.5,
) -> tuple[float, float]:
    """Fitted rates of data integrated from known rates (the fit must return them)."""
    data = simulate(*state0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2, t=t)
    return fit_mse(t, *data.T, dx2=dx2, dy2=dy2)


@dataclass(frozen=True)
class GainRow:
    gain: float
    H0: float
    H_end: float
    fit: LayerFit
    laziness: float  # C(0)/sqrt(κ‖dy*‖²) with the fitted rates: ≪ 1 rich, ≫ 1 lazy
    final_loss: float


def gain_row(record: ToyRecord, layer: int) -> GainRow:
    """How far H moved from its initial value, and the fitted theory's regime indicator, for one run."""
    fit = fit_layer(record, layer)
    H = record.H[:, layer]
    lazy = laziness(H[0], record.Y[0], eta_h=fit.eta_h, eta_y=fit.eta_y, dx2=record.setup.dx2, dy2=record.setup.dy2)
    return GainRow(record.setup.gain, float(H[0]), float(H[-1]), fit, lazy, float(record.loss[-1]))


@dataclass(frozen=True)
class FinalDistance:
    dx: float
    dy: float
    predicted: float  # H∞ from the run's initial state and the averaged rates
    measured: float  # H at the run's last epoch
    final_loss: float


def final_distance_point(record: ToyRecord, layer: int, eta_h: float, eta_y: float) -> FinalDistance:
    """Closed-form H∞ (rates fitted elsewhere, e.g. averaged over initialisations) against the run's end."""
    s, H = record.setup, record.H[:, layer]
    predicted = final_distance(H[0], record.Y[0], eta_h=eta_h, eta_y=eta_y, dx2=s.dx2, dy2=s.dy2)
    return FinalDistance(s.dx, s.dy, predicted, float(H[-1]), float(record.loss[-1]))
