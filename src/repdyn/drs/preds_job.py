"""planes_eval: every plane point through the network once per grid epoch, every layer's probe applied.

The dominant cost of DRS (docs/cost-model.md, "DRS at paper scale": 1.25 M forwards per epoch at the paper's P = 500,
R = 50), so one forward per batch of points serves all layers (repdyn.drs.agreement.predict_planes) and points
are generated on the fly from the stored plane bases. Predicted classes are stored as uint8.

The batch size is not part of any id: different batch compositions may flip a prediction only where
two logits tie to float32 rounding.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import torch

from repdyn.drs.agreement import predict_planes
from repdyn.drs.store import (
    PREDS_STORE,
    ProbePart,
    create_preds_store,
    read_planes,
)
from repdyn.storage import atomic, zarr_store

log = logging.getLogger(__name__)


PRECISIONS = {"float32": None, "bf16": torch.bfloat16}  # drs.precision -> autocast dtype (None: plain float32)


def autocast_dtype_of(precision: str) -> torch.dtype | None:
    """The torch.autocast dtype of a `drs.precision` value (None for float32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"drs.precision {precision!r} is unknown; allowed values: {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def preds_part(
    run: Mapping[str, Any],
    dataset_path: str | os.PathLike,
    checkpoints: Mapping[int, str | os.PathLike],
    probe_dir: str | os.PathLike,
    planes_store: str | os.PathLike,
    out_dir: str | os.PathLike,
    ids: Mapping[str, str],
    batch_size: int,
    device: str = "cpu",
    precision: str = "float32",
) -> None:
    """Write `out_dir/preds.zarr` for the given {epoch: checkpoint path}, atomically (whole directory).

    `probe_dir` is the probe part holding these epochs' probes, `planes_store` the plane set's store,
    `precision` the network's arithmetic on plane points (`drs.precision`: float32 or bf16).
    """
    from repdyn.data import DatasetArtifact
    from repdyn.machine.devices import resolve_device
    from repdyn.train import load_checkpoint_model

    if not checkpoints:
        raise ValueError("preds_part needs at least one {epoch: checkpoint path}")
    autocast_dtype = autocast_dtype_of(precision)
    dev = resolve_device(device)
    dataset = DatasetArtifact.load(dataset_path)
    probes = ProbePart(probe_dir)
    missing = [e for e in checkpoints if e not in probes.epochs]
    if missing:
        raise ValueError(f"{probes.path} has no probes for epochs {missing} (it holds {probes.epochs})")
    plane_set = read_planes(planes_store)
    epochs = sorted(checkpoints)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        group = create_preds_store(
            tmp / PREDS_STORE,
            epochs,
            probes.layers,
            plane_set,
            {
                **dict(ids),
                "layer_labels": dict(probes.group.attrs["layer_labels"]),
                "num_classes": probes.num_classes,
                "pooling": probes.pooling,
                "device": str(dev),
                "torch": torch.__version__,
                "precision": precision,
            },
        )
        for position, epoch in enumerate(epochs):
            started = time.perf_counter()
            model = load_checkpoint_model(checkpoints[epoch], run, dataset, device=str(dev))
            preds = predict_planes(
                model,
                probes.layers,
                probes.probes(epoch),
                plane_set,
                batch_size,
                dev,
                pooling=probes.pooling,
                autocast_dtype=autocast_dtype,
            )
            for index, layer in enumerate(probes.layers):
                group["preds"][position, index] = preds[layer]
            seconds = time.perf_counter() - started
            log.info(
                "epoch %d: %d points in %.1f s (%.0f points/s)",
                epoch,
                plane_set.num_points,
                seconds,
                plane_set.num_points / max(seconds, 1e-9),
            )
        zarr_store.consolidate(tmp / PREDS_STORE)
