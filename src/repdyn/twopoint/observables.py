"""The two-point observables of pairs of examples, from activations or from stored Grams.

For a pair (i, j): H = ‖h_j − h_i‖² (any layer, flattened), Y = ‖y_j − y_i‖² (outputs or logits), MSE
alignment W = ⟨dy, dy − dy*⟩, cross-entropy alignment W_CE = ⟨dz, g_j − g_i⟩ with g = softmax(z) − onehot(t),
and ‖dx‖² of the inputs. Differences are taken in float64. H only needs inner products, so it can also be
read from a Gram G of the features: H = G_ii + G_jj − 2 G_ij, unchanged by centring the features over the
batch (a common shift cancels in h_j − h_i), hence equal on the batch-centred Grams the CKA extraction stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from repdyn.machine.tensors import is_tensor

if TYPE_CHECKING:
    import torch


def rows64(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """(n, ...) activations as a float64 (n, p) numpy array."""
    if is_tensor(x):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def check_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """(P, 2) int64 pair indices into n rows."""
    pairs = np.asarray(pairs, dtype=np.int64)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {pairs.shape}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"pair indices must lie in 0..{n - 1}")
    return pairs


def pair_differences(x: np.ndarray | torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    """(P, p) differences x[j] − x[i] of every pair (i, j)."""
    rows = rows64(x)
    pairs = check_pairs(pairs, rows.shape[0])
    return rows[pairs[:, 1]] - rows[pairs[:, 0]]


def squared_distance(x: np.ndarray | torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    """(P,) ‖x_j − x_i‖²: H for hidden features, Y for outputs or logits, ‖dx‖² for inputs."""
    return np.sum(pair_differences(x, pairs) ** 2, axis=1)


def mse_alignment(
    outputs: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor, pairs: np.ndarray
) -> np.ndarray:
    """(P,) W = ⟨dy, dy − dy*⟩ of outputs y and regression targets y*."""
    dy = pair_differences(outputs, pairs)
    return np.sum(dy * (dy - pair_differences(targets, pairs)), axis=1)


def softmax_residual(logits: np.ndarray | torch.Tensor, labels: np.ndarray) -> np.ndarray:
    """(n, C) g = softmax(z) − onehot(t): the cross-entropy gradient with respect to the logits."""
    z = rows64(logits)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (z.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) >= z.shape[1]:
        raise ValueError(f"labels must be {z.shape[0]} integers in 0..{z.shape[1] - 1}")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(z.shape[0]), labels] -= 1.0
    return p


def ce_alignment(logits: np.ndarray | torch.Tensor, labels: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(P,) W_CE = ⟨dz, g_j − g_i⟩, labels the ones trained on (the noisy label of a flipped example)."""
    return np.sum(pair_differences(logits, pairs) * pair_differences(softmax_residual(logits, labels), pairs), axis=1)


def distance_from_gram(gram: np.ndarray | torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    """(P,) H = G_ii + G_jj − 2 G_ij from an (n, n) Gram of the rows (centred over the batch or not)."""
    g = rows64(gram)
    pairs = check_pairs(pairs, g.shape[0])
    i, j = pairs[:, 0], pairs[:, 1]
    return g[i, i] + g[j, j] - 2.0 * g[i, j]


def distance_from_packed_gram(packed: np.ndarray | torch.Tensor, n: int, pairs: np.ndarray) -> np.ndarray:
    """(P,) H from a packed upper-triangle Gram of n rows, the form the CKA extraction stores per batch."""
    import torch

    from repdyn.cka.grams import unpack_upper

    return distance_from_gram(unpack_upper(torch.as_tensor(packed), n), pairs)
