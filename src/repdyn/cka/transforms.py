"""Gram transforms: from stored batch Grams to one epoch's vector g, whose inner products are HSIC sums.

docs/algorithms.md §1.5: with g_e built as below, ⟨g_e1, g_e2⟩ = Σ_b HSIC(K_b, L_b) for the chosen estimator,
so an epoch x epoch CKA matrix is one matrix product. Symmetric matrices are half-vectorised
(⟨A, B⟩ = Σ_i A_ii B_ii + 2 Σ_{i<j} A_ij B_ij), which halves storage and FLOPs.

Layout of g per estimator (batches concatenated in order):
- minibatch_unbiased: per batch √2·strictupper(U(K_b)) / √(n_b(n_b-3)); U's diagonal is zero, so omitted.
- minibatch_unbiased_cka_mean: the same vector. Its per-batch parts are the column ranges
  `batch_columns(sizes, estimator)`; the tiles normalise each part separately and average. One layout for
  both unbiased reductions means one stored artifact serves both.
- minibatch_biased: per batch [diag(HK_bH), √2·strictupper(HK_bH)] / (n_b-1).
- full_biased: the biased form of the single N x N Gram of all examples (exactly one "batch").

All centring runs in float64 (U-centring explicitly, never the three-term form, docs/algorithms.md §1.6); the output
dtype
defaults to the dtype of the stored Grams (float32 storage -> float32 g).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .estimators import check_batch_sizes, check_estimator, is_unbiased
from .grams import packed_length, triu_flat_indices, unpack_index, unpack_upper


def u_centre(gram: torch.Tensor) -> torch.Tensor:
    """U-centred matrix U(K) (Székely & Rizzo), float64: symmetric, zero diagonal, zero row sums. Needs n >= 4."""
    n = gram.shape[0]
    if n < 4:
        raise ValueError(f"U-centring needs n >= 4 examples, got n={n}")
    k = gram.to(torch.float64, copy=True)
    k.fill_diagonal_(0.0)
    row_sums = k.sum(dim=1)
    total = row_sums.sum()
    scaled = row_sums / (n - 2)
    k.sub_(scaled[:, None]).sub_(scaled[None, :]).add_(total / ((n - 1) * (n - 2)))
    return k.fill_diagonal_(0.0)


def double_centre(gram: torch.Tensor) -> torch.Tensor:
    """HKH in float64. A no-op in exact arithmetic for a Gram of centred features; re-applying it removes
    any residual offset left by float32 centring and makes the biased forms valid for uncentred Grams too."""
    k = gram.to(torch.float64)
    row_means = k.mean(dim=1, keepdim=True)
    col_means = k.mean(dim=0, keepdim=True)
    return k - row_means - col_means + k.mean()


def hsic_unbiased(gram_k: torch.Tensor, gram_l: torch.Tensor) -> torch.Tensor:
    """HSIC_1(K, L) = ⟨U(K), U(L)⟩ / (n(n-3)) as a float64 scalar tensor (docs/algorithms.md §1.2)."""
    n = gram_k.shape[0]
    return (u_centre(gram_k) * u_centre(gram_l)).sum() / (n * (n - 3))


def hsic_biased(gram_k: torch.Tensor, gram_l: torch.Tensor) -> torch.Tensor:
    """HSIC_0(K, L) = ⟨HKH, HLH⟩ / (n-1)² as a float64 scalar tensor (docs/algorithms.md §1.1)."""
    n = gram_k.shape[0]
    return (double_centre(gram_k) * double_centre(gram_l)).sum() / (n - 1) ** 2


def unbiased_vector(gram: torch.Tensor) -> torch.Tensor:
    """√2·strictupper(U(K)) / √(n(n-3)), float64, length n(n-1)/2."""
    n = gram.shape[0]
    strict_upper, _ = triu_flat_indices(n, 1, gram.device)
    return u_centre(gram).reshape(-1).index_select(0, strict_upper) * math.sqrt(2.0 / (n * (n - 3)))


def biased_vector(gram: torch.Tensor) -> torch.Tensor:
    """[diag(HKH), √2·strictupper(HKH)] / (n-1), float64, length n(n+1)/2."""
    n = gram.shape[0]
    centred = double_centre(gram)
    strict_upper, _ = triu_flat_indices(n, 1, gram.device)
    off_diagonal = centred.reshape(-1).index_select(0, strict_upper) * math.sqrt(2.0)
    return torch.cat([centred.diagonal(), off_diagonal]) / (n - 1)


def part_length(n: int, estimator: str) -> int:
    """Number of entries one batch of n examples contributes to g."""
    return n * (n - 1) // 2 if is_unbiased(estimator) else n * (n + 1) // 2


def vector_length(sizes: Sequence[int], estimator: str) -> int:
    """Length D of an epoch's vector g for these batch sizes."""
    return sum(part_length(int(n), estimator) for n in sizes)


def batch_columns(sizes: Sequence[int], estimator: str) -> list[slice]:
    """Column range of each batch's part of g (the per-batch vectors of the cka_mean reduction)."""
    slices, start = [], 0
    for n in sizes:
        stop = start + part_length(int(n), estimator)
        slices.append(slice(start, stop))
        start = stop
    return slices


def transform(
    packed_grams: Sequence[torch.Tensor],
    sizes: Sequence[int],
    estimator: str,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One epoch's vector g (D,) from its packed per-batch centred Grams (see the module docstring).

    `dtype` None = the dtype of the packed Grams. ValueError for an unknown estimator, a batch with fewer
    than 4 examples, or a packed Gram whose length does not match its batch size.
    """
    check_estimator(estimator)
    sizes = check_batch_sizes(sizes, estimator)
    if len(packed_grams) != len(sizes):
        raise ValueError(f"got {len(packed_grams)} packed Grams but {len(sizes)} batch sizes {sizes}")
    to_vector = unbiased_vector if is_unbiased(estimator) else biased_vector
    parts = []
    for index, (packed, n) in enumerate(zip(packed_grams, sizes)):
        try:
            gram = unpack_upper(packed, n)
        except ValueError as error:
            raise ValueError(f"batch {index}: {error}") from None
        parts.append(to_vector(gram))
    out_dtype = dtype if dtype is not None else packed_grams[0].dtype
    return torch.cat(parts).to(out_dtype)


def _u_centre_scaled_into(work: torch.Tensor) -> None:
    """`u_centre` of the float64 matrix `work` in place, times √(2/(n(n-3))) (the diagonal is left as is)."""
    n = work.shape[0]
    work.fill_diagonal_(0.0)
    row_sums = work.sum(dim=1)
    scaled = row_sums / (n - 2)
    work.sub_(scaled[:, None]).sub_(scaled[None, :]).add_(row_sums.sum() / ((n - 1) * (n - 2)))
    work.mul_(math.sqrt(2.0 / (n * (n - 3))))


def _double_centre_into(work: torch.Tensor) -> None:
    """`double_centre` of the float64 matrix `work` in place."""
    row_means, col_means, mean = work.mean(dim=1, keepdim=True), work.mean(dim=0, keepdim=True), work.mean()
    work.sub_(row_means).sub_(col_means).add_(mean)


def panel_vectors(packed: torch.Tensor, n: int, estimator: str) -> torch.Tensor:
    """One batch's part of g (rows, part_length(n)), float32, for many epochs' packed Grams (rows, n(n+1)/2)
    of that batch: row r is `transform([packed[r]], [n], estimator, torch.float32)`, bit for bit.

    Faster than a `transform` per row (about 1.5x, n = 512): the n x n work matrices are allocated once, the
    centring runs in place, and the scale is applied to the whole matrix before one float32 gather of the
    entries kept straight into the output row (elementwise steps commute with selecting entries).
    """
    check_estimator(estimator)
    check_batch_sizes([n], estimator)
    if packed.dim() != 2 or packed.shape[1] != packed_length(n):
        raise ValueError(
            f"packed Grams for n={n} must have shape (rows, {packed_length(n)}), got {tuple(packed.shape)}"
        )
    unbiased = is_unbiased(estimator)
    unpack = unpack_index(n, packed.device)
    strict_upper, _ = triu_flat_indices(n, 1, packed.device)
    gram = torch.empty(n * n, dtype=packed.dtype, device=packed.device)
    work = torch.empty((n, n), dtype=torch.float64, device=packed.device)
    kept = torch.empty(n * n, dtype=torch.float32, device=packed.device)
    out = torch.empty((packed.shape[0], part_length(n, estimator)), dtype=torch.float32, device=packed.device)
    for row, values in enumerate(packed):
        torch.index_select(values, 0, unpack, out=gram)
        work.view(-1).copy_(gram)
        if unbiased:
            _u_centre_scaled_into(work)
            off_diagonal = out[row]
        else:
            _double_centre_into(work)
            out[row, :n].copy_(work.diagonal() / (n - 1))
            work.mul_(math.sqrt(2.0)).div_(n - 1)
            off_diagonal = out[row, n:]
        kept.copy_(work.view(-1))
        torch.index_select(kept, 0, strict_upper, out=off_diagonal)
    return out
