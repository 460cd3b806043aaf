"""Decision-region similarity (docs/algorithms.md §2.5): probe predictions on plane points and their agreement.

Two concerns, both sized for the paper's scale (1.25 M points per epoch and
layer, ~1000 epochs):

- `predict_planes`: one forward per batch of plane points serves every
  analysed layer (evaluating the planes once per layer would multiply the
  dominant cost by the number of layers, docs/cost-model.md, "DRS at paper scale").
- `agreement_counts`: the epoch × epoch agreement counts as a product of
  one-hot matrices. Each partial count is an integer no larger than the
  number of points in a chunk, so float32 GEMM is exact as long as a chunk
  has fewer than 2^24 points; chunks are accumulated in int64. A tile of
  the DRS matrix is the same call on two blocks of epochs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.config.integers import is_int
from repdyn.drs.planes import PlaneSet
from repdyn.drs.prefetch import prefetch
from repdyn.drs.probes.features import check_pooling, model_device, pool_output
from repdyn.drs.probes.linear import MAX_CLASSES, Probe, predict
from repdyn.models.taps import LayerTap

__all__ = ["EXACT_POINTS_LIMIT", "agreement_counts", "drs_block", "drs_matrix", "predict_planes"]

# float32 represents every integer up to 2^24 exactly, so one chunk's counts are exact below it.
EXACT_POINTS_LIMIT = 2**24
DEFAULT_CHUNK_BYTES = 256 * 2**20  # one-hot chunk memory of agreement_counts


def predict_planes(
    model: nn.Module,
    layers: list[str],
    probes: dict[str, Probe],
    plane_set: PlaneSet,
    batch_size: int,
    device: torch.device | str,
    pooling: str = "none",
    autocast_dtype: torch.dtype | None = None,
    memory_format: str = "channels_last",
) -> dict[str, np.ndarray]:
    """{layer: uint8 (P, R²)} probe predictions on every plane point (flat order plane-major, as PlaneSet).

    The model (already on `device`) runs in eval mode under inference_mode; its
    mode and parameter layout are restored afterwards. `pooling` must be the one
    the probes were trained with. `autocast_dtype` (e.g. torch.bfloat16) runs the
    network under torch.autocast on `device`; probe logits are always float32.
    `memory_format` ("channels_last", the faster one for convolutions on CPU and
    CUDA, or "contiguous") changes only the rounding of the convolutions, as a
    batch size does. Points of the next batch are generated on a background
    thread while the network runs on the current one.
    """
    check_pooling(pooling)
    device = model_device(model, device)
    layout = _memory_format(memory_format)
    missing = [name for name in layers if name not in probes]
    if missing:
        raise ValueError(f"probes are missing layers {missing}")
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(expected) != plane_set.image_shape:
        raise ValueError(f"plane images have shape {plane_set.image_shape} but the model expects {tuple(expected)}")
    on_device = {name: (probes[name][0].to(device), probes[name][1].to(device)) for name in layers}
    # Predictions stay on the device until the end: no per-batch synchronisation on CUDA.
    preds = torch.empty(len(layers), plane_set.num_points, dtype=torch.uint8, device=device)
    reordered: dict[str, torch.Tensor] = {}  # probe weights over channels-last (H, W, C)-ordered features
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), parameters_in(model, layout), LayerTap(model, list(layers), flatten=False) as tap:
            for flat, images in prefetch(plane_set.iter_flat(batch_size), pin=device.type == "cuda"):
                batch = images.to(device, non_blocking=True)
                with amp:
                    model(batch.contiguous(memory_format=layout) if batch.dim() == 4 else batch)
                for index, name in enumerate(layers):
                    w, b = on_device[name]
                    output = tap.outputs[name]
                    features = nhwc_features(output) if pooling == "none" else None
                    if features is None or features.shape[1] != w.shape[1]:  # (a wrong probe: predict says so)
                        features = pool_output(output, pooling)
                    else:  # the weight reordered once per layer instead of the features copied every batch
                        w = reordered.setdefault(name, nhwc_weight(w, tuple(output.shape[1:])))
                    preds[index, flat.start : flat.stop] = predict(w, b, features.float())
    finally:
        model.train(was_training)
    shape = (plane_set.num_planes, plane_set.points_per_plane)
    host = preds.cpu().numpy()
    return {name: host[index].reshape(shape) for index, name in enumerate(layers)}


def nhwc_features(output: torch.Tensor) -> torch.Tensor | None:
    """(n, H·W·C) view of a channels-last conv map (no copy); None for any other output."""
    if output.dim() == 4 and not output.is_contiguous() and output.is_contiguous(memory_format=torch.channels_last):
        return output.permute(0, 2, 3, 1).reshape(output.shape[0], -1)
    return None


def nhwc_weight(weight: torch.Tensor, chw: tuple[int, ...]) -> torch.Tensor:
    """A probe weight over (C, H, W)-ordered features, reordered for the same features in (H, W, C) order.

    The logits are the same sums in another order, so they agree to float32 rounding.
    """
    c, h, w = chw
    return weight.reshape(weight.shape[0], c, h, w).permute(0, 2, 3, 1).reshape(weight.shape[0], -1).contiguous()


MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def _memory_format(name: str) -> torch.memory_format:
    if name not in MEMORY_FORMATS:
        raise ValueError(f"memory_format {name!r} is unknown; allowed values: {', '.join(MEMORY_FORMATS)}")
    return MEMORY_FORMATS[name]


@contextlib.contextmanager
def parameters_in(model: nn.Module, layout: torch.memory_format) -> Iterator[None]:
    """The model's 4-D parameters (convolution kernels) in `layout` inside the block, as they were after it."""
    kept = {name: p.data for name, p in model.named_parameters() if p.dim() == 4}
    for name, p in model.named_parameters():
        if name in kept:
            p.data = p.data.contiguous(memory_format=layout)
    try:
        yield
    finally:
        for name, p in model.named_parameters():
            if name in kept:
                p.data = kept[name]


def _as_prediction_rows(q: Any, key: str, num_classes: int) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(q.cpu() if isinstance(q, torch.Tensor) else q))
    if t.dim() < 2 or t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"{key} must be an integer array (epochs, points...), got {t.dtype} {tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"{key} holds classes outside [0, {num_classes}): range [{int(t.min())}, {int(t.max())}]")
    return t


def _one_hot(q: torch.Tensor, num_classes: int, device: torch.device) -> torch.Tensor:
    """float32 (a, k·C) with a 1 at column i·C + q[:, i]."""
    a, k = q.shape
    cols = torch.arange(k, device=device) * num_classes + q.to(device=device, dtype=torch.int64)
    out = torch.zeros(a, k * num_classes, dtype=torch.float32, device=device)
    return out.scatter_(1, cols, 1.0)


def agreement_counts(
    Q_I: Any,
    Q_J: Any,
    num_classes: int,
    chunk_points: int | None = None,
    device: torch.device | str = "cpu",
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> np.ndarray:
    """int64 (a, b): number of points where row i of Q_I and row j of Q_J predict the same class.

    Q_I (a, N), Q_J (b, N) are integer predictions (uint8) over the same N
    points (trailing axes are flattened). Points are processed in chunks of
    k points: peak memory ≈ (a + b)·k·C·4 bytes of one-hot float32 (only a·k·C
    when Q_J is Q_I) plus the (a, b) accumulator. k defaults to the largest
    value whose one-hot chunks fit `max_chunk_bytes`, and never exceeds 2^24
    (where float32 counts would stop being exact).
    """
    if not is_int(num_classes) or not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be an integer in [1, {MAX_CLASSES}], got {num_classes!r}")
    same = Q_J is Q_I
    qi = _as_prediction_rows(Q_I, "Q_I", num_classes)
    qj = qi if same else _as_prediction_rows(Q_J, "Q_J", num_classes)
    if qi.shape[1] != qj.shape[1]:
        raise ValueError(f"Q_I and Q_J must cover the same points; got {qi.shape[1]} and {qj.shape[1]}")
    n = qi.shape[1]
    rows = qi.shape[0] + (0 if same else qj.shape[0])
    if chunk_points is None:
        chunk_points = max(1, min(EXACT_POINTS_LIMIT - 1, max_chunk_bytes // max(1, rows * num_classes * 4)))
    elif not is_int(chunk_points) or not 1 <= chunk_points < EXACT_POINTS_LIMIT:
        raise ValueError(f"chunk_points must be an integer in [1, 2^24) for exact float32 counts, got {chunk_points!r}")
    device = torch.device(device)
    counts = torch.zeros(qi.shape[0], qj.shape[0], dtype=torch.int64, device=device)
    for start in range(0, n, int(chunk_points)):
        a = _one_hot(qi[:, start : start + chunk_points], num_classes, device)
        b = a if same else _one_hot(qj[:, start : start + chunk_points], num_classes, device)
        # 0/1 inputs are exact in TF32 too, and CUDA accumulates float32 GEMMs in float32.
        counts += (a @ b.T).to(torch.int64)
        del a, b
    return counts.cpu().numpy()


def drs_block(Q_I: Any, Q_J: Any, num_classes: int, **kwargs: Any) -> np.ndarray:
    """float64 (a, b) DRS between two blocks of epochs: agreement counts / number of points (one tile)."""
    counts = agreement_counts(Q_I, Q_J, num_classes, **kwargs)
    n = int(np.prod(np.shape(Q_I)[1:]))
    if n == 0:
        raise ValueError("predictions cover no points")
    return counts.astype(np.float64) / n


def drs_matrix(preds: Any, num_classes: int, **kwargs: Any) -> np.ndarray:
    """float64 (E, E) DRS of one layer from its predictions (E, P·R²) (or (E, P, R²)): symmetric, unit diagonal."""
    return drs_block(preds, preds, num_classes, **kwargs)
