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

import bisect
import functools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

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


def _double_centre_into(work: torch.Tensor) -> None:
    """`double_centre` of the float64 matrix `work` in place."""
    row_means, col_means, mean = work.mean(dim=1, keepdim=True), work.mean(dim=0, keepdim=True), work.mean()
    work.sub_(row_means).sub_(col_means).add_(mean)


@functools.lru_cache(maxsize=32)
def _strict_upper_rows(n: int) -> tuple[list[int], list[int]]:
    """Where row i of the strict upper triangle (its n-1-i entries) starts in the packed upper triangle
    (`pack_upper`, diagonal included) and in g's part of the batch (`unbiased_vector`), for i < n-1."""
    packed = [i * n - i * (i - 1) // 2 + 1 for i in range(n - 1)]
    return packed, [start - 1 - i for i, start in enumerate(packed)]


class _UCentring(NamedTuple):
    """Per matrix (row of a panel) what `u_centre` subtracts: row sums / (n-2) (rows, n) and the total term
    (rows, 1), float64."""

    row_terms: torch.Tensor
    total_terms: torch.Tensor


def _u_centring_terms(packed: torch.Tensor, n: int) -> _UCentring:
    """The centring terms of many packed symmetric matrices (rows, n(n+1)/2), from the strict upper triangle
    alone: the sum of row i is that of its packed row right of the diagonal plus that of column i above it.
    The same terms as `u_centre`'s up to the order of the float64 row sums. One pass over the triangle rows
    for all matrices at once: about 3n operations whatever the number of rows."""
    rows = packed.shape[0]
    starts, _ = _strict_upper_rows(n)
    right = torch.zeros((n, rows), dtype=torch.float64, device=packed.device)
    above = torch.zeros((rows, n), dtype=torch.float64, device=packed.device)
    work = torch.empty((rows, n - 1), dtype=torch.float64, device=packed.device)
    for i, start in enumerate(starts):
        values = work[:, : n - 1 - i]
        values.copy_(packed[:, start : start + n - 1 - i])
        torch.sum(values, dim=1, out=right[i])
        above[:, i + 1 :].add_(values)
    row_sums = above.add_(right.T)
    return _UCentring(row_sums / (n - 2), row_sums.sum(dim=1, keepdim=True) / ((n - 1) * (n - 2)))


def _unbiased_columns(
    packed: torch.Tensor, n: int, terms: _UCentring, start: int, stop: int, work: torch.Tensor, out: torch.Tensor
) -> None:
    """Columns [start, stop) of the unbiased part of g (`unbiased_vector`) into `out` (rows, stop - start): per
    triangle row i, u_ij = ((k_ij - r_i) - r_j + t) * √(2/(n(n-3))) on its packed entries, as in `u_centre`."""
    packed_starts, starts = _strict_upper_rows(n)
    scale = math.sqrt(2.0 / (n * (n - 3)))
    row_terms, total_terms = terms
    i = max(0, bisect.bisect_right(starts, start) - 1)
    while i < n - 1 and starts[i] < stop:
        first, last = max(start, starts[i]), min(stop, starts[i] + n - 1 - i)
        offset = first - starts[i]
        values = work[:, : last - first]
        values.copy_(packed[:, packed_starts[i] + offset : packed_starts[i] + offset + last - first])
        values.sub_(row_terms[:, i : i + 1]).sub_(row_terms[:, i + 1 + offset : i + 1 + offset + last - first])
        values.add_(total_terms).mul_(scale)
        out[:, first - start : last - start].copy_(values)
        i += 1


def panel_vectors(packed: torch.Tensor, n: int, estimator: str) -> torch.Tensor:
    """One batch's part of g (rows, part_length(n)), float32, for many epochs' packed Grams (rows, n(n+1)/2)
    of that batch: row r is `transform([packed[r]], [n], estimator, torch.float32)`, bit for bit for the
    biased estimators; the unbiased ones may differ by the rounding of reordered float64 row sums (measured:
    no float32 entry differs at n = 512; at most one float32 rounding step, see `panel_vector_pieces`)."""
    return next(panel_vector_pieces(packed, n, estimator, [0, part_length(n, estimator)]))


def panel_vector_pieces(packed: torch.Tensor, n: int, estimator: str, bounds: Sequence[int]) -> Iterator[torch.Tensor]:
    """Columns [bounds[k], bounds[k+1]) of `panel_vectors(packed, n, estimator)`, one piece at a time.

    Unbiased estimators: no n x n matrix is formed. The centring terms come from one pass over the packed
    triangle rows of all epochs at once (`_u_centring_terms`), and each piece is then centred straight from
    the packed entries it holds, a triangle row at a time for all epochs: about 5 operations per row
    instead of some 12 per epoch and an n x n gather each way (about 1.3x less CPU, n = 512), and only the
    piece being built is held. Biased estimators: double-centred n x n per epoch, the pieces are views of
    the whole panel.
    """
    check_estimator(estimator)
    check_batch_sizes([n], estimator)
    if packed.dim() != 2 or packed.shape[1] != packed_length(n):
        raise ValueError(
            f"packed Grams for n={n} must have shape (rows, {packed_length(n)}), got {tuple(packed.shape)}"
        )
    if list(bounds) != sorted(bounds) or bounds[0] < 0 or bounds[-1] > part_length(n, estimator):
        raise ValueError(f"column bounds {list(bounds)} are not increasing within [0, {part_length(n, estimator)}]")
    if not is_unbiased(estimator):
        whole = _biased_panel(packed, n)
        yield from (whole[:, start:stop] for start, stop in zip(bounds[:-1], bounds[1:]))
        return
    terms = _u_centring_terms(packed, n)
    work = torch.empty((packed.shape[0], n - 1), dtype=torch.float64, device=packed.device)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        out = torch.empty((packed.shape[0], stop - start), dtype=torch.float32, device=packed.device)
        _unbiased_columns(packed, n, terms, start, stop, work, out)
        yield out


def _biased_panel(packed: torch.Tensor, n: int) -> torch.Tensor:
    """`biased_vector` of each row's packed Gram, float32: the n x n work matrices are allocated once, the
    centring runs in place, and the scale is applied to the whole matrix before one float32 gather of the
    entries kept straight into the output row (elementwise steps commute with selecting entries)."""
    unpack = unpack_index(n, packed.device)
    strict_upper, _ = triu_flat_indices(n, 1, packed.device)
    gram = torch.empty(n * n, dtype=packed.dtype, device=packed.device)
    work = torch.empty((n, n), dtype=torch.float64, device=packed.device)
    kept = torch.empty(n * n, dtype=torch.float32, device=packed.device)
    out = torch.empty((packed.shape[0], part_length(n, "minibatch_biased")), dtype=torch.float32, device=packed.device)
    for row, values in enumerate(packed):
        torch.index_select(values, 0, unpack, out=gram)
        work.view(-1).copy_(gram)
        _double_centre_into(work)
        out[row, :n].copy_(work.diagonal() / (n - 1))
        work.mul_(math.sqrt(2.0)).div_(n - 1)
        kept.copy_(work.view(-1))
        torch.index_select(kept, 0, strict_upper, out=out[row, n:])
    return out
