"""Closed forms of the two-point theory: the conserved quantity and the final representational distance.

Because d(Y/H)/dt = −η_y W and dH/dt = −η_h ‖dx‖² W, the combination C = H − κ Y/H with κ = (η_h/η_y)‖dx‖²
never changes. Training ends at W = 0 with Y = ‖dy*‖² (MSE), so H∞ solves H − κ‖dy*‖²/H = C.
"""

from __future__ import annotations

import numpy as np


def kappa(eta_h: float, eta_y: float, dx2: float) -> float:
    """κ = (η_h / η_y) ‖dx‖², the coefficient of the conserved quantity."""
    return eta_h / eta_y * dx2


def conserved(H: np.ndarray, Y: np.ndarray, kappa_value: float) -> np.ndarray:
    """C = H − κ Y / H, elementwise (constant along every trajectory of the theory)."""
    H = np.asarray(H, dtype=np.float64)
    return H - kappa_value * np.asarray(Y, dtype=np.float64) / H


def final_distance(H0: float, Y0: float, *, eta_h: float, eta_y: float, dx2: float, dy2: float) -> float:
    """H∞ = C/2 + sqrt(C²/4 + κ‖dy*‖²), C taken at the initial state (H0, Y0)."""
    k = kappa(eta_h, eta_y, dx2)
    c = float(conserved(H0, Y0, k))
    return c / 2.0 + float(np.sqrt(c * c / 4.0 + k * dy2))


def rich_final_distance(*, eta_h: float, eta_y: float, dx2: float, dy2: float) -> float:
    """H∞ in the rich limit C → 0 (small initialisation): sqrt(η_h/η_y) ‖dx‖ ‖dy*‖."""
    return float(np.sqrt(kappa(eta_h, eta_y, dx2) * dy2))


def laziness(H0: float, Y0: float, *, eta_h: float, eta_y: float, dx2: float, dy2: float) -> float:
    """C(0) / sqrt(κ‖dy*‖²): ≪ 1 rich (H∞ set by the task), ≫ 1 lazy (H∞ ≈ H(0))."""
    k = kappa(eta_h, eta_y, dx2)
    return float(conserved(H0, Y0, k)) / float(np.sqrt(k * dy2))
