"""Symmetric label noise as in the deep-double-descent code (docs/algorithms.md §4.5).

For rate q, exactly floor(q * N / C) examples of every class are chosen without
replacement and each gets a label drawn uniformly from the C - 1 other classes,
so the noise never leaves a label unchanged and every class loses the same
number of examples. q is read as the decimal it prints as (0.29 means 29/100),
so floor() never loses an example to binary rounding.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from repdyn.config.integers import is_number


def noisy_per_class(rate: float, num_examples: int, num_classes: int) -> int:
    """floor(q * N / C), computed exactly."""
    check_rate(rate)
    return math.floor(Fraction(repr(float(rate))) * num_examples / num_classes)


def check_rate(rate: float) -> None:
    if not is_number(rate) or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"data.label_noise must be a number in [0, 1); got {rate!r}")


def flip_labels(labels: np.ndarray, rate: float, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (noisy labels, sorted int64 indices of the flipped examples).

    Draws, with numpy Generator(seed), class by class (0..C-1): the examples to
    flip (`choice` without replacement), then an offset 1..C-1 for each, added
    to the true class modulo C — a uniform draw among the other classes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array; got {labels.dtype} {labels.shape}")
    if num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes; got num_classes={num_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    per_class = noisy_per_class(rate, labels.size, num_classes)
    noisy = labels.astype(np.int64, copy=True)
    if per_class == 0:
        return noisy, np.empty(0, dtype=np.int64)

    rng = np.random.default_rng(seed)
    flipped = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if members.size < per_class:
            raise ValueError(
                f"data.label_noise={rate} asks for {per_class} flipped examples per class but class {c} "
                f"has only {members.size}"
            )
        chosen = rng.choice(members, size=per_class, replace=False)
        noisy[chosen] = (c + rng.integers(1, num_classes, size=per_class)) % num_classes
        flipped.append(chosen)
    return noisy, np.sort(np.concatenate(flipped)).astype(np.int64)
