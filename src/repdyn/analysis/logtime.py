"""Similarity blocks in log time: stretches of steady drift on the paper's axis u = ln(1 + epoch).

What it is for: a representation that drifts at a steady pace in log time (similarity a function of
|u_i - u_j| only) has no phase, whatever the number of epochs and whether the grid is dense or log-spaced;
a change of pace (fast change, then frozen), a plateau or a jump is a transition.

1. log subgrid: the grid positions nearest to LOG_POINTS (256) points evenly spaced in u (each position
   once; a short or log-spaced grid is kept whole). Every stretch of log time then weighs about the same (a
   dense grid gives the last decade of epochs 90 % of its points) and the work is bounded at any E.
2. global null T_ij = f(|u_i - u_j|): the mean similarity of the off-diagonal cells at that log distance
   (equal-count bins of the sorted distances, linear between bin centres). R = S - T.
3. cost of a segmentation: every block B fits its own profile, a least-squares line in |u_i - u_j| through
   R's off-diagonal cells of B in each log-distance class (the nearest multiple of delta, the spacing of
   step 1's points: a profile that is piecewise linear on that scale); the cost is
   the squared deviation of B's cells from it, and every cell between two blocks (left unmodelled) costs
   CELL_PRICE x sigma² instead. A block of steady drift at any pace costs only its noise (its own profile
   absorbs its pace); joining two paces, a plateau and drift, or the two sides of a jump costs their
   mismatch, and a cut pays where that mismatch exceeds CELL_PRICE x sigma² per cell it frees. Noise alone
   (sigma² per cell) never pays. Each block also costs sigma² per parameter it fits (penalty 2 sigma² x n).
   The optimum is exact (dynamic programming; per block end, the class sums of every start are updated from
   the new column, O(n² x classes)).
4. sigma: the robust (MAD) scale of the second differences along the rows of S, S_i,j-1 - 2 S_ij + S_i,j+1
   (over sqrt 6; a linear trend does not enter), at least NOISE_FLOOR_SD. CELL_PRICE is calibrated on steady
   log-time drift with noise (bench/readout_calibration.py, docs/readouts.md).
NaN cells (an epoch whose representation is constant) are left out of the null, the noise and every cost.
5. strength of a transition: the squared deviation its cut removes (the two neighbouring blocks merged
   minus apart) over its price (the cells it frees times CELL_PRICE x sigma², plus one block's penalty).
"""

from __future__ import annotations

import numpy as np

from repdyn.analysis.descent import MAD_TO_SIGMA

LOG_POINTS = 256
CELL_PRICE = 3.0
NOISE_FLOOR_SD = 0.005


def log_axis(epochs: np.ndarray) -> np.ndarray:
    """u = ln(1 + epoch), the paper's log axis."""
    return np.log1p(np.asarray(epochs, dtype=np.float64))


def log_subgrid(epochs: np.ndarray, points: int = LOG_POINTS) -> np.ndarray:
    """Rule 1: increasing grid positions nearest to `points` even steps of u (all positions on short grids)."""
    u = log_axis(epochs)
    if u.size <= points:
        return np.arange(u.size)
    targets = np.linspace(u[0], u[-1], points)
    right = np.clip(np.searchsorted(u, targets), 1, u.size - 1)
    nearest = np.where(targets - u[right - 1] <= u[right] - targets, right - 1, right)
    return np.unique(nearest)


def log_lag_null(kernel: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rule 2: the similarity steady log-time drift would give, from the kernel's own finite cells."""
    size = u.size
    null = np.full(
        (size, size), float(np.nanmean(np.diagonal(kernel))) if np.isfinite(np.diagonal(kernel)).any() else 0.0
    )
    rows, cols = np.triu_indices(size, 1)
    finite = np.isfinite(kernel[rows, cols])
    rows, cols = rows[finite], cols[finite]
    if rows.size == 0:
        return null
    distance = u[cols] - u[rows]
    order = np.argsort(distance, kind="stable")
    bins = np.array_split(order, min(size, order.size))
    centres = np.array([distance[b].mean() for b in bins])
    means = np.array([kernel[rows[b], cols[b]].mean() for b in bins])
    every_row, every_col = np.triu_indices(size, 1)
    fitted = np.interp(u[every_col] - u[every_row], centres, means)
    null[every_row, every_col] = fitted
    null[every_col, every_row] = fitted
    return null


def distance_classes(u: np.ndarray, points: int = LOG_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Rule 3's class of every cell, the nearest whole multiple of delta to |u_i - u_j| (delta the spacing of
    `points` even steps), and the cell's offset from it in units of delta (in [-0.5, 0.5])."""
    span = float(u[-1] - u[0]) if u.size > 1 else 1.0
    delta = span / (points - 1) if span > 0 else 1.0
    scaled = np.abs(u[:, None] - u[None, :]) / delta
    classes = np.rint(scaled)
    return classes.astype(np.int64), scaled - classes


def noise_sigma(kernel: np.ndarray) -> float:
    """Rule 4's sigma."""
    if kernel.shape[0] < 4:
        return NOISE_FLOOR_SD
    second = kernel[:, :-2] - 2 * kernel[:, 1:-1] + kernel[:, 2:]  # NaN where a cell is NaN: left out
    upper = second[np.triu_indices(second.shape[0], 2, second.shape[1])] if second.size else second
    upper = upper[np.isfinite(upper)]
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(upper - np.median(upper)))) / np.sqrt(6) if upper.size else 0.0
    return max(sigma, NOISE_FLOOR_SD)


def segment(
    residual: np.ndarray, classes: tuple[np.ndarray, np.ndarray], penalty: float, cell_price: float, min_block: int
) -> list[int]:
    """Rule 3's exact optimum: the positions where blocks start (ties: the earliest start of the last block).

    stats[k][a, c]: the k-th sufficient statistic (_MOMENTS) of R's cells of class c in the block [a, stop)
    for the current stop.
    """
    size = residual.shape[0]
    if size < 2 * min_block:
        return [0]
    labels, offsets = classes
    width = int(labels.max()) + 1
    stats = np.zeros((len(_MOMENTS), size, width))
    best = np.full(size + 1, np.inf)
    best[0] = 0.0
    previous = np.zeros(size + 1, dtype=np.int64)
    for stop in range(1, size + 1):
        new = stop - 1
        if new:
            column = np.zeros((len(_MOMENTS), new, width))
            column[:, np.arange(new), labels[:new, new]] = _moments(residual[:new, new], offsets[:new, new])
            stats[:, :new] += np.cumsum(column[:, ::-1], axis=1)[:, ::-1]  # cell (i, new) is in [a, stop), a <= i
        last = stop - min_block
        if last < 0:
            continue
        lengths = stop - np.arange(last + 1)
        totals = best[: last + 1] + _costs(stats[:, : last + 1]) - cell_price * lengths * (lengths - 1) / 2 + penalty
        choice = int(np.argmin(totals))
        best[stop], previous[stop] = totals[choice], choice
    found, stop = [], size
    while stop > 0:
        stop = int(previous[stop])
        found.append(stop)
    return found[::-1]


def block_cost(residual: np.ndarray, classes: tuple[np.ndarray, np.ndarray], first: int, stop: int) -> float:
    """Rule 3's squared deviation of the block [first, stop) from its own profile, computed directly."""
    rows, cols = np.triu_indices(stop - first, 1)
    return _cells_cost(residual, classes, first + rows, first + cols)


def _cells_cost(
    residual: np.ndarray, classes: tuple[np.ndarray, np.ndarray], rows: np.ndarray, cols: np.ndarray
) -> float:
    labels = classes[0][rows, cols]
    width = int(labels.max()) + 1 if labels.size else 1
    moments = _moments(residual[rows, cols], classes[1][rows, cols])
    stats = np.stack([np.bincount(labels, m, width) for m in moments])[:, None, :]
    return float(_costs(stats)[0])


def strengths(
    residual: np.ndarray, classes: tuple[np.ndarray, np.ndarray], starts: list[int], penalty: float, cell_price: float
) -> tuple[float, ...]:
    """Rule 5 for every transition (starts[1:])."""
    bounds = starts + [residual.shape[0]]
    out = []
    for a, b, c in zip(bounds, bounds[1:], bounds[2:]):
        removed = (
            block_cost(residual, classes, a, c)
            - block_cost(residual, classes, a, b)
            - block_cost(residual, classes, b, c)
        )
        price = cell_price * (b - a) * (c - b) + penalty
        out.append(float(removed / price) if price > 0 else float("inf"))
    return tuple(out)


_MOMENTS = ("n", "Σr", "Σr²", "Σx", "Σx²", "Σxr")  # x: the cell's offset within its class


def _moments(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The cells' contributions to _MOMENTS; a NaN cell contributes nothing."""
    weight = np.isfinite(values).astype(np.float64)
    r = np.nan_to_num(values)
    x = offsets * weight
    return np.stack([weight, r, r * r, x, x * offsets, x * r])


def _costs(stats: np.ndarray) -> np.ndarray:
    """Per row: Σ over classes of the residual sum of squares of the least-squares line r = a + b x."""
    n, sr, srr, sx, sxx, sxr = stats
    safe = np.maximum(n, 1)
    syy = srr - sr * sr / safe
    sxx_c = sxx - sx * sx / safe
    sxy = sxr - sx * sr / safe
    slope_part = np.divide(sxy * sxy, sxx_c, out=np.zeros_like(sxy), where=sxx_c > 1e-12)
    return np.where(n > 0, syy - slope_part, 0.0).sum(axis=1)


def refine_to_grid(kernel: np.ndarray, positions: list[int], sub: np.ndarray) -> list[int]:
    """Each block start found on the log subgrid, moved to the full-grid position between the previous subgrid
    point and it that minimises the plain change-point cost (repdyn.analysis.blocks) of its two neighbouring
    blocks on the full (NaN-zeroed, symmetric) kernel: blocks on a dense grid end at grid resolution."""
    if len(positions) < 2 or sub.size == kernel.shape[0]:
        return positions
    prefix = np.zeros((kernel.shape[0] + 1, kernel.shape[0] + 1))
    prefix[1:, 1:] = kernel.cumsum(0).cumsum(1)
    diagonal = np.concatenate([[0.0], np.cumsum(np.diagonal(kernel))])

    def cost(first: int, stop: int) -> float:
        total = prefix[stop, stop] - prefix[first, stop] - prefix[stop, first] + prefix[first, first]
        return float(diagonal[stop] - diagonal[first] - total / (stop - first))

    bounds = list(positions) + [kernel.shape[0]]
    for k in range(1, len(bounds) - 1):
        index = int(np.searchsorted(sub, bounds[k]))
        low = max(int(sub[index - 1]) + 1 if index else 1, bounds[k - 1] + 1)
        candidates = range(low, min(bounds[k], bounds[k + 1] - 1) + 1)
        bounds[k] = min(candidates, key=lambda p: (cost(bounds[k - 1], p) + cost(p, bounds[k + 1]), p))
    return bounds[:-1]
