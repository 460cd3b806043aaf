"""Modified ODEs for the control: if the theory describes a run, changing one of its terms must fit worse.

Each variant changes exactly one thing in the theory's right-hand side (ode.theory_rhs) and is refitted with
the same procedure; a fit error no better than the theory's says the data single out the theory's form.
"""

from __future__ import annotations

import numpy as np

from .ode import Rhs, theory_rhs


def doubled_decoder_term_rhs(state: np.ndarray, eta_h: float, eta_y: float, dx2: float, dy2: float) -> np.ndarray:
    """The theory with dW/dt's decoder term −½η_y(3W − Y + ‖dy*‖²)H doubled."""
    h, y, w = state
    d = theory_rhs(state, eta_h, eta_y, dx2, dy2)
    d[2] += -0.5 * eta_y * (3.0 * w - y + dy2) * h
    return d


def flipped_sign_rhs(state: np.ndarray, eta_h: float, eta_y: float, dx2: float, dy2: float) -> np.ndarray:
    """The theory with the sign of Y in dW/dt's decoder term flipped: (3W + Y + ‖dy*‖²)."""
    h, y, _ = state
    d = theory_rhs(state, eta_h, eta_y, dx2, dy2)
    d[2] += -eta_y * y * h
    return d


def no_encoder_feedback_rhs(state: np.ndarray, eta_h: float, eta_y: float, dx2: float, dy2: float) -> np.ndarray:
    """The theory without the η_h terms of dY/dt and dW/dt (H still moves; the decoder ignores it)."""
    h, y, w = state
    return np.array([-eta_h * dx2 * w, -w * eta_y * h, -0.5 * eta_y * (3.0 * w - y + dy2) * h])


CONTROLS: dict[str, Rhs] = {
    "decoder term doubled": doubled_decoder_term_rhs,
    "sign of Y flipped": flipped_sign_rhs,
    "eta_h terms dropped": no_encoder_feedback_rhs,
}
