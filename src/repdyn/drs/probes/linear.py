"""Linear probes on frozen layer features (docs/algorithms.md §3): Adam, cross-entropy, all layers in one loop.

One pass over the cached features per probe epoch trains every layer's probe
(the features of a batch are read once for all layers). Everything random is
a documented function of the seed, so probes are reproducible:

- shuffling of probe epoch t: `shuffle_order(seed, t, N)`, shared by all layers;
- initial weights of layer number i (position in the cache's layer list):
  PyTorch's default nn.Linear initialisation (weights and bias uniform in
  ±1/√p) drawn on the CPU from `init_generator(seed, i)`, so CPU and CUDA
  start from identical probes.

The caller derives `seed` from (run seed, grid epoch).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from repdyn.config.integers import is_int, require_int
from repdyn.drs.probes.features import FeatureCache

__all__ = ["init_generator", "init_probe", "predict", "probe_error", "probe_errors", "shuffle_order", "train_probes"]

Probe = tuple[torch.Tensor, torch.Tensor]  # weight (C, p), bias (C,), float32

# spawn_key tags that keep the two random streams of one seed independent
_SHUFFLE_STREAM = 0
_INIT_STREAM = 1
MAX_CLASSES = 256  # predictions are stored as uint8


def shuffle_order(seed: int, probe_epoch: int, num_examples: int) -> np.ndarray:
    """Example order of one probe epoch:
    `default_rng(SeedSequence(seed, spawn_key=(0, probe_epoch))).permutation(num_examples)`."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(_SHUFFLE_STREAM, int(probe_epoch)))
    return np.random.default_rng(ss).permutation(num_examples)


def init_generator(seed: int, layer_index: int) -> torch.Generator:
    """CPU generator seeded with `SeedSequence(seed, spawn_key=(1, layer_index)).generate_state(1, uint64)[0]`."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(_INIT_STREAM, int(layer_index)))
    return torch.Generator().manual_seed(int(ss.generate_state(1, np.uint64)[0]))


def init_probe(in_features: int, num_classes: int, generator: torch.Generator) -> Probe:
    """nn.Linear(in_features, num_classes)'s default init, drawn from `generator` (weight first, then bias)."""
    weight = torch.empty(num_classes, in_features)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
    bias = torch.empty(num_classes).uniform_(-bound, bound, generator=generator)
    return weight, bias


def _check_labels(labels: Any, num_examples: int, num_classes: int) -> torch.Tensor:
    if not is_int(num_classes) or not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be an integer in [2, {MAX_CLASSES}], got {num_classes!r}")
    y = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    if y.dim() != 1 or y.shape[0] != num_examples or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(
            f"labels must be 1-D integers with one entry per cached example ({num_examples}); "
            f"got {y.dtype} {tuple(y.shape)}"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got range [{int(y.min())}, {int(y.max())}]")
    return y.to(torch.int64)


def train_probes(
    cache: FeatureCache,
    labels: Any,
    num_classes: int,
    epochs: int = 10,
    lr: float = 1e-4,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, Probe]:
    """Train one linear probe per cached layer; returns {layer: (weight (C, p), bias (C,))} as float32 CPU tensors.

    Adam (PyTorch defaults besides lr, no weight decay), mean cross-entropy,
    mini-batches in `shuffle_order(seed, t, N)` order (the last one may be
    smaller). Deterministic on the CPU: the same seed gives identical weights.
    """
    require_int("epochs", epochs)
    require_int("batch_size", batch_size)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    device = torch.device(device)
    y_all = _check_labels(labels, cache.num_examples, num_classes)
    params: dict[str, Probe] = {}
    for i, (name, p) in enumerate(cache.dims.items()):
        weight, bias = init_probe(p, int(num_classes), init_generator(seed, i))
        params[name] = (weight.to(device).requires_grad_(), bias.to(device).requires_grad_())
    optimizer = torch.optim.Adam([t for pair in params.values() for t in pair], lr=lr, weight_decay=0.0)
    for epoch in range(epochs):
        for idx, feats in cache.batches(shuffle_order(seed, epoch, cache.num_examples), batch_size):
            y = y_all[torch.from_numpy(idx)].to(device)
            # Summing the per-layer losses gives each probe exactly its own gradient
            # (the layers share no parameters) with one backward call.
            loss = sum(F.cross_entropy(F.linear(feats[n].to(device), w, b), y) for n, (w, b) in params.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return {name: (w.detach().cpu().clone(), b.detach().cpu().clone()) for name, (w, b) in params.items()}


def predict(weight: Any, bias: Any, features: Any) -> Any:
    """uint8 argmax of features @ weight.T + bias (float32); ties -> smallest class index.

    Returns a torch tensor on the features' device for torch input, numpy for
    numpy input. The tie rule is enforced explicitly (minimum index among the
    maximal logits) rather than relying on an argmax kernel's choice; a row
    with NaN logits predicts its first NaN position, as numpy's argmax does.
    """
    as_numpy = not isinstance(features, torch.Tensor)
    x = torch.as_tensor(features)
    w = torch.as_tensor(weight).to(device=x.device, dtype=torch.float32)
    b = torch.as_tensor(bias).to(device=x.device, dtype=torch.float32)
    if x.dim() != 2 or w.dim() != 2 or b.dim() != 1 or x.shape[1] != w.shape[1] or b.shape[0] != w.shape[0]:
        raise ValueError(
            f"predict needs features (n, p), weight (C, p), bias (C,); got {tuple(x.shape)}, "
            f"{tuple(w.shape)}, {tuple(b.shape)}"
        )
    if w.shape[0] > MAX_CLASSES:
        raise ValueError(f"{w.shape[0]} classes do not fit uint8 predictions (at most {MAX_CLASSES})")
    logits = F.linear(x.to(torch.float32), w, b)
    nan = torch.isnan(logits)
    is_max = torch.where(nan.any(dim=1, keepdim=True), nan, logits == logits.max(dim=1, keepdim=True).values)
    classes = torch.arange(logits.shape[1], device=logits.device).expand_as(logits)
    pred = torch.where(is_max, classes, logits.shape[1]).min(dim=1).values.to(torch.uint8)
    return pred.cpu().numpy() if as_numpy else pred


def probe_error(weight: Any, bias: Any, features: Any, labels: Any) -> float:
    """Fraction of rows of `features` whose predicted class differs from `labels`."""
    pred = torch.as_tensor(predict(weight, bias, features)).cpu().to(torch.int64)
    y = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels), dtype=torch.int64)
    if y.shape != pred.shape:
        raise ValueError(f"labels have shape {tuple(y.shape)}, features give {tuple(pred.shape)} predictions")
    return float((pred != y).double().mean()) if y.numel() else float("nan")


def probe_errors(
    probes: dict[str, Probe],
    cache: FeatureCache,
    labels: Any,
    batch_size: int = 1024,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Error rate of each layer's probe on all cached examples (train or test set), batch by batch."""
    missing = [name for name in cache.layers if name not in probes]
    if missing:
        raise ValueError(f"probes are missing layers {missing}")
    y_all = _check_labels(labels, cache.num_examples, probes[cache.layers[0]][0].shape[0])
    device = torch.device(device)
    on_device = {name: (w.to(device), b.to(device)) for name, (w, b) in probes.items() if name in cache.dims}
    wrong = dict.fromkeys(cache.layers, 0)
    for idx, feats in cache.batches(np.arange(cache.num_examples), batch_size):
        y = y_all[torch.from_numpy(idx)].to(device)
        for name, (w, b) in on_device.items():
            wrong[name] += int((predict(w, b, feats[name].to(device)).to(torch.int64) != y).sum())
    return {name: wrong[name] / cache.num_examples for name in cache.layers}
