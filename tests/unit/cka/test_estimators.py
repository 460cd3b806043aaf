"""Linear-CKA maths (repdyn.cka) against independent float64 oracles (docs/algorithms.md §1, docs/algorithms.md §6)
and torch-cka 0.21."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from support.cka_oracles import (
    flat64,
    hsic1_three_term,
    kornblith,
    minibatch_oracle,
    oracle,
    related_representations,
)

from repdyn.cka import ESTIMATORS, cka, cka_matrix, transforms

# ---------------------------------------------------------------- HSIC estimators


def test_u_centred_hsic_equals_three_term_formula():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((37, 9)) + 3.0, rng.standard_normal((37, 5)) - 1.0
    k, l = x @ x.T, y @ y.T
    for a, b in ((k, l), (k, k), (l, l)):
        got = transforms.hsic_unbiased(torch.from_numpy(a), torch.from_numpy(b)).item()
        assert got == pytest.approx(hsic1_three_term(a, b), rel=1e-12)


def test_u_centring_properties():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((11, 4)) + 5.0
    u = transforms.u_centre(torch.from_numpy(x @ x.T))
    assert torch.equal(u.diagonal(), torch.zeros(11, dtype=torch.float64))
    assert torch.allclose(u.sum(dim=1), torch.zeros(11, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(transforms.u_centre(u), u, atol=1e-12)
    assert torch.allclose(u, u.T, atol=1e-12)


@pytest.mark.parametrize("estimator", ["minibatch_unbiased", "minibatch_biased", "minibatch_unbiased_cka_mean"])
def test_matrix_from_vectors_equals_pairwise_minibatch_cka_with_unequal_batches(estimator):
    rng = np.random.default_rng(3)
    reps = related_representations(rng, 103)  # batches of 40, 40 and 23
    got = cka_matrix(reps, estimator=estimator, batch_size=40)
    for i in range(len(reps)):
        for j in range(len(reps)):
            assert got[i, j] == pytest.approx(oracle(reps[i], reps[j], estimator, 40), abs=1e-12)


def test_hsic_mean_and_cka_mean_differ_on_unequal_batches():
    reps = related_representations(np.random.default_rng(4), 103)
    pooled = cka_matrix(reps, "minibatch_unbiased", batch_size=40)
    averaged = cka_matrix(reps, "minibatch_unbiased_cka_mean", batch_size=40)
    assert np.abs(pooled - averaged).max() > 1e-6


def test_full_biased_equals_kornblith_feature_space_formula():
    reps = related_representations(np.random.default_rng(5), 103)
    got = cka_matrix(reps, estimator="full_biased", batch_size=40)  # batch_size is ignored by full_biased
    expected = np.array([[kornblith(a, b) for b in reps] for a in reps])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- invariances


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_orthogonal_scaling_and_shift_invariance(estimator):
    rng = np.random.default_rng(6)
    x, y = related_representations(rng, 90, dims=(16, 10))[:2]
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    reference = cka(x, y, estimator, batch_size=30)
    assert 0.05 < reference < 0.99
    assert cka(x @ q, y, estimator, batch_size=30) == pytest.approx(reference, abs=1e-12)
    assert cka(3.7 * x, 0.02 * y, estimator, batch_size=30) == pytest.approx(reference, abs=1e-12)
    assert cka(x + rng.standard_normal(16) * 50.0, y, estimator, batch_size=30) == pytest.approx(reference, abs=1e-10)


# ---------------------------------------------------------------- cka_matrix properties and the public API


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cka_matrix_is_exactly_symmetric_with_unit_diagonal_and_matches_cka(estimator):
    rng = np.random.default_rng(7)
    # 9 representations: enough for a plain GEMM G Gᵀ to come out asymmetric in the last bit.
    reps = [r.astype(np.float32) for r in related_representations(rng, 64, dims=(12, 30, 7, 20, 5, 9, 16, 11, 3))]
    reps[1] = torch.from_numpy(reps[1]).reshape(64, 5, 6)  # torch tensor with a trailing shape, mixed with numpy
    m = cka_matrix(reps, estimator=estimator, batch_size=32)
    assert m.dtype == np.float64 and m.shape == (9, 9)
    assert np.array_equal(m, m.T)
    assert np.array_equal(np.diag(m), np.ones(9))
    for i in range(9):
        for j in range(i + 1, 9):
            assert cka(reps[i], reps[j], estimator, batch_size=32) == pytest.approx(m[i, j], abs=1e-12)


def test_stacked_array_equals_sequence_of_arrays():
    stacked = np.random.default_rng(8).standard_normal((5, 40, 3, 4))
    assert np.array_equal(cka_matrix(stacked, batch_size=20), cka_matrix(list(stacked), batch_size=20))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_constant_representation_gives_nan_with_warning(estimator):
    rng = np.random.default_rng(9)
    reps = [r.astype(np.float32) for r in related_representations(rng, 45)]
    # Every example has the same random vector: a float32 mean of 15 copies is not exact, yet the Gram must be
    # exactly 0 (anything else gives a noisy number instead of NaN).
    reps[2] = np.tile(3.0 * rng.standard_normal(7), (45, 1)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="1 of 4 row and 1 of 4 column representations"):
        m = cka_matrix(reps, estimator=estimator, batch_size=15)
    assert np.isnan(m[2]).all() and np.isnan(m[:, 2]).all()
    assert np.isfinite(np.delete(np.delete(m, 2, 0), 2, 1)).all()
    with pytest.warns(RuntimeWarning, match="constant"):
        assert math.isnan(cka(reps[0], reps[2], estimator, batch_size=15))


def test_cka_mean_is_nan_when_a_representation_is_constant_in_one_batch():
    x, y = related_representations(np.random.default_rng(10), 48)[:2]
    y[16:32] = 1.5
    with pytest.warns(RuntimeWarning, match="in some batch"):
        assert math.isnan(cka(x, y, "minibatch_unbiased_cka_mean", batch_size=16))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isfinite(cka(x, y, "minibatch_unbiased", batch_size=16))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_batches_smaller_than_four_are_rejected(estimator):
    x = np.random.default_rng(11).standard_normal((43, 5))
    if estimator == "full_biased":
        with pytest.raises(ValueError, match="batch 0 has 3 examples"):
            cka(x[:3], x[:3], estimator)
    else:
        with pytest.raises(ValueError, match="batch 1 has 3 examples"):
            cka(x, x, estimator, batch_size=40)


def test_bad_arguments_raise_clear_errors():
    x = np.random.default_rng(12).standard_normal((20, 3))
    with pytest.raises(ValueError, match=", ".join(ESTIMATORS)):
        cka(x, x, estimator="unbiased")
    with pytest.raises(ValueError, match=r"\(20, 3\) and \(19, 3\)"):
        cka(x, x[:19])
    with pytest.raises(ValueError, match=r"acts\[1\] has shape \(19, 3\)"):
        cka_matrix([x, x[:19]])
    with pytest.raises(ValueError, match="accumulate 'float16' is unknown"):
        cka_matrix([x, x], accumulate="float16")
    with pytest.raises(ValueError, match=r"acts\[1\], batch 1: activations contain NaN or inf"):
        cka(x, np.where(np.arange(20)[:, None] == 10, np.nan, x), batch_size=8)


# ---------------------------------------------------------------- numerics (docs/algorithms.md §1.6)


def naive_float32_three_term_cka(x: np.ndarray, y: np.ndarray) -> float:
    """torch-cka's way: uncentred float32 Grams, zeroed diagonals, three-term HSIC in float32."""

    def hsic(k, l):
        n = k.shape[0]
        ones = torch.ones(n, 1)
        value = torch.trace(k @ l) + (ones.T @ k @ ones @ ones.T @ l @ ones).item() / ((n - 1) * (n - 2))
        return (value - (ones.T @ k @ l @ ones).item() * 2 / (n - 2)) / (n * (n - 3))

    k, l = (torch.from_numpy(a) @ torch.from_numpy(a).T for a in (x, y))
    k.fill_diagonal_(0.0)
    l.fill_diagonal_(0.0)
    return float(hsic(k, l) / math.sqrt(abs(float(hsic(k, k)) * float(hsic(l, l)))))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_offset_features_in_float32_stay_within_1e6_of_float64(estimator):
    rng = np.random.default_rng(15)
    latent = rng.standard_normal((256, 64))
    x = (20.0 + 0.01 * latent).astype(np.float32)
    y = (20.0 + 0.01 * (latent + 0.5 * rng.standard_normal((256, 64)))).astype(np.float32)
    # Even float64 cancels in the three-term formula at offset/spread = 2000, so the oracle gets features
    # centred in float64 first (every estimator is invariant to a common shift of the features).
    x64, y64 = flat64(x) - flat64(x).mean(0), flat64(y) - flat64(y).mean(0)
    exact = oracle(x64, y64, estimator, 128)
    # The case must be hard: an evaluation without centring in float32 is off by far more than 1e-6.
    assert abs(naive_float32_three_term_cka(x, y) - minibatch_oracle(x64, y64, 256, hsic1_three_term)) > 1e-3
    assert abs(cka(x, y, estimator, batch_size=128) - exact) <= 1e-6


def test_chunked_float32_accumulation_is_within_1e6_of_float64():
    n = 330
    assert transforms.vector_length([n], "minibatch_unbiased") >= 5e4
    rng = np.random.default_rng(16)
    latent = rng.standard_normal((n, 8))
    reps = [(latent @ rng.standard_normal((8, 24)) + rng.standard_normal((n, 24))).astype(np.float32) for _ in range(6)]
    exact = cka_matrix(reps, accumulate="float64")
    chunked = cka_matrix(reps, accumulate="chunked_float32")
    assert np.abs(chunked - exact).max() <= 1e-6
    assert not np.array_equal(chunked, exact)  # the float32 path really ran


# ---------------------------------------------------------------- agreement with torch-cka 0.21


def hooked_outputs(model: torch.nn.Module, names: list[str], loader) -> dict[str, np.ndarray]:
    modules = dict(model.named_modules())
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    handles = [
        modules[name].register_forward_hook(lambda module, inputs, output, name=name: captured[name].append(output))
        for name in names
    ]
    model.eval()
    with torch.no_grad():
        for images, _ in loader:
            model(images)
    for handle in handles:
        handle.remove()
    return {name: torch.cat(parts).numpy() for name, parts in captured.items()}


def test_agrees_with_torch_cka_on_well_conditioned_models(monkeypatch):
    torch_cka = pytest.importorskip("torch_cka")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 48), torch.nn.ReLU(), torch.nn.Linear(48, 10))
    torch.manual_seed(1)
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(96, 10),
    )
    inputs = torch.randn(192, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    dataset = torch.utils.data.TensorDataset(inputs, torch.zeros(192))
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, shuffle=False)
    mlp_layers, conv_layers = ["1", "2", "3"], ["0", "2", "4"]
    mine = hooked_outputs(mlp, mlp_layers, loader), hooked_outputs(conv, conv_layers, loader)
    reference = torch_cka.CKA(
        mlp, conv, "mlp", "conv", model1_layers=mlp_layers, model2_layers=conv_layers, device="cpu"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.compare(loader, loader)
    theirs = reference.export()["CKA"].numpy()
    # Rows/columns follow the order in which hooks fired (docs/algorithms.md §1.4), i.e. the keys of the last
    # captured batch.
    row_names, col_names = list(reference.model1_features), list(reference.model2_features)
    assert sorted(row_names) == mlp_layers and sorted(col_names) == conv_layers
    for i, a in enumerate(row_names):
        for j, b in enumerate(col_names):
            ours = cka(mine[0][a], mine[1][b], "minibatch_unbiased", batch_size=64)
            assert abs(ours - theirs[i, j]) <= 1e-4, (a, b, ours, theirs[i, j])
