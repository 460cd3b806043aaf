"""CKA tiles: products of blocks of epoch vectors, and their normalisation to CKA.

A tile is block I (a epochs) x block J (b epochs) of one layer's matrix: M_IJ = G_I G_Jᵀ and the squared
row norms of both blocks; CKA = M_IJ / √(diag_I diag_J) (docs/algorithms.md §1.5). Tiles for I <= J fill the
symmetric matrix; use `diagonal_tile_cka` for I = J so that the diagonal is exactly 1 and the block exactly
symmetric, from about half the arithmetic of a general tile (`symmetric_products`).

Accumulation (docs/algorithms.md §1.6): "float64" casts each column chunk to float64 and multiplies in float64,
accumulating in the GEMM (~1e-14);
"chunked_float32" multiplies float32 chunks of at most 8192 columns and sums the partial products in
float64 (~1e-7 at D = 5e5, about twice as fast on CPU, far faster on GPUs). On CUDA with TF32 enabled the
float32 chunks are multiplied in float64 instead (never TF32).

Memory bound of `streamed_products` (the memory-bounded form): it holds, besides whatever its two
iterables keep alive (the two float32 blocks when they are views of in-memory blocks, or only the current
chunk pair when chunks are read from storage one at a time), the float64 accumulator a·b·8 bytes, the
float64 norms (a+b)·8 bytes and per step one chunk pair converted to the working dtype, (a+b)·c·8 bytes
for chunk width c (plus an a·b·4-byte partial product for chunked_float32). So a tile with a = b = 1000,
c = 8192 needs 8 MB + 131 MB of temporaries beyond its float32 input, never two float64 blocks.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import torch

from repdyn.config.integers import is_int

from .grams import exact_matmul_dtype

ACCUMULATIONS: tuple[str, ...] = ("float64", "chunked_float32")
MAX_FLOAT32_CHUNK = 8192
DEFAULT_CHUNK = 8192
# Row-block height of a symmetric product: smaller blocks save more multiply-adds but give smaller
# matrix products, which run far below the GEMM's peak (measured on a 2-core CPU: 32-row blocks took
# 2x the time of the whole product, 128-row blocks less than it).
SYMMETRIC_BLOCK = 128


class TileProducts(NamedTuple):
    """G_I G_Jᵀ and the squared row norms of G_I and G_J, all float64."""

    products: torch.Tensor
    norms_i: torch.Tensor
    norms_j: torch.Tensor


def check_accumulate(accumulate: str, chunk: int = DEFAULT_CHUNK) -> None:
    """ValueError for an unknown accumulation mode or a chunk width it does not allow."""
    if accumulate not in ACCUMULATIONS:
        raise ValueError(f"accumulate {accumulate!r} is unknown; allowed values: {', '.join(ACCUMULATIONS)}")
    if not is_int(chunk) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    if accumulate == "chunked_float32" and chunk > MAX_FLOAT32_CHUNK:
        raise ValueError(f"chunk={chunk} is too wide for chunked_float32 accumulation (at most {MAX_FLOAT32_CHUNK})")


def _accumulate_product(out: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> None:
    """out += left @ rightᵀ in float64: one GEMM that accumulates into `out` for float64 operands (no
    temporary, no extra pass: 1.5x faster per 8192-column chunk on 2 shared cores), a float32 product added
    in float64 otherwise."""
    if left.dtype == torch.float64:
        out.addmm_(left, right.T)
    else:
        out += (left @ right.T).to(torch.float64)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the enclosed (memory-bound, short) torch operations on this thread alone: split over threads they
    wait at barriers for cores that the read-ahead threads hold (row norms of the chunks: 5x faster measured
    on 2 shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def iter_column_chunks(block: torch.Tensor, chunk: int = DEFAULT_CHUNK) -> Iterator[torch.Tensor]:
    """Views of `block` (rows, D) over consecutive column ranges of width <= chunk."""
    if block.dim() != 2:
        raise ValueError(f"a block of epoch vectors must be 2-D (epochs, D), got shape {tuple(block.shape)}")
    for start in range(0, block.shape[1], chunk):
        yield block[:, start : start + chunk]


def streamed_products(
    chunks_i: Iterable[torch.Tensor],
    chunks_j: Iterable[torch.Tensor],
    accumulate: str = "float64",
    device: torch.device | str | None = None,
) -> TileProducts:
    """G_I G_Jᵀ and row norms from two iterables of matching column chunks, one chunk pair at a time.

    Chunk k of both iterables must cover the same columns (equal widths). Chunks may live on another
    device (e.g. read from storage on the CPU): each pair is moved to `device` (None = the first chunk's
    device) when it is used. See the module docstring for the memory bound.
    """
    check_accumulate(accumulate, 1)
    products = norms_i = norms_j = None
    pairs = zip(chunks_i, chunks_j, strict=True)
    for index, (left, right) in enumerate(pairs):
        if left.dim() != 2 or right.dim() != 2 or left.shape[1] != right.shape[1]:
            raise ValueError(
                f"column chunk {index}: shapes {tuple(left.shape)} and {tuple(right.shape)} "
                "do not cover the same columns"
            )
        if accumulate == "chunked_float32" and left.shape[1] > MAX_FLOAT32_CHUNK:
            raise ValueError(
                f"column chunk {index} has {left.shape[1]} columns; chunked_float32 allows at most {MAX_FLOAT32_CHUNK}"
            )
        if products is None:
            device = torch.device(device) if device is not None else left.device
            products = torch.zeros((left.shape[0], right.shape[0]), dtype=torch.float64, device=device)
            norms_i = torch.zeros(left.shape[0], dtype=torch.float64, device=device)
            norms_j = torch.zeros(right.shape[0], dtype=torch.float64, device=device)
        work = torch.float64 if accumulate == "float64" else exact_matmul_dtype(torch.float32, device)
        left, right = left.to(device=device, dtype=work), right.to(device=device, dtype=work)
        _accumulate_product(products, left, right)
        with _one_thread():
            norms_i += (left * left).sum(dim=1).to(torch.float64)
            norms_j += (right * right).sum(dim=1).to(torch.float64)
    if products is None:
        raise ValueError("no column chunks were given: a tile needs vectors with D >= 1 columns")
    return TileProducts(products, norms_i, norms_j)


def _check_blocks(block_i: torch.Tensor, block_j: torch.Tensor) -> None:
    for name, block in (("G_I", block_i), ("G_J", block_j)):
        if block.dim() != 2:
            raise ValueError(f"{name} must be 2-D (epochs, D), got shape {tuple(block.shape)}")
    if block_i.shape[1] != block_j.shape[1]:
        raise ValueError(
            f"G_I and G_J must have the same D, got shapes {tuple(block_i.shape)} and {tuple(block_j.shape)}"
        )


def block_products(
    block_i: torch.Tensor, block_j: torch.Tensor, accumulate: str = "float64", chunk: int = DEFAULT_CHUNK
) -> TileProducts:
    """`streamed_products` over column chunks of two in-memory blocks (a, D) and (b, D)."""
    check_accumulate(accumulate, chunk)
    _check_blocks(block_i, block_j)
    return streamed_products(iter_column_chunks(block_i, chunk), iter_column_chunks(block_j, chunk), accumulate)


def tile_products(
    block_i: torch.Tensor, block_j: torch.Tensor, accumulate: str = "float64", chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """G_I G_Jᵀ as a float64 (a, b) tensor."""
    return block_products(block_i, block_j, accumulate, chunk).products


def row_sq_norms(block: torch.Tensor, accumulate: str = "float64", chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Squared norms of the rows of G (a, D), float64 (the `diag` of `cka_from_products`)."""
    check_accumulate(accumulate, chunk)
    work = torch.float64 if accumulate == "float64" else exact_matmul_dtype(torch.float32, block.device)
    norms = torch.zeros(block.shape[0], dtype=torch.float64, device=block.device)
    for part in iter_column_chunks(block, chunk):
        part = part.to(work)
        norms += (part * part).sum(dim=1).to(torch.float64)
    return norms


def _normalise(
    products: torch.Tensor, norms_i: torch.Tensor, norms_j: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CKA entries and the mask of degenerate entries (a zero norm on either side), without warning."""
    products, norms_i, norms_j = (t.to(torch.float64) for t in (products, norms_i, norms_j))
    if products.shape != (norms_i.shape[0], norms_j.shape[0]) or norms_i.dim() != 1 or norms_j.dim() != 1:
        raise ValueError(
            f"products of shape {tuple(products.shape)} do not match norms of shapes "
            f"{tuple(norms_i.shape)} and {tuple(norms_j.shape)}"
        )
    if (norms_i < 0).any() or (norms_j < 0).any():
        raise ValueError("squared norms must be non-negative; got a negative entry in diag_I or diag_J")
    # Rescale so that diag_i * diag_j can neither overflow nor (for reasonable spreads) underflow; sqrt(d*d)
    # is exactly d in IEEE arithmetic, so a diagonal entry M_ii / sqrt(M_ii * M_ii) is exactly 1.
    largest = torch.cat([norms_i, norms_j]).nan_to_num(0.0).max()
    scale = torch.where(largest > 0, largest, torch.ones_like(largest))
    products, norms_i, norms_j = products / scale, norms_i / scale, norms_j / scale
    denominator = torch.sqrt(norms_i[:, None] * norms_j[None, :])
    underflow = (denominator == 0) & (norms_i[:, None] > 0) & (norms_j[None, :] > 0)
    denominator = torch.where(underflow, norms_i.sqrt()[:, None] * norms_j.sqrt()[None, :], denominator)
    degenerate = (norms_i == 0)[:, None] | (norms_j == 0)[None, :]
    cka = torch.where(degenerate, torch.full_like(products, float("nan")), products / denominator)
    return cka, degenerate


def _warn_degenerate(rows: int, of_rows: int, cols: int, of_cols: int, entries: int, what: str = "") -> None:
    warnings.warn(
        f"{rows} of {of_rows} row and {cols} of {of_cols} column representations{what} are constant "
        f"(zero HSIC norm); {entries} CKA entries are NaN",
        RuntimeWarning,
        stacklevel=3,
    )


def cka_from_products(products: torch.Tensor, diag_i: torch.Tensor, diag_j: torch.Tensor) -> torch.Tensor:
    """CKA (a, b) float64 = M_IJ / √(diag_I diag_J); entries of a constant representation are NaN + one warning."""
    cka, degenerate = _normalise(products, diag_i, diag_j)
    if degenerate.any():
        rows = int((diag_i == 0).sum())
        cols = int((diag_j == 0).sum())
        _warn_degenerate(rows, diag_i.shape[0], cols, diag_j.shape[0], int(degenerate.sum()))
    return cka


def _row_blocks(rows: int) -> list[tuple[int, int]]:
    """Row ranges of about SYMMETRIC_BLOCK rows (at least one range) that split a symmetric product."""
    count = max(1, round(rows / SYMMETRIC_BLOCK))
    edges = [round(i * rows / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


def symmetric_products(block: torch.Tensor, accumulate: str = "float64", chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """G Gᵀ (a, a) float64, exactly symmetric, from about half the multiply-adds of a general product
    (`streamed_symmetric_products` over the column chunks of an in-memory block)."""
    check_accumulate(accumulate, chunk)
    if block.dim() != 2:
        raise ValueError(f"G must be 2-D (epochs, D), got shape {tuple(block.shape)}")
    return streamed_symmetric_products(iter_column_chunks(block, chunk), accumulate)


def streamed_symmetric_products(chunks: Iterable[torch.Tensor], accumulate: str = "float64") -> torch.Tensor:
    """G Gᵀ (a, a) float64 from the column chunks of G, one chunk at a time, exactly symmetric.

    The syrk idea with matrix products that stay large: for each block of about SYMMETRIC_BLOCK rows I,
    one product G_I G_{I..}ᵀ fills block row I on and right of the diagonal (a·(a+b)/2 of the a² entries
    for b-row blocks); the lower triangle is the mirror of the upper one, and each diagonal block is
    averaged with its transpose. Same accumulation as `tile_products` (float64, or float32 chunks summed
    in float64), so the entries agree with it to float rounding.
    """
    check_accumulate(accumulate, 1)
    upper = ranges = None
    for index, part in enumerate(chunks):
        if part.dim() != 2 or (upper is not None and part.shape[0] != upper.shape[0]):
            raise ValueError(
                f"column chunk {index} has shape {tuple(part.shape)}; expected (epochs, columns) chunks of one block"
            )
        if accumulate == "chunked_float32" and part.shape[1] > MAX_FLOAT32_CHUNK:
            raise ValueError(
                f"column chunk {index} has {part.shape[1]} columns; chunked_float32 allows at most {MAX_FLOAT32_CHUNK}"
            )
        if upper is None:
            upper = torch.zeros((part.shape[0], part.shape[0]), dtype=torch.float64, device=part.device)
            ranges = _row_blocks(part.shape[0])
        work = torch.float64 if accumulate == "float64" else exact_matmul_dtype(torch.float32, part.device)
        part = part.to(work)
        for start, stop in ranges:
            _accumulate_product(upper[start:stop, start:], part[start:stop], part[start:])
    if upper is None:
        raise ValueError("no column chunks were given: a tile needs vectors with D >= 1 columns")
    for start, stop in ranges:
        square = upper[start:stop, start:stop]
        square.copy_((square + square.T) / 2)
    return upper.triu() + upper.triu(1).T


def diagonal_tile_cka(block: torch.Tensor, accumulate: str = "float64", chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """CKA of a block with itself: exactly symmetric (`symmetric_products`) with an exact unit diagonal."""
    products = symmetric_products(block, accumulate, chunk)
    return cka_from_products(products, products.diagonal().clone(), products.diagonal().clone())


def segment_products(
    block_i: torch.Tensor,
    block_j: torch.Tensor,
    columns: Sequence[slice],
    accumulate: str = "float64",
    chunk: int = DEFAULT_CHUNK,
) -> TileProducts:
    """Per-batch products for the cka_mean reduction: products (B, a, b), norms (B, a) and (B, b).

    `columns` are the per-batch column ranges of g (`transforms.batch_columns`).
    """
    _check_blocks(block_i, block_j)
    if not columns:
        raise ValueError("cka_mean needs at least one batch column range")
    parts = [block_products(block_i[:, cols], block_j[:, cols], accumulate, chunk) for cols in columns]
    return TileProducts(*(torch.stack(field) for field in zip(*parts)))


def cka_mean_from_products(products: torch.Tensor, diag_i: torch.Tensor, diag_j: torch.Tensor) -> torch.Tensor:
    """Average over batches of per-batch CKA (a, b); an epoch constant in any batch gives NaN + one warning."""
    if products.dim() != 3 or diag_i.dim() != 2 or diag_j.dim() != 2:
        raise ValueError(
            f"cka_mean needs per-batch products (B, a, b) and norms (B, a), (B, b); got shapes "
            f"{tuple(products.shape)}, {tuple(diag_i.shape)}, {tuple(diag_j.shape)}"
        )
    per_batch = [_normalise(m, di, dj) for m, di, dj in zip(products, diag_i, diag_j)]
    cka = torch.stack([c for c, _ in per_batch]).mean(dim=0)
    degenerate = torch.stack([d for _, d in per_batch]).any(dim=0)
    if degenerate.any():
        rows = int((diag_i == 0).any(dim=0).sum())
        cols = int((diag_j == 0).any(dim=0).sum())
        _warn_degenerate(rows, diag_i.shape[1], cols, diag_j.shape[1], int(degenerate.sum()), " (in some batch)")
    return cka


def diagonal_tile_cka_mean(
    block: torch.Tensor, columns: Sequence[slice], accumulate: str = "float64", chunk: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """cka_mean of a block with itself, exactly symmetric with an exact unit diagonal (NaN where degenerate)."""
    _check_blocks(block, block)
    if not columns:
        raise ValueError("cka_mean needs at least one batch column range")
    products = torch.stack([symmetric_products(block[:, cols], accumulate, chunk) for cols in columns])
    diag = products.diagonal(dim1=1, dim2=2).clone()
    return cka_mean_from_products(products, diag, diag)
