"""Similarity blocks (kernel change-points, repdyn.analysis.blocks).

Synthetic matrices with known block boundaries, plus a
brute-force check that the dynamic programme finds the exact optimum.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from support.grids import IRREGULAR

from repdyn.analysis import default_penalty, detect_blocks, init_curve


def block_matrix(sizes, *, within=0.9, between=0.3, noise=0.05, seed=0) -> np.ndarray:
    """Symmetric similarity matrix: `within` inside the diagonal blocks, `between` elsewhere, diagonal 1."""
    rng = np.random.default_rng(seed)
    size = sum(sizes)
    matrix = np.full((size, size), between)
    bounds = np.cumsum([0, *sizes])
    for first, stop in itertools.pairwise(bounds):
        matrix[first:stop, first:stop] = within
    jitter = rng.normal(0.0, noise, (size, size))
    matrix = np.clip(matrix + (jitter + jitter.T) / 2, 0.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def transition_epochs(sizes, epochs) -> tuple[int, ...]:
    return tuple(epochs[p] for p in np.cumsum(sizes)[:-1])


def segmentation_cost(matrix: np.ndarray, starts, penalty: float) -> float:
    """The documented objective, written out directly (NaN counts as 0)."""
    kernel = np.nan_to_num(matrix)
    bounds = list(starts) + [len(kernel)]
    total = 0.0
    for first, stop in itertools.pairwise(bounds):
        block = kernel[first:stop, first:stop]
        total += np.trace(block) - block.sum() / (stop - first) + penalty
    return total


# ---------------------------------------------------------------- blocks


@pytest.mark.parametrize(
    "sizes, grid",
    [
        ([30, 70], "regular"),
        ([20, 50, 30], "regular"),
        ([12, 40, 25, 45], "regular"),
        ([45, 100, 85, 90], "irregular"),
        ([70, 250, 10], "irregular"),
    ],
)
def test_known_transitions_are_recovered(sizes, grid):
    size = sum(sizes)
    epochs = list(range(size)) if grid == "regular" else IRREGULAR[:size]
    found = detect_blocks(block_matrix(sizes, seed=size), epochs)
    bounds = np.cumsum([0, *sizes])
    assert found.transitions == transition_epochs(sizes, epochs)
    assert found.starts == tuple(int(b) for b in bounds[:-1])
    assert found.ranges == tuple((epochs[a], epochs[b - 1]) for a, b in itertools.pairwise(bounds))
    assert found.within == pytest.approx([0.9] * len(sizes), abs=0.02)
    assert found.between == pytest.approx(0.3, abs=0.02)
    assert found.penalty == pytest.approx(default_penalty(block_matrix(sizes, seed=size), epochs))


@pytest.mark.parametrize("size", [2, 7, 60, 300])
@pytest.mark.parametrize("level, noise", [(1.0, 0.0), (0.5, 0.0), (0.3, 0.05), (0.7, 0.1), (0.9, 0.05)])
def test_structureless_matrix_is_one_block(size, level, noise):
    matrix = block_matrix([size], within=level, noise=noise, seed=size)
    if level == 1.0:
        assert np.all(matrix == 1.0)
    for min_block in (1, 2):
        found = detect_blocks(matrix, range(size), min_block=min_block)
        assert found.starts == (0,) and found.transitions == ()
        assert found.ranges == ((0, size - 1),)
        assert math.isnan(found.between)
        assert found.within[0] == pytest.approx(level, abs=max(0.02, 3 * noise))


def test_default_penalty_scales_with_neighbour_noise_and_grid_size():
    for size, level in [(10, 0.5), (400, 0.8)]:
        matrix = block_matrix([size], within=level, noise=0.0)
        # the neighbour noise of "diagonal 1, all else c" is exactly 1 - c, the gain of one more block
        assert default_penalty(matrix) == pytest.approx((1 - level) * (5 + 2 * math.log(size)))
        assert default_penalty(0.5 * matrix) == pytest.approx(0.5 * default_penalty(matrix))
    # floored at 2 % of the diagonal: no spread (or a spread of round-off size) is still one block
    assert default_penalty(np.ones((50, 50))) == pytest.approx(0.02 * (5 + 2 * math.log(50)))


def test_block_contrast_does_not_raise_the_penalty():
    """The noise estimate looks at grid neighbours only: stronger blocks leave it unchanged."""
    weak, strong = block_matrix([30, 30], between=0.8, noise=0.0), block_matrix([30, 30], between=0.1, noise=0.0)
    assert default_penalty(weak) == pytest.approx(default_penalty(strong))
    assert detect_blocks(strong, range(60)).transitions == (30,)


def test_round_off_steps_are_not_phases():
    matrix = np.ones((40, 40))
    matrix[:20, 20:] = matrix[20:, :20] = 1 - 1e-5  # two "blocks" 1e-5 apart, as in a first layer
    assert detect_blocks(matrix, range(40)).transitions == ()


@pytest.mark.parametrize("drift, most", [(False, 6), ("index", 5), (True, 5)])
def test_larger_penalty_never_gives_more_blocks(drift, most):
    # blocks of contrasting sizes on top of a slow drift: at a small price the plain segmentation also
    # cuts the drift (> 5 blocks); measured against the drift null it keeps the 5 blocks
    matrix = block_matrix([8, 30, 15, 60, 27], within=0.85, between=0.5, noise=0.08, seed=3)
    positions = np.arange(len(matrix))
    matrix = matrix - 0.15 * np.abs(positions[:, None] - positions[None, :]) / len(matrix)
    counts = [
        len(detect_blocks(matrix, positions, penalty=p, drift=drift).starts) for p in np.geomspace(0.01, 200.0, 40)
    ]
    assert all(a >= b for a, b in itertools.pairwise(counts))
    assert counts[0] >= most and counts[-1] == 1


def trajectory_kernel(positions, length=8.0, noise=0.0, seed=0) -> np.ndarray:
    """Similarity of points moving along a line: exp(-|x_i - x_j| / length) (a PSD kernel), plus symmetric noise."""
    x = np.asarray(positions, dtype=float)
    matrix = np.exp(-np.abs(x[:, None] - x[None, :]) / length)
    jitter = np.random.default_rng(seed).normal(0.0, noise, matrix.shape)
    matrix = matrix + (jitter + jitter.T) / 2
    np.fill_diagonal(matrix, 1.0)
    return matrix


@pytest.mark.parametrize("size, speed, noise", [(61, 1.0, 0.0), (61, 3.0, 0.0), (61, 1.0, 0.02), (200, 0.5, 0.02)])
def test_steady_drift_is_one_block(size, speed, noise):
    """The index rule: a steady pace in epochs has no phases; the plain segmentation cuts it anyway. (In log
    time this pace accelerates (1 + epoch)-fold: the default log-time rule reads it as changes of pace.)"""
    matrix = trajectory_kernel(speed * np.arange(size), noise=noise, seed=size)
    assert detect_blocks(matrix, range(size), drift="index").transitions == ()
    assert len(detect_blocks(matrix, range(size), drift=False).transitions) >= 2


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_real_phases_on_top_of_drift_are_found(noise):
    """Plateaus with slow drift, separated by fast stretches (10 -> 12, 40 -> 41): both transitions found."""
    steps = np.full(60, 0.3)
    steps[10:12] = 8.0  # two fast epochs
    steps[40] = 12.0  # one jump
    positions = np.concatenate([[0.0], np.cumsum(steps)])
    found = detect_blocks(trajectory_kernel(positions, noise=noise), range(61), drift="index")
    assert len(found.transitions) == 2
    assert 10 <= found.transitions[0] <= 12 and found.transitions[1] == 41


def test_blocks_agree_across_noise_draws_where_the_plain_segmentation_does_not():
    """Two 'seeds' (noise draws) of one phase structure with drift inside the phases give the same blocks."""
    positions = np.concatenate([0.4 * np.arange(30), 30 + 0.4 * np.arange(31)])
    found = [
        detect_blocks(trajectory_kernel(positions, noise=0.03, seed=seed), range(61), drift="index")
        for seed in (1, 2, 3)
    ]
    assert all(f.transitions == (30,) for f in found)
    plain = [
        detect_blocks(trajectory_kernel(positions, noise=0.03, seed=seed), range(61), drift=False).transitions
        for seed in (1, 2, 3)
    ]
    assert all(len(p) > 1 for p in plain)


def test_drift_null_is_the_mean_of_each_diagonal():
    from repdyn.analysis.blocks import lag_profile

    matrix = np.array([[1.0, 0.8, 0.1], [0.8, 1.0, 0.6], [0.1, 0.6, 1.0]])
    np.testing.assert_allclose(lag_profile(matrix), [[1.0, 0.7, 0.1], [0.7, 1.0, 0.7], [0.1, 0.7, 1.0]])
    residual = matrix - lag_profile(matrix)
    for penalty in (0.01, 0.1, 1.0):
        assert detect_blocks(matrix, range(3), penalty=penalty, min_block=1, drift="index") == detect_blocks(
            residual + lag_profile(matrix), range(3), penalty=penalty, min_block=1, drift="index"
        )
        assert (
            detect_blocks(matrix, range(3), penalty=penalty, min_block=1, drift="index").starts
            == detect_blocks(residual, range(3), penalty=penalty, min_block=1, drift=False).starts
        )


@pytest.mark.parametrize("size", range(1, 10))
def test_dynamic_programme_matches_brute_force(size):
    rng = np.random.default_rng(100 + size)
    for trial in range(4):
        features = rng.normal(size=(size, 3)) + rng.normal(size=3)  # a genuine kernel (PSD), plus a raw one
        matrix = features @ features.T if trial % 2 else rng.uniform(0.0, 1.0, (size, size))
        for min_block in (1, 2, 3):
            penalty = float(rng.uniform(0.0, 2.0))
            found = detect_blocks(matrix, range(size), penalty=penalty, min_block=min_block, drift=False)
            candidates = []
            for cuts in itertools.product((False, True), repeat=size - 1):
                starts = [0] + [p + 1 for p, cut in enumerate(cuts) if cut]
                lengths = np.diff(starts + [size])
                if (lengths < min(min_block, size)).any():  # a grid shorter than min_block is one block
                    continue
                candidates.append((segmentation_cost(matrix, starts, penalty), tuple(starts)))
            best_cost, best_starts = min(candidates)
            assert segmentation_cost(matrix, found.starts, penalty) == pytest.approx(best_cost, rel=1e-9, abs=1e-9)
            assert found.starts == best_starts


def test_nan_rows_are_absorbed_and_excluded_from_means():
    sizes = [40, 60, 50]
    matrix = block_matrix(sizes, seed=7)
    for dead in (0, 70):  # an initial layer with constant output (ViT head), and one mid-run
        matrix[dead, :] = np.nan
        matrix[:, dead] = np.nan
    found = detect_blocks(matrix, IRREGULAR[:150])
    assert found.transitions == transition_epochs(sizes, IRREGULAR)
    assert all(math.isfinite(w) for w in found.within)
    first = matrix[:40, :40][~np.eye(40, dtype=bool)]
    assert found.within[0] == pytest.approx(np.nanmean(first))
    assert found.within == pytest.approx([0.9] * 3, abs=0.02)
    assert found.between == pytest.approx(0.3, abs=0.02)


def test_single_epoch_block_and_json():
    matrix = block_matrix([1, 30, 1, 40], within=0.95, between=0.1, noise=0.01, seed=4)
    found = detect_blocks(matrix, range(72), min_block=1, penalty=0.5)
    assert found.starts == (0, 1, 31, 32)
    assert math.isnan(found.within[0]) and math.isnan(found.within[2])
    raw = found.as_dict()
    assert raw["within"][0] is None and raw["within"][1] == pytest.approx(0.95, abs=0.01)
    assert raw["transitions"] == [1, 31, 32] and raw["ranges"][1] == [1, 30]
    assert json.loads(json.dumps(raw, allow_nan=False)) == raw
    one = detect_blocks(block_matrix([20], seed=4), range(20)).as_dict()
    assert one["between"] is None and json.dumps(one, allow_nan=False)


def test_ties_and_asymmetry_are_handled_deterministically():
    ones = np.ones((30, 30))  # every segmentation costs exactly 0: ties go to the longest last block
    assert detect_blocks(ones, range(30), penalty=0.0).starts == (0,)
    matrix = block_matrix([25, 35], seed=5)
    skew = np.random.default_rng(5).normal(0.0, 0.2, matrix.shape)
    symmetric = detect_blocks(matrix, range(60))
    assert detect_blocks(matrix + skew - skew.T, range(60), penalty=symmetric.penalty).starts == symmetric.starts
    assert detect_blocks(matrix, range(60)) == symmetric


def test_short_grid_is_one_block():
    matrix = block_matrix([1, 2], within=0.9, between=0.0, noise=0.0)
    assert detect_blocks(matrix, [0, 5, 10], min_block=2).starts == (0,)
    assert detect_blocks(matrix, [0, 5, 10], min_block=1, penalty=0.5, drift=False).transitions == (5,)
    assert detect_blocks(np.ones((1, 1)), [3]).ranges == ((3, 3),)


def test_large_matrix():
    sizes = [150, 500, 50, 500]
    epochs = list(range(0, 3600, 3))
    found = detect_blocks(block_matrix(sizes, seed=11), epochs)
    assert found.transitions == transition_epochs(sizes, epochs)


@pytest.mark.parametrize(
    "matrix, epochs, options, message",
    [
        (np.ones((3, 4)), [0, 1, 2], {}, r"square.*\(3, 4\)"),
        (np.ones(3), [0, 1, 2], {}, "square"),
        (np.ones((3, 3)), [0, 1], {}, "3 x 3 but epochs has 2"),
        (np.ones((3, 3)), [0, 2, 2], {}, r"strictly increasing: epochs\[2\] = 2"),
        (np.ones((3, 3)), [0, 1.5, 2], {}, "integers"),
        (np.ones((0, 0)), [], {}, "non-empty"),
        (np.full((2, 2), np.inf), [0, 1], {}, r"infinite value at \(0, 0\)"),
        (np.ones((3, 3)), [0, 1, 2], {"min_block": 0}, "min_block must be an integer >= 1, got 0"),
        (np.ones((3, 3)), [0, 1, 2], {"penalty": -1.0}, "penalty must be a finite number >= 0, got -1.0"),
        (np.ones((3, 3)), [0, 1, 2], {"penalty": math.nan}, "penalty"),
    ],
)
def test_bad_input_names_the_problem(matrix, epochs, options, message):
    with pytest.raises(ValueError, match=message):
        detect_blocks(matrix, epochs, **options)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError, match="min_block must be an integer, got 1.5"):
        detect_blocks(np.eye(3), [0, 1, 2], min_block=1.5)
    with pytest.raises(TypeError, match="penalty must be a number, got '1'"):
        detect_blocks(np.eye(3), [0, 1, 2], penalty="1")
    with pytest.raises(TypeError, match="tolerance must be a number"):
        init_curve(np.eye(3), [0, 1, 2], tolerance=None)
