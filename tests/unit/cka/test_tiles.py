"""repdyn.cka.tiles: tiles of the CKA matrix reassemble the whole, streamed chunks equal in-memory products,
and a diagonal tile uses the symmetric product (checked against float64 and, through torch's FLOP counter, for
doing about half the arithmetic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.cka_oracles import (
    related_representations,
)
from torch.utils.flop_counter import FlopCounterMode

from repdyn.cka import api, cka_matrix, grams, tiles, transforms


@pytest.mark.parametrize("rows", [1, 5, 77, 256, 333])
@pytest.mark.parametrize("accumulate", ["float64", "chunked_float32"])
def test_symmetric_products_equal_the_general_product(rows, accumulate):
    g = torch.from_numpy(np.random.default_rng(rows).standard_normal((rows, 3000)).astype(np.float32))
    got = tiles.symmetric_products(g, accumulate, chunk=1000)
    reference = g.double() @ g.double().T
    assert torch.equal(got, got.T)
    tolerance = 1e-12 if accumulate == "float64" else 1e-6
    assert float((got - reference).abs().max() / reference.abs().max()) <= tolerance
    general = tiles.tile_products(g, g, accumulate, chunk=1000)
    assert float((got - general).abs().max() / reference.abs().max()) <= tolerance


def test_diagonal_tile_does_about_half_the_arithmetic_of_a_general_tile():
    g = torch.randn(1024, 512)  # 8 row blocks of 128: (8 + 1) / (2 * 8) of the general product's flops
    with FlopCounterMode(display=False) as symmetric:
        diagonal = tiles.diagonal_tile_cka(g)
    with FlopCounterMode(display=False) as general:
        products = tiles.tile_products(g, g)
    assert symmetric.get_total_flops() <= 0.57 * general.get_total_flops()
    full = tiles.cka_from_products(products, products.diagonal().clone(), products.diagonal().clone())
    assert torch.all(diagonal.diagonal() == 1.0) and torch.equal(diagonal, diagonal.T)
    assert float((diagonal - full).abs().max()) <= 1e-13


def test_tiles_reassemble_the_full_matrix():
    rng = np.random.default_rng(17)
    reps = [r.astype(np.float32) for r in related_representations(rng, 70, dims=(5, 9, 4, 8, 6, 3, 7))]
    g, _ = epoch_vectors(reps, "minibatch_unbiased", 32)
    full = cka_matrix(reps, batch_size=32)
    blocks = [slice(0, 3), slice(3, 7)]
    assembled = np.empty((7, 7))
    for bi, rows in enumerate(blocks):
        for cols in blocks[bi:]:
            products = tiles.tile_products(g[rows], g[cols], chunk=100)
            np.testing.assert_allclose(products.numpy(), (g[rows].double() @ g[cols].double().T).numpy(), rtol=1e-12)
            block = tiles.cka_from_products(products, tiles.row_sq_norms(g[rows]), tiles.row_sq_norms(g[cols])).numpy()
            assembled[rows, cols], assembled[cols, rows] = block, block.T
    np.testing.assert_allclose(assembled, full, rtol=0, atol=1e-13)


def test_cka_mean_tiles_reassemble_the_full_matrix():
    reps = related_representations(np.random.default_rng(18), 70)
    g, sizes = epoch_vectors(reps, "minibatch_unbiased_cka_mean", 32)
    columns = transforms.batch_columns(sizes, "minibatch_unbiased_cka_mean")
    upper = tiles.segment_products(g[:2], g[2:], columns)
    block = tiles.cka_mean_from_products(upper.products, upper.norms_i, upper.norms_j).numpy()
    full = cka_matrix(reps, "minibatch_unbiased_cka_mean", batch_size=32)
    np.testing.assert_allclose(block, full[:2, 2:], rtol=0, atol=1e-13)


@pytest.mark.parametrize("accumulate", ["float64", "chunked_float32"])
def test_streamed_chunks_equal_in_memory_products(accumulate):
    rng = np.random.default_rng(19)
    g_i = torch.from_numpy(rng.standard_normal((4, 1000)).astype(np.float32))
    g_j = torch.from_numpy(rng.standard_normal((3, 1000)).astype(np.float32))
    in_memory = tiles.tile_products(g_i, g_j, accumulate)
    chunks_i = (g_i[:, s : s + 128].clone() for s in range(0, 1000, 128))  # copies, as if read from storage
    chunks_j = (g_j[:, s : s + 128].clone() for s in range(0, 1000, 128))
    streamed = tiles.streamed_products(chunks_i, chunks_j, accumulate)
    # Error scale of an inner product is relative to |g_i| |g_j| (Cauchy-Schwarz), not to the (cancelled) result.
    scale = torch.outer(g_i.double().norm(dim=1), g_j.double().norm(dim=1))
    tolerance = 1e-12 if accumulate == "float64" else 1e-6
    assert ((streamed.products - in_memory).abs() <= tolerance * scale).all()
    np.testing.assert_allclose(streamed.norms_i.numpy(), (g_i.double() ** 2).sum(1).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="column chunk 0"):
        tiles.streamed_products([g_i[:, :10]], [g_j[:, :11]], accumulate)


def test_cka_from_products_marks_zero_norms_nan_never_inf():
    # A non-zero product against a zero norm (inconsistent rounding upstream) must still give NaN, not inf.
    products = torch.tensor([[2.0, 1e-30], [0.0, 0.0]], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="1 of 2 row and 1 of 2 column representations are constant"):
        out = tiles.cka_from_products(products, torch.tensor([4.0, 0.0]), torch.tensor([1.0, 0.0]))
    assert out[0, 0].item() == 1.0
    assert torch.isnan(out[1]).all() and torch.isnan(out[:, 1]).all()


def epoch_vectors(reps, estimator: str, size: int) -> tuple[torch.Tensor, list[int]]:
    sizes = api.split_sizes(len(reps[0]), estimator, size)
    return torch.stack([api.epoch_vector(grams.as_rows(r), sizes, estimator) for r in reps]), sizes
