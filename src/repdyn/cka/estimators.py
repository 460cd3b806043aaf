"""CKA estimator names and the batch rules they impose, in plain Python (no torch).

Kept torch-free so that config validation and the Snakefile can check an
estimator name or a probe-set split at parse time without importing torch.
The maths of each estimator lives in `transforms` (docs/algorithms.md §1.1–1.3).
"""

from __future__ import annotations

from collections.abc import Sequence

from repdyn.config.integers import is_int

ESTIMATORS: tuple[str, ...] = (
    "minibatch_unbiased",
    "minibatch_unbiased_cka_mean",
    "minibatch_biased",
    "full_biased",
)

# Estimators whose per-epoch vector is U-centred (HSIC_1, docs/algorithms.md §1.2) rather than double-centred
# (HSIC_0, docs/algorithms.md §1.1).
UNBIASED: frozenset[str] = frozenset({"minibatch_unbiased", "minibatch_unbiased_cka_mean"})

# HSIC_1 divides by n(n-3), so it needs n >= 4. The biased forms would accept n >= 2, but one rule for all
# estimators means a probe-set split that is valid for one estimator is valid for every other, so switching
# the estimator in a config can never turn a finished extraction into an error.
MIN_BATCH_SIZE = 4


def check_estimator(estimator: str) -> str:
    """Return `estimator` unchanged, or raise ValueError listing the known names."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r} is unknown; allowed values: {', '.join(ESTIMATORS)}")
    return estimator


def is_unbiased(estimator: str) -> bool:
    """True for the U-centred (HSIC_1) estimators."""
    return check_estimator(estimator) in UNBIASED


def batch_sizes(n: int, batch_size: int | None) -> list[int]:
    """Sizes of contiguous batches of `n` examples; the last may be smaller; None = one batch of n."""
    if not is_int(n) or n < 1:
        raise ValueError(f"number of examples n must be a positive int, got {n!r}")
    if batch_size is None:
        return [n]
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def check_batch_sizes(sizes: Sequence[int], estimator: str) -> list[int]:
    """Validate per-batch sizes for `estimator`; ValueError names the first offending batch and its size."""
    check_estimator(estimator)
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise ValueError("at least one batch is needed; got an empty list of batch sizes")
    if estimator == "full_biased" and len(sizes) != 1:
        raise ValueError(f"estimator 'full_biased' uses one Gram of all examples; got {len(sizes)} batches {sizes}")
    for index, size in enumerate(sizes):
        if size < MIN_BATCH_SIZE:
            raise ValueError(
                f"batch {index} has {size} examples; every estimator needs at least {MIN_BATCH_SIZE} per batch "
                f"(estimator {estimator!r}; the unbiased HSIC divides by n(n-3)); "
                f"choose a batch size that leaves no last batch smaller than {MIN_BATCH_SIZE}"
            )
    return sizes
