"""Public CKA functions for users who have activations in memory (no Snakemake, no storage).

They run exactly the workflow's path (batch-centred Gram -> packed -> transform -> tile), so a value
computed here equals the one the workflow stores for the same activations and settings. float64 input
runs the whole path in float64 (the exact reference); any other float input runs the storage path
(float32 Grams and vectors, float64 centring and accumulation): measured <= 1e-8 from it with
accumulate="float64" and ~1e-7 with "chunked_float32" (see `grams` for the cases).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .estimators import batch_sizes, check_batch_sizes, check_estimator
from .grams import ArrayLike, as_rows, centred_gram, pack_upper
from .tiles import check_accumulate, diagonal_tile_cka, diagonal_tile_cka_mean
from .transforms import batch_columns, transform

Device = torch.device | str | None


def split_sizes(n: int, estimator: str, batch_size: int | None) -> list[int]:
    """Batch sizes used for n examples: contiguous batches of `batch_size` (last smaller), or one batch.

    full_biased always uses all n examples at once, so `batch_size` is ignored for it.
    """
    check_estimator(estimator)
    sizes = [n] if estimator == "full_biased" else batch_sizes(n, batch_size)
    return check_batch_sizes(sizes, estimator)


def epoch_vector(rows: torch.Tensor, sizes: Sequence[int], estimator: str, name: str = "x") -> torch.Tensor:
    """Vector g (D,) of one epoch's flattened activations (n, p) split into contiguous batches of `sizes`.

    ValueError if the activations are not finite (checked on the Gram diagonal, which any NaN or inf
    reaches, instead of a full pass over the features).
    """
    packed, start = [], 0
    for index, size in enumerate(sizes):
        gram = centred_gram(rows[start : start + size])
        if not torch.isfinite(gram.diagonal()).all():
            raise ValueError(f"{name}, batch {index}: activations contain NaN or inf (or their Gram overflows)")
        packed.append(pack_upper(gram))
        start += size
    return transform(packed, sizes, estimator)


def _epoch_list(acts: ArrayLike | Sequence[ArrayLike]) -> list[ArrayLike]:
    if isinstance(acts, (np.ndarray, torch.Tensor)):
        if acts.ndim < 2:
            raise ValueError(f"acts must have shape (E, n, ...), got shape {tuple(acts.shape)}")
        return list(acts)
    if isinstance(acts, Sequence) and not isinstance(acts, (str, bytes)):
        return list(acts)
    raise ValueError(f"acts must be an array (E, n, ...) or a sequence of E arrays (n, ...), got {type(acts).__name__}")


def _rows(x: ArrayLike, name: str, device: Device) -> torch.Tensor:
    rows = as_rows(x, name)
    return rows if device is None else rows.to(device)


def cka_matrix(
    acts: ArrayLike | Sequence[ArrayLike],
    estimator: str = "minibatch_unbiased",
    batch_size: int | None = None,
    accumulate: str = "float64",
    device: Device = None,
) -> np.ndarray:
    """E x E float64 CKA matrix between E representations of the same n examples.

    acts: an array (E, n, ...) or a sequence of E arrays (n, ...) (trailing shapes may differ; each is
    flattened row-major). Batches are contiguous in example order, the last may be smaller; batch_size
    None = one batch of n. The result is exactly symmetric with a unit diagonal; rows and columns of a
    constant representation are NaN (with a RuntimeWarning). device None = each input's own device.
    """
    check_estimator(estimator)
    check_accumulate(accumulate)
    epochs = _epoch_list(acts)
    if not epochs:
        raise ValueError("acts is empty: at least one representation is needed")
    vectors, sizes, first_shape = [], None, None
    for index, x in enumerate(epochs):
        rows = _rows(x, f"acts[{index}]", device)
        if sizes is None:
            sizes, first_shape = split_sizes(rows.shape[0], estimator, batch_size), tuple(x.shape)
        elif rows.shape[0] != sum(sizes):
            raise ValueError(
                f"acts[{index}] has shape {tuple(x.shape)} but acts[0] has shape {first_shape}: "
                "every representation must hold the same n examples"
            )
        vectors.append(epoch_vector(rows, sizes, estimator, f"acts[{index}]"))
    common = torch.float64 if any(v.dtype == torch.float64 for v in vectors) else torch.float32
    block = torch.stack([v.to(device=vectors[0].device, dtype=common) for v in vectors])
    if estimator == "minibatch_unbiased_cka_mean":
        result = diagonal_tile_cka_mean(block, batch_columns(sizes, estimator), accumulate)
    else:
        result = diagonal_tile_cka(block, accumulate)
    return result.cpu().numpy()


def cka(
    x: ArrayLike,
    y: ArrayLike,
    estimator: str = "minibatch_unbiased",
    batch_size: int | None = None,
    accumulate: str = "float64",
    device: Device = None,
) -> float:
    """Linear CKA between two representations x (n, ...) and y (n, ...) of the same n examples.

    Returns a Python float; NaN (with a RuntimeWarning) if either representation is constant.
    """
    check_estimator(estimator)
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, (np.ndarray, torch.Tensor)):
            raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(t).__name__}")
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            "x and y must hold the same n examples along their first axis; "
            f"got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return float(cka_matrix([x, y], estimator, batch_size, accumulate, device)[0, 1])
