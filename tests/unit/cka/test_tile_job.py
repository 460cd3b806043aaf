"""Tiles streamed from the Gram store equal the in-memory kernels (bit for bit in float64); the streaming helpers; the
roofline bench at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from repdyn.cka import ESTIMATORS
from repdyn.cka.grams import packed_length
from repdyn.cka.panels import column_chunks
from repdyn.cka.store import TILE_STORE, read_matrix_store
from repdyn.cka.tile_job import run_tile, tile_cka
from repdyn.cka.tiles import ACCUMULATIONS, iter_column_chunks
from repdyn.cka.transforms import panel_vectors, transform
from repdyn.extract.grams_store import GRAMS_STORE, create_grams_store, write_epoch
from repdyn.storage import zarr_store

BATCHES, N = 2, 100  # 4,950 unbiased columns per batch: the first 8192-column chunk straddles the boundary
LAYERS = ["a", "b"]
PARTS = {"p0": [0, 1, 2, 3, 4], "p1": [5, 6, 7, 8, 9, 10]}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two extraction parts of random Gram-like data (per-batch and full Grams), and the packed values."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("grams")
    probe_index = np.arange(BATCHES * N).reshape(BATCHES, N)
    packed = {}
    for name, epochs in PARTS.items():
        arrays = None
        for position, epoch in enumerate(epochs):
            result = {}
            for layer in LAYERS:
                x = rng.standard_normal((BATCHES * N, 12)).astype(np.float32)
                x -= x.mean(axis=0)
                grams = np.stack([_packed(x[b * N : (b + 1) * N]) for b in range(BATCHES)])
                result[layer] = {"grams": grams, "full": _packed(x)}
                packed[(layer, epoch)] = result[layer]
            if arrays is None:
                arrays = create_grams_store(root / name / GRAMS_STORE, epochs, LAYERS, {}, result, probe_index, {})
            write_epoch(arrays, position, result)
        zarr_store.consolidate(root / name / GRAMS_STORE)
    return [root / name for name in PARTS], packed


def _packed(x: np.ndarray) -> np.ndarray:
    gram = torch.from_numpy(x @ x.T)
    rows, cols = torch.triu_indices(len(x), len(x))
    return gram[rows, cols].numpy()


def _block(packed, layer, epochs, estimator) -> torch.Tensor:
    """The epochs' vectors g from the packed Grams in memory, a batch panel at a time (`panel_vectors`, which
    equals `transform` within the rounding of reordered row sums: test_panel_vectors_equal_transform_row_by_row)."""
    if estimator == "full_biased":
        return panel_vectors(
            torch.from_numpy(np.stack([packed[(layer, e)]["full"] for e in epochs])), BATCHES * N, estimator
        )
    grams = np.stack([packed[(layer, e)]["grams"] for e in epochs])
    return torch.cat([panel_vectors(torch.from_numpy(grams[:, b]), N, estimator) for b in range(BATCHES)], dim=1)


@pytest.mark.parametrize("accumulate", ACCUMULATIONS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_streamed_tile_equals_the_in_memory_kernels(stored, tmp_path, estimator, accumulate):
    """float64: bit for bit. chunked_float32: float32 GEMMs may round differently when the BLAS sees a
    contiguous panel instead of a strided view of the whole block, so within that mode's 1e-7 (the bound
    asserted: 1e-6)."""
    parts, packed = stored
    row_epochs, col_epochs = [3, 4, 5, 6, 7], [8, 9, 10, 0]  # rows span both parts; columns out of order
    settings = {"estimator": estimator, "accumulate": accumulate}
    for name, cols, diagonal in (("off", col_epochs, False), ("diag", row_epochs, True)):
        run_tile(tmp_path / name, parts, parts, row_epochs, cols, settings, diagonal, {"layers": LAYERS})
        blocks, rows_read, cols_read, _ = read_matrix_store(tmp_path / name / TILE_STORE)
        assert list(rows_read) == row_epochs and list(cols_read) == cols
        for layer in LAYERS:
            rows = _block(packed, layer, row_epochs, estimator)
            expected = tile_cka(
                rows, None if diagonal else _block(packed, layer, cols, estimator), estimator, accumulate, [N] * BATCHES
            ).numpy()
            if accumulate == "float64":
                assert np.array_equal(blocks[layer], expected, equal_nan=True), (name, layer)
            else:
                assert np.array_equal(np.isnan(blocks[layer]), np.isnan(expected))
                assert np.nanmax(np.abs(blocks[layer] - expected)) <= 1e-6, (name, layer)


def _offset_grams(n: int) -> torch.Tensor:
    """Packed Grams of offset, badly scaled features (where centring order matters most), one per row."""
    rng = np.random.default_rng(n)
    rows = []
    for scale in (1e-3, 1.0, 1e4):
        x = (rng.standard_normal((n, 7)) * scale + 5 * scale).astype(np.float32)
        rows.append(_packed(x))
    return torch.from_numpy(np.stack(rows))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("n", [4, 9, 64, 300])
def test_panel_vectors_equal_transform_row_by_row(estimator, n):
    """Biased estimators: bit for bit. Unbiased: U-centred from the packed triangle, whose row sums add the
    same float64 numbers in another order; each float32 entry is transform's or its neighbour (the bound
    asserted; on these cases none differs)."""
    packed = _offset_grams(n)
    expected = torch.stack([transform([row], [n], estimator, dtype=torch.float32) for row in packed])
    got = panel_vectors(packed, n, estimator)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    if estimator.startswith("minibatch_unbiased"):
        step = torch.from_numpy(np.spacing(np.abs(expected.numpy())))
        assert ((got - expected).abs() <= step).all()
    else:
        assert torch.equal(got, expected)
    with pytest.raises(ValueError, match="must have shape"):
        panel_vectors(packed[:, 1:], n, estimator)


@pytest.mark.parametrize("n", [4, 9, 64, 300])
def test_u_centring_terms_are_u_centres_up_to_the_order_of_the_row_sums(n):
    """The terms U-centring subtracts, from the packed triangle, against `u_centre` of the unpacked matrix:
    within the rounding bound of a float64 sum of n terms, n·eps·Σ|k_ij|."""
    from repdyn.cka.grams import unpack_upper
    from repdyn.cka.transforms import _u_centring_terms, u_centre

    packed = _offset_grams(n)
    terms = _u_centring_terms(packed, n)
    for row, values in enumerate(packed):
        gram = unpack_upper(values, n).double().fill_diagonal_(0.0)
        row_sums = gram.sum(dim=1)
        bound = n * np.finfo(np.float64).eps * gram.abs().sum(dim=1) / (n - 2)
        assert ((terms.row_terms[row] - row_sums / (n - 2)).abs() <= bound).all()
        total = row_sums.sum() / ((n - 1) * (n - 2))
        assert abs(float(terms.total_terms[row, 0] - total)) <= float(bound.sum())
        centred = gram - terms.row_terms[row][:, None] - terms.row_terms[row][None, :] + terms.total_terms[row]
        assert torch.allclose(
            centred.fill_diagonal_(0.0), u_centre(unpack_upper(values, n)), rtol=0, atol=1e-9 * float(gram.abs().max())
        )


@pytest.mark.parametrize("estimator", ["minibatch_unbiased", "minibatch_biased"])
def test_panel_vector_pieces_are_column_ranges_of_the_panel(estimator):
    from repdyn.cka.transforms import panel_vector_pieces, part_length

    packed = _offset_grams(40)
    whole = panel_vectors(packed, 40, estimator)
    width = part_length(40, estimator)
    bounds = [0, 1, 39, 40, 77, 500, width - 1, width]
    pieces = list(panel_vector_pieces(packed, 40, estimator, bounds))
    assert [p.shape[1] for p in pieces] == [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    assert torch.equal(torch.cat(pieces, dim=1), whole)
    with pytest.raises(ValueError, match="column bounds"):
        next(panel_vector_pieces(packed, 40, estimator, [0, width + 1]))


@pytest.mark.parametrize("estimator", ["minibatch_unbiased", "minibatch_biased"])
def test_panel_vectors_keep_to_the_grams_device_with_float32_rows(estimator):
    """Device-agnostic (as on CUDA): on torch's shape-only meta device the rows have their length and float32."""
    packed = torch.empty((3, packed_length(10)), device="meta")
    got = panel_vectors(packed, 10, estimator)
    width = 45 if estimator == "minibatch_unbiased" else 55
    assert got.shape == (3, width) and got.dtype == torch.float32 and got.device.type == "meta"


def test_plain_chunks_are_read_from_their_files_and_other_arrays_through_zarr(stored, tmp_path, monkeypatch):
    """The direct read gives zarr's values; a compressed part, or a chunk never written, falls back to zarr."""
    from repdyn.extract import grams_store as store
    from repdyn.extract.grams_store import GramPart

    parts, packed = stored
    part = GramPart(parts[1])
    array = part._array("grams/a")
    assert zarr_store.plain_chunk_dir(array) is not None
    out = np.empty((3, array.shape[-1]), dtype=np.float32)
    assert zarr_store.read_plain_chunks(array, [(0, 1, 0), (1, 1, 0), (2, 1, 0)], out)
    assert np.array_equal(out, array[0:3, 1])
    assert np.array_equal(part.packed_range("a", 1, 4, 0), np.stack([packed[("a", e)]["grams"][0] for e in (6, 7, 8)]))
    assert np.array_equal(part.packed_range("b", 0, 2, None), np.stack([packed[("b", e)]["full"] for e in (5, 6)]))
    buffer = np.full((3, array.shape[-1]), np.nan, dtype=np.float32)
    assert part.packed_range("a", 1, 4, 0, buffer) is buffer
    assert np.array_equal(buffer, np.stack([packed[("a", e)]["grams"][0] for e in (6, 7, 8)]))

    monkeypatch.setattr(store, "GRAM_COMPRESS", True)
    probe_index = np.arange(BATCHES * N).reshape(BATCHES, N)
    first = {"a": packed[("a", 0)]}
    arrays = create_grams_store(tmp_path / GRAMS_STORE, [0, 1], ["a"], {}, first, probe_index, {})
    write_epoch(arrays, 0, first)  # epoch 1 never written: zarr reads its fill value, NaN
    zarr_store.consolidate(tmp_path / GRAMS_STORE)
    compressed = GramPart(tmp_path)
    assert zarr_store.plain_chunk_dir(compressed._array("grams/a")) is None
    assert np.array_equal(compressed.packed_range("a", 0, 1, 1), packed[("a", 0)]["grams"][1:2])
    buffer = np.empty((1, array.shape[-1]), dtype=np.float32)
    assert compressed.packed_range("a", 0, 1, 1, buffer) is buffer
    assert np.array_equal(buffer, packed[("a", 0)]["grams"][1:2])
    monkeypatch.setattr(store, "GRAM_COMPRESS", False)
    arrays = create_grams_store(tmp_path / "plain" / GRAMS_STORE, [0, 1], ["a"], {}, first, probe_index, {})
    write_epoch(arrays, 0, first)
    zarr_store.consolidate(tmp_path / "plain" / GRAMS_STORE)
    gaps = GramPart(tmp_path / "plain").packed_range("a", 0, 2, 0)
    assert np.array_equal(gaps[0], packed[("a", 0)]["grams"][0]) and np.isnan(gaps[1]).all()


@pytest.mark.parametrize("estimator", ["minibatch_unbiased", "full_biased"])
def test_batch_pieces_are_the_batch_panels_of_every_layer_in_chunk_pieces(stored, estimator):
    """Read into one reused buffer, across two parts and out of order: the same columns, bit for bit."""
    from repdyn.cka.panels import batch_panels, batch_pieces, pieces_per_layer
    from repdyn.extract.grams_store import GramParts

    parts = GramParts(stored[0])
    epochs = [3, 4, 5, 6, 9, 0]
    pieces = list(batch_pieces(parts, LAYERS, epochs, estimator, chunk=1000))
    assert len(pieces) == len(LAYERS) * pieces_per_layer(parts, estimator, chunk=1000)
    assert all(p.shape[1] <= 1000 for p in pieces)
    expected = torch.cat(
        [torch.cat(list(batch_panels(parts, layer, epochs, estimator)), dim=1) for layer in LAYERS], dim=1
    )
    assert torch.equal(torch.cat(pieces, dim=1), expected)


@pytest.mark.slow  # a script in a subprocess: ~50 s on 2 busy cores
def test_roofline_bench_writes_its_json_at_a_tiny_size(repo, tmp_path):
    out = tmp_path / "roofline.json"
    from repdyn.config import schema

    done = subprocess.run(
        [
            sys.executable,
            str(repo / "bench" / "tile_roofline.py"),
            "--epochs",
            "6",
            "--batches",
            "2",
            "--batch-size",
            "16",
            "--layers",
            "2",
            "--threads",
            "1",
            "--json",
            str(out),
            "--baseline-src",
            str(repo / "src"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["accumulate"] == schema()["$defs"]["cka"]["properties"]["accumulate"]["default"]
    assert report["gemm_gflops"] > 0 and report["gemm_float64_gflops"] > 0
    assert [t["kind"] for t in report["baseline_tiles"]] == ["diagonal", "off_diagonal"]
    d = BATCHES * 16 * 15 // 2
    assert report["d"] == d and report["part_bytes"] == 2 * 6 * 2 * packed_length(16) * 4 * 2
    assert [t["kind"] for t in report["tiles"]] == ["diagonal", "off_diagonal"]
    for tile in report["tiles"]:
        assert tile["flops"] == 2 * 6 * 6 * d * 2
        assert tile["seconds"] > 0 and tile["ratio"] > 0 and tile["ratio_float64"] > 0 and tile["cpu_seconds"] > 0
        assert tile["process_seconds"] > tile["seconds"]


def test_cuda_guard_multiplies_float32_chunks_in_float64_when_tf32_is_on():
    """The CUDA branch, decided on a device object (no GPU needed): TF32 float32 matmuls are never used."""
    from repdyn.cka.grams import exact_matmul_dtype

    cuda = torch.device("cuda")
    before = torch.backends.cuda.matmul.fp32_precision
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        assert exact_matmul_dtype(torch.float32, cuda) == torch.float64
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        assert exact_matmul_dtype(torch.float32, cuda) == torch.float32
    finally:
        torch.backends.cuda.matmul.fp32_precision = before
    assert exact_matmul_dtype(torch.float32, torch.device("cpu")) == torch.float32


def test_streamed_kernels_in_the_cuda_tf32_branch_give_float64_products_of_the_right_shape(monkeypatch):
    """With the guard's CUDA answer (float64 for float32 chunks), chunked_float32 is the float64 product."""
    from repdyn.cka import tiles

    block, other = torch.randn(5, 20000), torch.randn(3, 20000)
    expected_sym = tiles.streamed_symmetric_products(iter_column_chunks(block), "float64")
    expected = tiles.streamed_products(iter_column_chunks(block), iter_column_chunks(other), "float64")
    monkeypatch.setattr(tiles, "exact_matmul_dtype", lambda dtype, device: torch.float64)
    sym = tiles.streamed_symmetric_products(column_chunks(block.split([7000, 13000], dim=1)), "chunked_float32")
    got = tiles.streamed_products(iter_column_chunks(block), iter_column_chunks(other), "chunked_float32")
    assert sym.dtype == torch.float64 and sym.shape == (5, 5) and torch.equal(sym, expected_sym)
    assert got.products.shape == (5, 3) and got.norms_i.shape == (5,) and got.norms_j.shape == (3,)
    assert all(t.dtype == torch.float64 for t in got) and torch.equal(got.products, expected.products)
