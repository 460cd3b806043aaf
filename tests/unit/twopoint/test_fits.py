"""repdyn.twopoint: the theory's ODE, closed forms, fits and their shuffled baselines, observables, pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.configs import FASHION_MNIST

from repdyn.cka.grams import centred_gram, pack_upper
from repdyn.data.fashion_mnist import FILES, read_idx
from repdyn.data.noise import flip_labels
from repdyn.twopoint import (
    PAIR_TYPES,
    ce_alignment,
    choose_pairs,
    conserved,
    distance_from_gram,
    distance_from_packed_gram,
    epoch_observables,
    final_distance,
    fit_driven,
    fit_error,
    fit_invariant,
    fit_late_slope,
    fit_mse,
    invariant_drift,
    kappa,
    mse_alignment,
    pair_batch,
    rich_final_distance,
    simulate,
    simulate_driven,
    squared_distance,
    stack_epochs,
)
from repdyn.twopoint.controls import CONTROLS
from repdyn.twopoint.fit_mse import shuffled_fit_error

FMNIST = FASHION_MNIST
T = np.arange(0.0, 3001.0, 10.0)  # every 10th epoch: the fits see the whole trajectory at a tenth of the cost
RICH = (0.05, 1e-8, 1e-8 - np.sqrt(0.5) * 1e-4)  # small initial state: H(0) = 0.05, dy(0) = 1e-4
RATES = {"eta_h": 0.004, "eta_y": 0.02}
PAIR = {"dx2": 1.0, "dy2": 0.5}


@pytest.fixture(scope="module")
def rich_run() -> np.ndarray:
    return simulate(*RICH, **RATES, **PAIR, t=T)


def test_synthetic_constants_are_recovered(rich_run):
    eta_h, eta_y = fit_mse(T, *rich_run.T, **PAIR)
    assert eta_h == pytest.approx(0.004, rel=1e-4) and eta_y == pytest.approx(0.02, rel=1e-4)


def test_synthetic_constants_are_recovered_from_noisy_sparse_data():
    t = np.arange(0.0, 3001.0, 25.0)
    clean = simulate(0.2, 1e-4, 1e-4 - np.sqrt(0.5) * 1e-2, eta_h=0.001, eta_y=0.05, **PAIR, t=t)
    noisy = clean * (1 + 0.01 * np.random.default_rng(0).standard_normal(clean.shape))
    noisy[0] = clean[0]
    eta_h, eta_y = fit_mse(t, *noisy.T, **PAIR)
    assert eta_h == pytest.approx(0.001, rel=0.05) and eta_y == pytest.approx(0.05, rel=0.05)


def test_trajectory_reaches_the_target_and_conserves_C(rich_run):
    H, Y, W = rich_run.T
    c = conserved(H, Y, kappa(**RATES, dx2=1.0))
    assert np.max(np.abs(c - c[0])) < 1e-6 * H.max()
    assert H[-1] / H[0] > 5  # the rich regime: H moves far from its start
    assert Y[-1] == pytest.approx(0.5, rel=1e-5) and abs(W[-1]) < 1e-5


def test_closed_form_final_distance_equals_long_integration():
    for state0, rates in [
        (RICH, RATES),
        ((2.0, 0.3, 0.1), {"eta_h": 0.002, "eta_y": 0.01}),
        ((0.5, 0.9, 0.4), {"eta_h": 0.01, "eta_y": 0.003}),
    ]:
        end = simulate(*state0, **rates, dx2=1.5, dy2=0.3, t=np.array([0.0, 1e5]))[-1]
        assert end[0] == pytest.approx(final_distance(*state0[:2], **rates, dx2=1.5, dy2=0.3), rel=1e-6)
    # small initialisation: the rich limit sqrt(η_h/η_y)‖dx‖‖dy*‖, independent of H(0)
    rich = final_distance(1e-6, 1e-12, **RATES, **PAIR)
    assert rich == pytest.approx(rich_final_distance(**RATES, **PAIR), rel=1e-4)


def test_lazy_initialisation_keeps_its_distance():
    end = simulate(50.0, 1e-4, 1e-4 - np.sqrt(0.5) * 1e-2, **RATES, **PAIR, t=np.array([0.0, 1e5]))[-1]
    assert end[0] == pytest.approx(50.0, rel=1e-3)


def test_controls_and_shuffled_data_fit_worse(rich_run):
    t, run = T[::3], rich_run[::3]
    theory = fit_error(t, *run.T, **RATES, **PAIR)
    for name, rhs in CONTROLS.items():
        eta_h, eta_y = fit_mse(t, *run.T, rhs=rhs, **PAIR)
        assert fit_error(t, *run.T, eta_h=eta_h, eta_y=eta_y, rhs=rhs, **PAIR) > 1e-4 > theory, name
    assert shuffled_fit_error(t, *run.T, shuffles=1, **PAIR) > 0.1


def test_invariant_fit_reads_kappa_and_C_and_beats_its_baseline(rich_run):
    H, Y, _ = rich_run.T
    fit = fit_invariant(H, Y)
    assert fit.kappa == pytest.approx(kappa(**RATES, dx2=1.0), rel=1e-5)
    assert fit.C == pytest.approx(conserved(RICH[0], RICH[1], fit.kappa), abs=1e-6)
    # H sits on both sides of H = C + κY/H, so even shuffled Y "explains" part of H: why the baseline is needed
    assert fit.r2 > 0.999999 and fit.r2_shuffled < 0.8
    drift = invariant_drift(T, H, Y, fit.kappa, [500.0, 1500.0])
    assert np.ptp(drift) < 1e-5
    assert np.ptp(invariant_drift(T, H, Y, 2 * fit.kappa, [500.0, 1500.0])) > 0.1  # a wrong κ drifts


def test_driven_fit_recovers_rates_with_measured_W_and_beats_its_baseline(rich_run):
    t, W = T, rich_run[:, 2]
    H, Y = simulate_driven(0.05, 1e-8, encoder_rate=0.006, eta_y=0.03, t=t, W=W).T
    fit = fit_driven(t, H, Y, W)
    assert fit.encoder_rate == pytest.approx(0.006, rel=1e-3) and fit.eta_y == pytest.approx(0.03, rel=1e-3)
    assert fit.error < 1e-8 and fit.error_shuffled > 1e-3


def test_the_other_pair_control_fails_where_the_shuffled_baseline_passes(rich_run):
    """Any monotone H is fitted better by a monotone ∫W than by a shuffled one, so the shuffled baseline passes a
    pair driven by some other W; the control driven by another pair's W (here the true driver, W delayed by 5 %
    of the run) shows that this pair's own W is not what drives it."""
    t, own = T, rich_run[:, 2]
    delayed = np.interp(t - 0.05 * (t[-1] - t[0]), t, own)  # another pair's drive: the same shape, later
    H, Y = simulate_driven(0.05, 1e-8, encoder_rate=0.006, eta_y=0.03, t=t, W=delayed).T
    wrong = fit_driven(t, H, Y, own, W_other=delayed)
    assert wrong.error < wrong.error_shuffled  # the weak baseline is passed
    assert wrong.error_other < 1e-6 < wrong.error  # the sharper control is not
    right = fit_driven(t, H, Y, delayed, W_other=own)
    assert right.error < 1e-8 < right.error_other


def test_late_slope_is_one_half_when_C_vanishes():
    k = kappa(**RATES, dx2=1.0)
    Y0 = 1e-4
    run = simulate(np.sqrt(k * Y0), Y0, Y0 - np.sqrt(0.5) * 1e-2, **RATES, **PAIR, t=T)  # C(0) = 0
    late = fit_late_slope(T, run[:, 0], run[:, 1], start=200.0)
    assert late.slope == pytest.approx(0.5, abs=1e-6) and late.r2 > 0.999999
    assert abs(late.slope_shuffled) < 0.25 and late.r2_shuffled < 0.5


def test_observables_from_grams_equal_those_from_activations():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((12, 3, 4, 4)) + 5.0  # a common offset: centring must not change H
    pairs = np.array([[0, 1], [3, 7], [11, 2], [5, 6]])
    raw = squared_distance(feats, pairs)
    direct = np.array([np.sum((feats[j] - feats[i]) ** 2) for i, j in pairs])
    np.testing.assert_allclose(raw, direct, rtol=1e-12)
    flat = feats.reshape(12, -1)
    np.testing.assert_allclose(distance_from_gram(flat @ flat.T, pairs), raw, rtol=1e-10)
    packed64 = pack_upper(centred_gram(torch.from_numpy(feats)))
    np.testing.assert_allclose(distance_from_packed_gram(packed64, 12, pairs), raw, rtol=1e-10)
    packed32 = pack_upper(centred_gram(torch.from_numpy(feats).float()))  # the stored form
    np.testing.assert_allclose(distance_from_packed_gram(packed32, 12, pairs), raw, rtol=1e-5)


def test_alignments_match_their_formulas():
    rng = np.random.default_rng(1)
    z, labels, pairs = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0]), np.array([[0, 1], [2, 3]])
    g = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) - np.eye(4)[labels]
    expected = [np.dot(z[j] - z[i], g[j] - g[i]) for i, j in pairs]
    np.testing.assert_allclose(ce_alignment(z, labels, pairs), expected, rtol=1e-12)
    y, target = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    dy, dys = y[1] - y[0], target[1] - target[0]
    assert mse_alignment(y, target, pairs[:1])[0] == pytest.approx(np.dot(dy, dy - dys))
    with pytest.raises(ValueError, match="labels"):
        ce_alignment(z, np.array([0, 4, 1, 1, 2, 0]), pairs)


def test_epoch_observables_are_labelled_pair_layer_epoch():
    rng = np.random.default_rng(2)
    pairs = np.array([[40, 7], [7, 13], [99, 40]])
    rows, local = pair_batch(pairs)
    assert rows.tolist() == [7, 13, 40, 99] and np.array_equal(rows[local], pairs)
    labels = rng.integers(0, 5, size=100)
    epochs, per_epoch, raw = [0, 2, 5], [], []
    for _ in epochs:
        feats = {"a": rng.standard_normal((4, 8)), "b": rng.standard_normal((4, 2, 3))}
        logits = rng.standard_normal((4, 5))
        per_epoch.append(epoch_observables(feats, logits, labels[rows], local))
        raw.append((feats, logits))
    s = stack_epochs(epochs, per_epoch, ["a", "b"], pairs, np.zeros(3, np.int8), np.ones(3))
    assert s.H.shape == (3, 2, 3) and s.Y.shape == (3, 3) and s.W_ce.shape == (3, 3)
    feats, logits = raw[1]
    i, j = local[2]
    assert s.layer("b")[2, 1] == pytest.approx(np.sum((feats["b"][j] - feats["b"][i]) ** 2))
    assert s.Y[2, 1] == pytest.approx(np.sum((logits[j] - logits[i]) ** 2))
    with pytest.raises(ValueError, match="strictly increasing"):
        stack_epochs([0, 0, 5], per_epoch, ["a", "b"], pairs, np.zeros(3, np.int8), np.ones(3))


@pytest.fixture(scope="module")
def noisy_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not (FMNIST / FILES["train_labels"]).is_file():
        pytest.skip("Fashion-MNIST (dataset-fashion-mnist) not installed")
    clean = read_idx(FMNIST / FILES["train_labels"])[:2000].astype(np.int64)
    noisy, flipped = flip_labels(clean, 0.2, 10, seed=0)
    return clean, noisy, flipped


def test_pairs_are_stratified_and_deterministic(noisy_fashion_mnist):
    clean, noisy, flipped = noisy_fashion_mnist
    pairs = choose_pairs(clean, noisy, flipped, seed=3, per_type=64)
    assert np.array_equal(pairs.index, choose_pairs(clean, noisy, flipped, seed=3).index)
    assert not np.array_equal(pairs.index, choose_pairs(clean, noisy, flipped, seed=4).index)
    is_flipped = np.isin(np.arange(clean.size), flipped)
    for name in PAIR_TYPES:
        p = pairs.of_type(name)
        i, j = p[:, 0], p[:, 1]
        assert p.shape == (64, 2) and np.all(i != j)
        assert len({tuple(sorted(x)) for x in p.tolist()}) == 64
        rule = {
            "clean_same": ~is_flipped[i] & ~is_flipped[j] & (clean[i] == clean[j]),
            "clean_different": ~is_flipped[i] & ~is_flipped[j] & (clean[i] != clean[j]),
            "clean_vs_flipped": ~is_flipped[i] & is_flipped[j] & (clean[i] == clean[j]),
            "both_flipped": is_flipped[i] & is_flipped[j],
        }[name]
        assert rule.all(), name
    assert set(clean[pairs.of_type("clean_same")[:, 0]]) == set(range(10))


def test_pairs_without_label_noise_and_bad_input(noisy_fashion_mnist):
    clean, noisy, flipped = noisy_fashion_mnist
    no_noise = choose_pairs(clean, clean, np.empty(0, np.int64), seed=0, per_type=8)
    assert no_noise.index.shape == (16, 2) and set(no_noise.kind.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="flipped must be exactly"):
        choose_pairs(clean, noisy, flipped[1:], seed=0)
    few_noisy, few_flipped = flip_labels(clean, 0.01, 10, seed=0)  # 20 flipped: 190 distinct both_flipped pairs
    assert choose_pairs(clean, few_noisy, few_flipped, seed=0, per_type=150).of_type("both_flipped").shape == (150, 2)
    with pytest.raises(ValueError, match="both_flipped"):
        choose_pairs(clean, few_noisy, few_flipped, seed=0, per_type=200)
