"""Stratified training-set pairs to follow through training, chosen once per dataset and recorded.

Four types, `per_type` pairs each (the theory predicts different fates for them):
- clean_same: both clean, same class (their representations should merge);
- clean_different: both clean, different classes;
- clean_vs_flipped: a clean example and a mislabelled one of the same true class (memorisation should push
  them apart);
- both_flipped: two mislabelled examples.
Within a type, pair k is drawn from class k mod C (the clean example's class for clean_vs_flipped, the first
example's for the others), skipping classes that cannot supply one, so every class is represented. No pair is
repeated and no example is paired with itself. A type no example can supply (no flipped examples without label
noise) gets no pairs; a type with too few distinct pairs is an error. Deterministic: numpy Generator(seed),
types in the order above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAIR_TYPES = ("clean_same", "clean_different", "clean_vs_flipped", "both_flipped")


@dataclass(frozen=True)
class Pairs:
    index: np.ndarray  # (P, 2) int64 training-set indices (i, j)
    kind: np.ndarray  # (P,) int8 index into PAIR_TYPES

    def of_type(self, name: str) -> np.ndarray:
        """(p, 2) the pairs of one type."""
        return self.index[self.kind == PAIR_TYPES.index(name)]


def candidates(kind: str, cls: int, clean: np.ndarray, is_flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) example pools of one pair type for class cls (clean labels)."""
    clean_of = np.flatnonzero(~is_flipped & (clean == cls))
    flipped_of = np.flatnonzero(is_flipped & (clean == cls))
    if kind == "clean_same":
        return clean_of, clean_of
    if kind == "clean_different":
        return clean_of, np.flatnonzero(~is_flipped & (clean != cls))
    if kind == "clean_vs_flipped":
        return clean_of, flipped_of
    return flipped_of, np.flatnonzero(is_flipped)


def draw_type(
    kind: str, per_type: int, clean: np.ndarray, is_flipped: np.ndarray, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """per_type distinct pairs of one type, cycling over classes; a clear error if the pools run out."""
    pools = {int(c): candidates(kind, int(c), clean, is_flipped) for c in np.unique(clean)}
    pools = {c: pool for c, pool in pools.items() if pool[0].size and pool[1].size}
    if not pools:
        return []
    classes = sorted(pools)
    chosen: set[tuple[int, int]] = set()
    out: list[tuple[int, int]] = []
    for k in range(per_type * len(classes) * 20):
        if len(out) == per_type:
            break
        first, second = pools[classes[k % len(classes)]]
        i, j = int(rng.choice(first)), int(rng.choice(second))
        if i != j and (min(i, j), max(i, j)) not in chosen:
            chosen.add((min(i, j), max(i, j)))
            out.append((i, j))
    if len(out) < per_type:
        raise ValueError(
            f"cannot find {per_type} distinct '{kind}' pairs (found {len(out)}); "
            "the dataset has too few examples of this kind"
        )
    return out


def choose_pairs(
    clean_labels: np.ndarray, train_labels: np.ndarray, flipped: np.ndarray, seed: int, per_type: int = 64
) -> Pairs:
    """The stratified pairs of a training set (labels: clean and trained-on; flipped: indices of noisy ones)."""
    clean = np.asarray(clean_labels, dtype=np.int64)
    train = np.asarray(train_labels, dtype=np.int64)
    if clean.shape != train.shape or clean.ndim != 1:
        raise ValueError(
            f"clean_labels and train_labels must be equal-length 1-D arrays, got {clean.shape}, {train.shape}"
        )
    is_flipped = np.zeros(clean.size, dtype=bool)
    is_flipped[np.asarray(flipped, dtype=np.int64)] = True
    if np.any(clean[is_flipped] == train[is_flipped]) or np.any(clean[~is_flipped] != train[~is_flipped]):
        raise ValueError("flipped must be exactly the indices where train_labels differ from clean_labels")
    rng = np.random.default_rng(seed)
    index, kind = [], []
    for k, name in enumerate(PAIR_TYPES):
        drawn = draw_type(name, per_type, clean, is_flipped, rng)
        index += drawn
        kind += [k] * len(drawn)
    return Pairs(np.array(index, dtype=np.int64).reshape(-1, 2), np.array(kind, dtype=np.int8))
