"""Per-epoch pair observables as labelled arrays (pair, layer, epoch): what a run's two-point analysis reads.

The pairs' examples are forwarded as one small batch per checkpoint (`pair_batch` gives its rows); for each
epoch `epoch_observables` reduces that batch's features and logits to H per layer, Y and W_CE per pair, and
`stack_epochs` labels the epochs into a PairSeries. ‖dx‖² is a constant of the pair (normalised inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .observables import ce_alignment, squared_distance

if TYPE_CHECKING:
    import torch

    Activations = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class PairSeries:
    epochs: np.ndarray  # (E,) int64
    layers: tuple[str, ...]  # (L,)
    pairs: np.ndarray  # (P, 2) training-set indices
    kind: np.ndarray  # (P,) pair type codes (pairs.PAIR_TYPES)
    H: np.ndarray  # (P, L, E) ‖dh‖² per layer
    Y: np.ndarray  # (P, E) ‖dz‖² on the logits
    W_ce: np.ndarray  # (P, E) ⟨dz, g_j − g_i⟩
    dx2: np.ndarray  # (P,) ‖dx‖² of the network's (normalised) inputs

    def layer(self, name: str) -> np.ndarray:
        """(P, E) H of one layer."""
        return self.H[:, self.layers.index(name)]


def pair_batch(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, local): the sorted distinct training indices to forward, and the pairs as indices into them."""
    pairs = np.asarray(pairs, dtype=np.int64)
    rows, local = np.unique(pairs, return_inverse=True)
    return rows, local.reshape(pairs.shape)


def epoch_observables(
    features: Mapping[str, Activations], logits: Activations, labels: np.ndarray, local_pairs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch's (H (P, L) in the order of `features`, Y (P,), W_CE (P,)) from the pair batch's activations."""
    H = np.stack([squared_distance(f, local_pairs) for f in features.values()], axis=1)
    return H, squared_distance(logits, local_pairs), ce_alignment(logits, labels, local_pairs)


def stack_epochs(
    epochs: Sequence[int],
    per_epoch: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    layers: Sequence[str],
    pairs: np.ndarray,
    kind: np.ndarray,
    dx2: np.ndarray,
) -> PairSeries:
    """Label a run's per-epoch `epoch_observables` results (epochs strictly increasing) as a PairSeries."""
    epochs = np.asarray(epochs, dtype=np.int64)
    if len(per_epoch) != epochs.size or np.any(np.diff(epochs) <= 0):
        raise ValueError(
            f"need one result per epoch and strictly increasing epochs, got {len(per_epoch)} results "
            f"for epochs {epochs.tolist()}"
        )
    return PairSeries(
        epochs=epochs,
        layers=tuple(layers),
        pairs=np.asarray(pairs, dtype=np.int64),
        kind=np.asarray(kind),
        H=np.stack([r[0] for r in per_epoch], axis=-1),
        Y=np.stack([r[1] for r in per_epoch], axis=-1),
        W_ce=np.stack([r[2] for r in per_epoch], axis=-1),
        dx2=np.asarray(dx2, dtype=np.float64),
    )


def concat_epochs(parts: Sequence[PairSeries]) -> PairSeries:
    """One series from consecutive segments' series (same pairs and layers; epochs ascending across parts)."""
    first = parts[0]
    for p in parts[1:]:
        if p.layers != first.layers or not np.array_equal(p.pairs, first.pairs):
            raise ValueError("segments to concatenate must have the same layers and pairs")
    epochs = np.concatenate([p.epochs for p in parts])
    if np.any(np.diff(epochs) <= 0):
        raise ValueError(f"segments' epochs must ascend without overlap, got {epochs.tolist()}")
    return PairSeries(
        epochs,
        first.layers,
        first.pairs,
        first.kind,
        np.concatenate([p.H for p in parts], axis=-1),
        np.concatenate([p.Y for p in parts], axis=-1),
        np.concatenate([p.W_ce for p in parts], axis=-1),
        first.dx2,
    )
