"""Independent float64 oracles of the CKA estimators (formulas of docs/algorithms.md §1.1-1.3) and synthetic
representations with a known relation, shared by the CKA tests."""

from __future__ import annotations

import math

import numpy as np


def related_representations(rng: np.random.Generator, n: int, dims=(12, 30, 7, 20)) -> list[np.ndarray]:
    """Representations of the same n examples that share structure (so CKA values are far from 0 and 1)."""
    latent = rng.standard_normal((n, 6))
    return [
        np.tanh(latent @ rng.standard_normal((6, p)) + 0.7 * rng.standard_normal((n, p))) + rng.uniform(-2, 2, p)
        for p in dims
    ]


def hsic1_three_term(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. unbiased HSIC, term by term, float64."""
    n = k.shape[0]
    k, l = k.astype(np.float64).copy(), l.astype(np.float64).copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    value = (
        np.trace(k @ l)
        + (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * (ones @ k @ l @ ones)
    )
    return value / (n * (n - 3))


def hsic0_trace(k: np.ndarray, l: np.ndarray) -> float:
    """Biased HSIC tr(KHLH)/(n-1)², float64."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def flat64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)


def batches(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def minibatch_oracle(x, y, size: int, hsic) -> float:
    """Σ_b HSIC(K_b, L_b) / √(Σ_b HSIC(K_b, K_b) Σ_b HSIC(L_b, L_b)) on uncentred Grams."""
    x, y = flat64(x), flat64(y)
    kl = kk = ll = 0.0
    for part in batches(len(x), size):
        k, l = x[part] @ x[part].T, y[part] @ y[part].T
        kl, kk, ll = kl + hsic(k, l), kk + hsic(k, k), ll + hsic(l, l)
    return kl / math.sqrt(kk * ll)


def cka_mean_oracle(x, y, size: int) -> float:
    x, y = flat64(x), flat64(y)
    values = []
    for part in batches(len(x), size):
        k, l = x[part] @ x[part].T, y[part] @ y[part].T
        values.append(hsic1_three_term(k, l) / math.sqrt(hsic1_three_term(k, k) * hsic1_three_term(l, l)))
    return float(np.mean(values))


def kornblith(x, y) -> float:
    """Feature-space biased CKA ‖ȲᵀX̄‖² / (‖X̄ᵀX̄‖ ‖ȲᵀȲ‖), float64."""
    x, y = flat64(x), flat64(y)
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def oracle(x, y, estimator: str, size: int) -> float:
    if estimator == "minibatch_unbiased":
        return minibatch_oracle(x, y, size, hsic1_three_term)
    if estimator == "minibatch_biased":
        return minibatch_oracle(x, y, size, hsic0_trace)
    if estimator == "minibatch_unbiased_cka_mean":
        return cka_mean_oracle(x, y, size)
    return kornblith(x, y)
