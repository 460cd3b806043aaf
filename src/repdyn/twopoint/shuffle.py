"""Epoch-shuffled baselines: what a fit scores when the time order that the theory speaks about is destroyed.

A fit is only evidence if it scores clearly better on the measured series than on the same values with
their epochs permuted. The permutation keeps the first epoch in place (the initial state an ODE starts
from) and is drawn from numpy's Generator(seed), so a baseline is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def epoch_permutation(n: int, seed: int) -> np.ndarray:
    """A random permutation of range(n) that fixes index 0."""
    rng = np.random.default_rng(seed)
    return np.concatenate([[0], 1 + rng.permutation(n - 1)]).astype(np.int64)


def shuffled_median(score: Callable[[np.ndarray], float], n: int, *, shuffles: int = 5, seed: int = 0) -> float:
    """Median of score(permutation) over `shuffles` permutations of n epochs (seeds seed, seed+1, ...)."""
    if shuffles < 1:
        raise ValueError(f"shuffles must be >= 1, got {shuffles}")
    return float(np.median([score(epoch_permutation(n, seed + k)) for k in range(shuffles)]))
