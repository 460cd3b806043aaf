"""extract_segment: probe-set Grams of every analysed layer at every grid epoch of one training segment.

One forward pass of the fixed probe set per epoch (eval mode, no augmentation) serves every layer; per
(epoch, layer, batch) only the Gram of the batch-centred features is kept, which every estimator derives
from (docs/algorithms.md §1.5). Raw activations are kept only for small layers. With recorded pairs, the
same loaded checkpoint also forwards the pairs' training images as one more small batch
(repdyn.extract.twopoint_store: twopoint.zarr beside grams.zarr).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from repdyn.cka.grams import centred_gram, pack_upper
from repdyn.extract.grams_store import GRAMS_STORE, create_grams_store, write_epoch
from repdyn.extract.twopoint_store import TWOPOINT_STORE, forward_pairs, pair_inputs, write_store
from repdyn.storage import atomic, zarr_store
from repdyn.twopoint.record import PairRecord
from repdyn.twopoint.series import stack_epochs

log = logging.getLogger(__name__)


@contextlib.contextmanager
def float32_precision(tf32_convolutions: bool) -> Iterator[None]:
    """IEEE float32 matmuls always (Grams); TF32 convolutions only when asked. Restores the settings."""
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    before = (conv.fp32_precision, matmul.fp32_precision)
    conv.fp32_precision = "tf32" if tf32_convolutions else "ieee"
    matmul.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision, matmul.fp32_precision = before


# The probe forward's layout on CPUs, measured with bench/extract.py (pre-activation ResNet-18, 2048 probe
# images, 2 threads; channels-last in chunks of 64 against contiguous batches of 512): width 2: 0.53x,
# width 4: 0.81x, width 8: 1.79x, width 16: 1.82x. Channels-last pays once every convolution has at least
# this many output channels. A function of the architecture, so one config always runs one layout (its float32
# rounding differs from the other's by about 5e-7 of a Gram's largest entry). CUDA stays contiguous (not
# measured there).
CHANNELS_LAST_MIN_CHANNELS = 8
# Images per channels-last forward pass on a CPU: small chunks keep the convolutions' data in cache (width 8:
# 0.53 s per 2048 images in chunks of 64, 0.63 s in batches of 512). Eval mode makes every image's features
# independent of its chunk.
CPU_FORWARD_CHUNK = 64


def forward_layout(model: torch.nn.Module, device: torch.device) -> torch.memory_format:
    """Channels-last on a CPU when every convolution of `model` is wide enough to gain from it."""
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if device.type == "cpu" and widths and min(widths) >= CHANNELS_LAST_MIN_CHANNELS:
        return torch.channels_last
    return torch.contiguous_format


def forward_chunk(layout: torch.memory_format, device: torch.device, batch_size: int) -> int:
    """Images per forward pass: CPU_FORWARD_CHUNK for a channels-last CPU forward, else the whole batch."""
    if layout == torch.channels_last and device.type == "cpu":
        return min(CPU_FORWARD_CHUNK, batch_size)
    return batch_size


def feature_rows(output: torch.Tensor) -> torch.Tensor:
    """(n, p) rows of a layer's output in its memory order: a channels-last map flattens as (H, W, C)
    without a copy. A Gram does not depend on the order of the features; raw activations use `nchw_rows`."""
    if output.dim() == 4 and not output.is_contiguous() and output.is_contiguous(memory_format=torch.channels_last):
        output = output.permute(0, 2, 3, 1)
    return output.reshape(output.shape[0], -1)


def nchw_rows(output: torch.Tensor) -> torch.Tensor:
    """(n, p) rows of a layer's output in the documented row-major (C, H, W) / (T, D) order."""
    return output.contiguous().reshape(output.shape[0], -1)


def forward_batch(
    model: torch.nn.Module, tap, images: torch.Tensor, layout: torch.memory_format, chunk: int
) -> dict[str, torch.Tensor]:
    """Per tapped layer, the unflattened float32 outputs of `images` forwarded `chunk` at a time."""
    pieces: dict[str, list[torch.Tensor]] = {layer: [] for layer in tap.names}
    for part in images.split(chunk):
        model(part.contiguous(memory_format=layout) if part.dim() == 4 else part)
        for layer, output in tap.outputs.items():
            pieces[layer].append(output.float())
    # torch.cat keeps channels-last chunks channels-last, so feature_rows still needs no copy
    return {layer: parts[0] if len(parts) == 1 else torch.cat(parts) for layer, parts in pieces.items()}


def probe_grams(
    model: torch.nn.Module,
    probe_images: torch.Tensor,
    normalize,
    layers: Sequence[str],
    device: torch.device,
    *,
    full_gram: bool = False,
    raw_max_features: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Per layer: "grams" (B, n(n+1)/2) float32, and "full" (N(N+1)/2,) / "raw" (N, p) when asked.

    `probe_images` is (B, n, C, H, W), uint8 with its `normalize`, or already normalised on `device` with
    `normalize` None (what extraction passes: normalised once per job); batches are forwarded one at a time,
    in `forward_layout`.
    """
    from repdyn.models import LayerTap

    model.eval()
    layout = forward_layout(model, device)
    model.to(memory_format=layout)
    batches, batch_size = probe_images.shape[0], probe_images.shape[1]
    chunk = forward_chunk(layout, device, batch_size)
    grams: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    kept: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with torch.no_grad(), LayerTap(model, list(layers), flatten=False) as tap:
        for b in range(batches):
            images = probe_images[b].to(device)
            outputs = forward_batch(model, tap, images if normalize is None else normalize(images), layout, chunk)
            for layer in layers:
                packed = pack_upper(centred_gram(feature_rows(outputs[layer])))
                if not torch.isfinite(packed).all():
                    raise ValueError(f"layer {layer}, probe batch {b}: activations contain NaN or inf")
                grams[layer].append(packed.float().cpu().numpy())
                if full_gram or outputs[layer][0].numel() <= raw_max_features:
                    kept[layer].append(nchw_rows(outputs[layer]).cpu())
    out: dict[str, dict[str, np.ndarray]] = {}
    for layer in layers:
        entry = {"grams": np.stack(grams[layer])}
        if kept[layer]:
            everything = torch.cat(kept[layer])
            if everything.shape[1] <= raw_max_features:
                entry["raw"] = everything.numpy()
            if full_gram:
                entry["full"] = pack_upper(centred_gram(everything)).float().numpy()
        out[layer] = entry
    return out


def extract_part(
    run: Mapping[str, Any],
    dataset_path: str | os.PathLike,
    checkpoints: Mapping[int, str | os.PathLike],
    out_dir: str | os.PathLike,
    settings: Mapping[str, Any],
    ids: Mapping[str, str],
    device: str = "cpu",
    pairs: PairRecord | None = None,
) -> None:
    """Write `out_dir/grams.zarr` for the given {epoch: checkpoint path}, and `out_dir/twopoint.zarr` of the
    `pairs` when given, atomically (whole directory)."""
    from repdyn.data import DatasetArtifact
    from repdyn.machine.devices import resolve_device
    from repdyn.models.registry import run_layer_labels
    from repdyn.train import load_checkpoint_model
    from repdyn.train.checkpoints import load_checkpoint

    dev = resolve_device(device)
    dataset = DatasetArtifact.load(dataset_path)
    probe = dataset.probe_images()
    normalised = torch.stack([dataset.normalize(batch.to(dev)) for batch in probe])  # once, not per epoch
    epochs = sorted(checkpoints)
    layer_labels = run_layer_labels(run["model"])
    pair_batch = pair_inputs(dataset, pairs) if pairs is not None else None
    observed = []
    with float32_precision(settings["tf32"]), atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        arrays = None
        model = None
        for position, epoch in enumerate(epochs):
            started = time.perf_counter()
            if model is None:  # the network is built once; later epochs only load their weights into it
                model = load_checkpoint_model(checkpoints[epoch], run, dataset, device=str(dev))
            else:
                model.load_state_dict(load_checkpoint(checkpoints[epoch])["model"])
            layers = model.analysed_layers
            result = probe_grams(
                model,
                normalised,
                None,
                layers,
                dev,
                full_gram=settings["full_gram"],
                raw_max_features=settings["raw_max_features"],
            )
            if arrays is None:
                attrs = {**dict(ids), "settings": dict(settings), "device": str(dev), "torch": torch.__version__}
                arrays = create_grams_store(
                    tmp / GRAMS_STORE, epochs, layers, layer_labels, result, dataset.probe_index.numpy(), attrs
                )
            write_epoch(arrays, position, result)
            if pair_batch is not None:
                images, labels, local, _ = pair_batch
                observed.append(forward_pairs(model, images, labels, local, layers, dev, chunk=int(probe.shape[1])))
            log.info("epoch %d: %d layers in %.1f s", epoch, len(layers), time.perf_counter() - started)
        zarr_store.consolidate(tmp / GRAMS_STORE)
        if pairs is not None:
            series = stack_epochs(epochs, observed, layers, pairs.pairs.index, pairs.pairs.kind, pair_batch[3])
            write_store(
                tmp / TWOPOINT_STORE, series, pairs, {**dict(ids), "device": str(dev), "torch": torch.__version__}
            )
