"""Similarity blocks (training phases) along the diagonal of an epoch x epoch matrix.

Sharon & Dar read "similarity blocks" off the heatmaps by eye: ranges of epochs
whose representations are similar to each other and dissimilar to other ranges.
This module finds them reproducibly.

Method: kernel change-point detection (Arlot, Celisse & Harchaoui 2019, "A
kernel multiple change-point algorithm via model selection", JMLR 20(162)),
with the similarity matrix S itself as the kernel. CKA is the cosine between
(centred) Gram vectors and DRS the normalised agreement count of one-hot
predictions, so both are Gram matrices of feature vectors φ(e) and

    cost(B) = Σ_{i∈B} S_ii − (1/|B|) Σ_{i,j∈B} S_ij = Σ_{i∈B} ‖φ(i) − mean_B φ‖²

is the within-block scatter in that feature space. The segmentation of the grid
into contiguous blocks B_1..B_K with at least `min_block` grid points each
minimises  Σ_k cost(B_k) + penalty·K  — equivalently it maximises the
size-weighted within-block mean similarity, at a price per block. The optimum
is exact: dynamic programming over grid positions in O(E²) time, with one
NaN-free symmetric copy of S and O(E) further memory (the block sums
Σ_{i,j∈[a,b)} S_ij for all starts a are updated in place as the end b
advances, one row of S per step — the incremental form of 2-D prefix sums). Ties go to the earliest start of
the last block (np.argmin), so equal inputs always give equal blocks.

Penalty of the plain and index rules (`default_penalty(matrix)`): σ²·(5 + 2·ln E). Why:
- Shape: Arlot et al. price a segmentation into D blocks at
  c₁·ln C(n−1, D−1) + c₂·D, i.e. about c₁·(1 + ln(n/D)) + c₂ per block, in
  units of the noise variance σ² of the points around their block means. We
  use Lebarbier's (2005) constants for Gaussian mean shifts,
  σ²·(2·ln(n/D) + 5) per block, with ln(E/K) replaced by ln E so that the price
  is linear in K as required (slightly conservative).
- σ² is estimated from the matrix without knowing the blocks, by the
  difference-based (Rice 1984) estimator made robust with a median: half the
  squared kernel distance between grid neighbours,
  median_i (S_ii + S_{i+1,i+1} − 2·S_{i,i+1})/2. Neighbours almost always
  share a block, so block contrasts do not inflate it (the matrix's total
  spread would: with real blocks it grows with the very contrast to be found,
  and on the previous default experiment it hid the late block of block 4 and the
  logits that the figures show plainly).
- Floor: σ² is at least NOISE_FLOOR (2 %) of the mean diagonal, i.e. CKA/DRS
  differences below about 0.02 are never read as phases (the same threshold
  as init_curve's default tolerance). Without it an almost constant layer
  (first-layer CKA ≈ 1 − 1e-5 everywhere) is cut at round-off-sized steps.
- No structure, one block: for diagonal 1 and every other cell c (optionally
  with i.i.d. noise), each extra block lowers the cost by exactly 1 − c, which
  is σ² itself; 5 + 2·ln E ≥ 6.4 times that covers the noise term as long as
  the noise's standard deviation is below the diagonal gap 1 − c (always so
  for a genuine CKA/DRS matrix, which is positive semi-definite).
- Clear blocks are found: splitting blocks of n₁ and n₂ grid points with
  within/between similarity w, b gains ≈ 2·n₁n₂/(n₁+n₂)·(w − b).

The default rule (`drift=True`, or "log"): stretches of steady drift in log time. Kernel change-point
detection fits piecewise-constant means, so a representation that drifts at a steady pace is cut into a
block every few epochs, and on a dense grid of thousands of epochs its fast early drift looks like a
sequence of phases. The default therefore segments S on the paper's axis ln(1 + epoch) into stretches
within which similarity depends only on the log distance of two epochs, each at its own pace
(repdyn.analysis.logtime states the rule, its price and its calibration): steady log-time drift is one
block at any E and on any grid, and a change of pace, a plateau or a jump is a transition. Its price per
block is not the σ²·(5 + 2·ln E) above (that price belongs to the two rules below); `Blocks.strengths`
says how many times its price each transition pays.

`drift="index"`: the alternative rule. The cost is measured against a steady-drift null model in grid index:
T_ij = the mean of S over the diagonal |i - j|, and the segmentation minimises the cost of the residual
kernel S - T (cost_S - cost_T). Exactly steady drift in grid index is one block for any penalty; its
known limits (a change of pace is absorbed; a steep fall of pace on a dense grid is cut into short blocks)
are why it is not the default. `drift=False` gives the plain change-point segmentation of S.

NaN cells (an epoch whose representation is constant, docs/algorithms.md §1.6)
count as similarity 0 in the cost — that epoch's feature vector is the zero
vector, which keeps S a valid kernel — and are excluded from the reported
within/between means. An asymmetric S enters the cost through its symmetric
part (the block sums see S_ij and S_ji alike).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from repdyn.analysis.logtime import (
    CELL_PRICE,
    distance_classes,
    log_axis,
    log_lag_null,
    log_subgrid,
    noise_sigma,
    refine_to_grid,
    segment,
    strengths,
)
from repdyn.analysis.matrix_checks import similarity_matrix
from repdyn.config.integers import is_int, is_number

#: Smallest default penalty, relative to the mean |diagonal|: keeps an all-zero
#: matrix in one block although every segmentation then costs 0 up to round-off.
PENALTY_FLOOR = 1e-9
#: Smallest noise variance σ², relative to the mean diagonal: similarity differences
#: below about 2 % are not phases.
NOISE_FLOOR = 0.02
#: Per-block price in units of σ²: c1·ln E + c2 (Lebarbier 2005's constants).
LEBARBIER_C1 = 2.0
LEBARBIER_C2 = 5.0


@dataclass(frozen=True)
class Blocks:
    """A segmentation of an epoch grid into similarity blocks."""

    epochs: tuple[int, ...]
    starts: tuple[int, ...]
    transitions: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]
    within: tuple[float, ...]
    between: float
    penalty: float
    strengths: tuple[float, ...] = ()  # per transition: how many times its price the cut saves (logtime.py)

    def as_dict(self) -> dict:
        """JSON-ready mapping (lists instead of tuples, NaN -> None)."""
        raw = asdict(self)
        raw["epochs"] = list(self.epochs)
        raw["starts"] = list(self.starts)
        raw["transitions"] = list(self.transitions)
        raw["ranges"] = [list(r) for r in self.ranges]
        raw["within"] = [_json_float(v) for v in self.within]
        raw["between"] = _json_float(self.between)
        raw["penalty"] = float(self.penalty)
        raw["strengths"] = [float(v) for v in self.strengths]
        return raw


def detect_blocks(
    matrix: np.ndarray,
    epochs: Sequence[int],
    *,
    penalty: float | None = None,
    min_block: int = 2,
    drift: bool | str = True,
) -> Blocks:
    """Optimal segmentation of `epochs` into blocks of mutually similar epochs.

    `penalty` is the price per block (None: the default penalty of the chosen rule); larger values give fewer
    blocks. `min_block` is the smallest block in grid points (resampled log-time points for drift="log"); a
    grid shorter than `min_block` is one block. `drift`: True or "log" (the default) segments S into stretches
    of steady drift in log time (repdyn.analysis.logtime; calibration in docs/readouts.md); "index" measures
    the cost against steady drift in grid index (module docstring); False segments S itself.
    """
    values, grid = similarity_matrix(matrix, epochs)
    if not is_int(min_block):
        raise TypeError(f"min_block must be an integer, got {min_block!r}")
    if min_block < 1:
        raise ValueError(f"min_block must be an integer >= 1, got {min_block!r}")
    if drift not in (True, False, "log", "index"):
        raise ValueError(f"drift must be True, False, 'log' or 'index', got {drift!r}")
    kernel = _symmetric_kernel(values)
    if drift is True or drift == "log":
        return _log_time_blocks(values, kernel, grid, penalty, int(min_block))
    penalty = _noise_penalty(kernel) if penalty is None else _checked_penalty(penalty)
    cost_kernel = kernel - lag_profile(kernel) if drift == "index" else kernel
    starts = _optimal_starts(cost_kernel, float(penalty), int(min_block))
    return _describe(values, kernel, grid, starts, float(penalty), _strengths(cost_kernel, starts, float(penalty)))


def _log_time_blocks(
    values: np.ndarray, kernel: np.ndarray, grid: tuple[int, ...], penalty: float | None, min_block: int
) -> Blocks:
    """The default rule: stretches of steady log-time drift on the log subgrid (repdyn.analysis.logtime)."""
    sub = log_subgrid(np.asarray(grid))
    u = log_axis(np.asarray(grid)[sub])
    small = values[np.ix_(sub, sub)]
    small = (small + small.T) / 2  # NaN stays NaN
    residual = small - log_lag_null(small, u)
    classes = distance_classes(u)
    noise = noise_sigma(small) ** 2
    penalty = 2 * noise * len(sub) if penalty is None else _checked_penalty(penalty)
    starts = segment(residual, classes, float(penalty), CELL_PRICE * noise, min_block)
    positions = refine_to_grid(kernel, [int(sub[s]) for s in starts], sub)
    return _describe(
        values,
        kernel,
        grid,
        positions,
        float(penalty),
        strengths(residual, classes, starts, float(penalty), CELL_PRICE * noise),
    )


def default_penalty(matrix: np.ndarray, epochs: Sequence[int] | None = None) -> float:
    """σ²·(5 + 2·ln E) with σ² the median half squared distance of grid neighbours (floored); see the module
    docstring. With `epochs`, the log-time rule's price per block, 2 sigma² x n (repdyn.analysis.logtime, rule 3)."""
    kernel = _symmetric_kernel(np.asarray(matrix, dtype=np.float64))
    if epochs is None:
        return _noise_penalty(kernel)
    sub = log_subgrid(np.asarray(similarity_matrix(matrix, epochs)[1]))
    return 2 * noise_sigma(kernel[np.ix_(sub, sub)]) ** 2 * len(sub)


def _checked_penalty(penalty: float) -> float:
    if not is_number(penalty):
        raise TypeError(f"penalty must be a number, got {penalty!r}")
    if not math.isfinite(penalty) or penalty < 0:
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
    return float(penalty)


def _symmetric_kernel(values: np.ndarray) -> np.ndarray:
    """NaN -> 0, then the symmetric part: every block sum (hence the cost) is unchanged by it."""
    kernel = np.nan_to_num(values, nan=0.0)  # a copy
    kernel += kernel.T
    kernel *= 0.5
    return kernel


def lag_profile(kernel: np.ndarray) -> np.ndarray:
    """The steady-drift null model T: T_ij = mean of the kernel's diagonal |i - j| (a Toeplitz matrix)."""
    size = kernel.shape[0]
    means = np.array([np.diagonal(kernel, lag).mean() for lag in range(size)])
    positions = np.arange(size)
    return means[np.abs(positions[:, None] - positions[None, :])]


def _strengths(kernel: np.ndarray, starts: list[int], penalty: float) -> tuple[float, ...]:
    """Per transition: the cost its cut saves (the two neighbouring blocks merged minus apart) over the penalty."""
    bounds = starts + [kernel.shape[0]]

    def cost(first: int, stop: int) -> float:
        block = kernel[first:stop, first:stop]
        return float(np.trace(block) - block.sum() / (stop - first))

    return tuple(
        (cost(a, c) - cost(a, b) - cost(b, c)) / penalty if penalty > 0 else math.inf
        for a, b, c in zip(bounds, bounds[1:], bounds[2:])
    )


def _noise_penalty(kernel: np.ndarray) -> float:
    size = kernel.shape[0]
    if size < 2:
        return PENALTY_FLOOR
    diagonal = np.diag(kernel)
    neighbours = (diagonal[:-1] + diagonal[1:]) / 2 - np.diag(kernel, 1)
    scale = abs(float(diagonal.mean()))
    noise = max(float(np.median(neighbours)), NOISE_FLOOR * scale)
    return max(noise * (LEBARBIER_C2 + LEBARBIER_C1 * math.log(size)), PENALTY_FLOOR * max(scale, 1.0))


def _optimal_starts(kernel: np.ndarray, penalty: float, min_block: int) -> list[int]:
    """Grid positions where blocks begin in the exact optimum (NaN-free symmetric kernel).

    best[b] is the optimal penalised cost of positions [0, b); block_sums[a]
    holds Σ_{i,j∈[a,b)} S_ij for the current end b.
    """
    size = kernel.shape[0]
    if size < 2 * min_block:
        return [0]
    diagonal = np.diagonal(kernel)
    diagonal_prefix = np.concatenate(([0.0], np.cumsum(diagonal)))
    best = np.full(size + 1, np.inf)
    best[0] = 0.0
    previous = np.zeros(size + 1, dtype=np.int64)
    block_sums = np.zeros(size)
    for end in range(1, size + 1):
        new = end - 1
        cross = 2.0 * kernel[new, :new]  # S_new,i + S_i,new
        # Σ_{i=a}^{new-1} (S_i,new + S_new,i) for every start a < new
        block_sums[:new] += np.cumsum(cross[::-1])[::-1] + diagonal[new]
        block_sums[new] = diagonal[new]
        last_start = end - min_block
        if last_start < 0:
            continue
        lengths = end - np.arange(last_start + 1)
        costs = (diagonal_prefix[end] - diagonal_prefix[: last_start + 1]) - block_sums[: last_start + 1] / lengths
        totals = best[: last_start + 1] + costs + penalty
        choice = int(np.argmin(totals))  # inf where best[a] is unreachable; first minimum on ties
        best[end] = totals[choice]
        previous[end] = choice
    starts_found = []
    end = size
    while end > 0:
        end = int(previous[end])
        starts_found.append(end)
    return starts_found[::-1]


def _describe(
    values: np.ndarray,
    zeroed: np.ndarray,
    grid: tuple[int, ...],
    starts: list[int],
    penalty: float,
    strength: tuple[float, ...],
) -> Blocks:
    """Blocks with their ranges and NaN-excluding mean similarities (`zeroed`: values with NaN -> 0)."""
    size = len(grid)
    bounds = list(zip(starts, starts[1:] + [size]))
    finite = ~np.isnan(values)
    within = []
    inside_sum, inside_count = 0.0, 0
    for first, stop in bounds:
        block_finite = finite[first:stop, first:stop]
        block_sum = float(zeroed[first:stop, first:stop].sum())
        block_count = int(block_finite.sum())
        inside_sum += block_sum
        inside_count += block_count
        diag_finite = np.diagonal(block_finite)
        off_count = block_count - int(diag_finite.sum())
        off_sum = block_sum - float(np.diagonal(zeroed[first:stop, first:stop]).sum())
        within.append(off_sum / off_count if off_count else math.nan)
    outside_count = int(finite.sum()) - inside_count
    between = (float(zeroed.sum()) - inside_sum) / outside_count if len(bounds) > 1 and outside_count else math.nan
    return Blocks(
        epochs=grid,
        starts=tuple(starts),
        transitions=tuple(grid[s] for s in starts[1:]),
        ranges=tuple((grid[first], grid[stop - 1]) for first, stop in bounds),
        within=tuple(within),
        between=between,
        penalty=penalty,
        strengths=strength,
    )


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
