"""Class-balanced selections: the training subset and the fixed CKA probe set.

Both draw with a numpy Generator from one seed, class by class in class order,
so the same (labels, seed) always give the same indices on every machine.
"""

from __future__ import annotations

import numpy as np

from repdyn.config.integers import is_int, require_int

MIN_PROBE_BATCH = 4  # the unbiased HSIC estimator divides by (n - 3)


def balanced_subset(labels: np.ndarray, num_classes: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted int64 indices of `size / C` examples of every class, drawn without replacement.

    None means the whole set (arange). Draw: Generator(seed).choice per class, class 0 first.
    """
    labels = _check_labels(labels, num_classes)
    if size is None:
        return np.arange(labels.size, dtype=np.int64)
    if not is_int(size) or size <= 0 or size % num_classes:
        raise ValueError(
            f"data.train_subset must be a positive multiple of the number of classes ({num_classes}) or null; "
            f"got {size!r}"
        )
    per_class = size // num_classes
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            raise ValueError(
                f"data.train_subset={size} needs {per_class} examples of class {c}; the training set has {members.size}"
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def probe_batches(labels: np.ndarray, num_classes: int, batches: int, batch_size: int, seed: int) -> np.ndarray:
    """Indices (batches, batch_size) of disjoint class-balanced batches (docs/algorithms.md §1.7).

    Every batch holds floor(n / C) examples of every class plus one more of each
    of (n mod C) distinct classes; with Generator(seed) we first draw those extra
    classes for every batch (batch 0 first), then per class a random order of
    its examples, whose first counts go to batch 0, the next to batch 1, ...
    Inside a batch the indices are sorted by class, then by index.
    """
    labels = _check_labels(labels, num_classes)
    require_int("data.probe.batches", batches)
    if not is_int(batch_size) or batch_size < MIN_PROBE_BATCH:
        raise ValueError(
            f"data.probe.batch_size must be an integer >= {MIN_PROBE_BATCH} (unbiased CKA needs n >= 4); "
            f"got {batch_size!r}"
        )
    base, extra = divmod(batch_size, num_classes)
    rng = np.random.default_rng(seed)
    counts = np.full((batches, num_classes), base, dtype=np.int64)
    for b in range(batches):
        counts[b, rng.choice(num_classes, size=extra, replace=False)] += 1

    needed = counts.sum(axis=0)
    out = [[] for _ in range(batches)]
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if members.size < needed[c]:
            raise ValueError(
                f"data.probe ({batches} x {batch_size}) needs {needed[c]} test examples of class {c}; "
                f"the test set has {members.size}"
            )
        order = rng.permutation(members)
        bounds = np.concatenate([[0], np.cumsum(counts[:, c])])
        for b in range(batches):
            out[b].append(np.sort(order[bounds[b] : bounds[b + 1]]))
    return np.stack([np.concatenate(parts) for parts in out]).astype(np.int64)


def _check_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array; got {labels.dtype} {labels.shape}")
    require_int("num_classes", num_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    return labels
