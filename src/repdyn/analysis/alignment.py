"""Chance baselines for alignments: how likely a transition lands this close to an event by chance.

What it is for: "the last layer changes phase at perfect fitting" (or at the test-error peak, at an
instability) is a claim only if so close an alignment is unlikely for transitions with no relation to the
event. Rule: on the paper's axis u = ln(1 + epoch), the observed distance is r = min over transitions of
|u(transition) - u(event)|, at least the grid's resolution at the event (half the wider of the two grid
steps around it: a transition cannot be placed closer than that). The null places the same number of
transitions independently and uniformly in log time over the grid's span [u(first), u(last)]; the
probability that at least one lies within r of the event is exact:
    p = 1 - (1 - |[u_e - r, u_e + r] ∩ [u_first, u_last]| / (u_last - u_first))^n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def alignment_chance(transition_epochs: Sequence[int], event_epoch: int, epochs: Sequence[int]) -> float | None:
    """p of so close an alignment by chance (module docstring); None without transitions or event."""
    grid = np.log1p(np.asarray(epochs, dtype=np.float64))
    if event_epoch is None or len(transition_epochs) == 0:
        return None
    if grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError(f"epochs must hold at least two increasing epochs, got {list(epochs)[:5]}...")
    event = float(np.log1p(event_epoch))
    found = np.log1p(np.asarray(transition_epochs, dtype=np.float64))
    radius = max(float(np.min(np.abs(found - event))), grid_resolution(grid, event))
    covered = min(event + radius, grid[-1]) - max(event - radius, grid[0])
    share = min(1.0, max(0.0, covered) / (grid[-1] - grid[0]))
    return float(1.0 - (1.0 - share) ** found.size)


def grid_resolution(grid: np.ndarray, position: float) -> float:
    """Half the wider of the two grid steps (in u) around `position`."""
    k = int(np.clip(np.searchsorted(grid, position), 1, grid.size - 1))
    steps = np.diff(grid)
    return float(max(steps[k - 1], steps[min(k, steps.size - 1)]) / 2)
