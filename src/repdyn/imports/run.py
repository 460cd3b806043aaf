"""The training stage of an imported run: each job reads the checkpoints of its epochs, checks them against
the digests in the run's id, stores the grid epochs' weights as repdyn checkpoints and evaluates every one.

Same directory layout as a trained segment (repdyn.train.segment), written atomically, so extraction,
probes, planes and the metrics rule read an imported run as they read a trained one. No state.pt: an
imported run is never resumed. The metrics are those of an eval-mode pass over the training set (the
trained-on, possibly noisy, labels) and the test set; run_loss/run_err are NaN (no running averages).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from repdyn.imports.content import sha256_file
from repdyn.imports.external import check_outputs, state_dict_from
from repdyn.imports.files import checkpoint_file
from repdyn.machine.devices import resolve_device
from repdyn.storage.atomic import atomic_path, write_json
from repdyn.train import loop
from repdyn.train.checkpoints import (
    CHECKPOINT_DIR,
    METRICS_FILE,
    SEGMENT_FILE,
    build_model,
    checkpoint_name,
    save_checkpoint,
)
from repdyn.train.metrics import write_metrics

log = logging.getLogger(__name__)

# Only eval_train and precision matter to loop.epoch_metrics; the rest is never used for an imported run.
EVAL_SETTINGS = loop.TrainSettings(
    seed=0, batch_size=2, optimizer={}, crop_padding=0, hflip=False, precision="fp32", eval_train=True
)


def epochs_in(run: Mapping[str, Any], start: int, end: int) -> list[int]:
    """The imported files' epochs in the part (start, end], or [0] for the init part (start = end = 0)."""
    files = sorted(int(e) for e in run["train"]["files"])
    return [e for e in files if (start < e <= end) or (start == end == e)]


def load_imported(run: Mapping[str, Any], source: Mapping[str, Any], epoch: int, dataset: Any) -> torch.nn.Module:
    """The network of `epoch`, its file checked against the digest the run's id was computed from."""
    path = checkpoint_file(source["checkpoints"], epoch)
    expected = run["train"]["files"][str(epoch)]
    if not path.is_file():
        raise FileNotFoundError(f"train.checkpoints: {path} (epoch {epoch}) does not exist")
    if sha256_file(path) != expected:
        raise ValueError(
            f"train.checkpoints: {path} (epoch {epoch}) changed since the run was planned "
            "(rerun snakemake: the new content gets a new id)"
        )
    state = state_dict_from(path, run["train"]["state_dict_key"])
    with torch.random.fork_rng(devices=[]):
        model = build_model(run, dataset)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"train.checkpoints: {path} does not fit model.factory's network ({str(exc).splitlines()[0]})"
        ) from None
    return model


def import_part(
    run: Mapping[str, Any],
    dataset_path: str | os.PathLike,
    source: Mapping[str, Any],
    start: int,
    end: int,
    checkpoint_epochs: Sequence[int],
    out_dir: str | os.PathLike,
    device: str = "cpu",
) -> None:
    """Write `out_dir` (checkpoints/, metrics.tsv, segment.json) for the imported epochs of (start, end]."""
    from repdyn.data import DatasetArtifact

    dev = resolve_device(device)
    dataset = DatasetArtifact.load(dataset_path)
    data = loop.DeviceData.from_artifact(dataset, dev)
    epochs = epochs_in(run, start, end)
    began = time.perf_counter()
    with atomic_path(out_dir) as tmp:
        (tmp / CHECKPOINT_DIR).mkdir(parents=True)
        rows = []
        for epoch in epochs:
            started = time.perf_counter()
            model = load_imported(run, source, epoch, dataset).to(dev).eval()
            if epoch == 0:
                check_outputs(model, model.analysed_layers, dev)
            rows.append(
                {
                    "epoch": epoch,
                    **loop.epoch_metrics(model, data, EVAL_SETTINGS, running=None),
                    "wall_s": time.perf_counter() - started,
                }
            )
            log.info("epoch %d: train_err %.4f  test_err %.4f", epoch, rows[-1]["train_err"], rows[-1]["test_err"])
            if epoch in checkpoint_epochs:
                save_checkpoint(tmp / CHECKPOINT_DIR / checkpoint_name(epoch), model, epoch)
        write_metrics(tmp / METRICS_FILE, rows)
        write_json(
            tmp / SEGMENT_FILE,
            {
                "start": start,
                "end": end,
                "imported_epochs": epochs,
                "checkpoint_epochs": sorted(checkpoint_epochs),
                "wall_seconds": time.perf_counter() - began,
                "device": str(dev),
                "torch_version": torch.__version__,
            },
        )
