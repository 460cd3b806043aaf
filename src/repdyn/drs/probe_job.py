"""probe_segment: one linear probe per analysed layer at every DRS-grid epoch of a segment (docs/algorithms.md §3).

Per epoch, one eval-mode forward of the training set (no augmentation) fills a feature cache that
serves every layer and every probe epoch; the cache lives in RAM up to the memory budget and in
scratch files (under TMPDIR) beyond it, with identical probes either way. The probes' test error is
measured on the artifact's eval test subset, after the training-set cache is freed, so peak memory is
the larger of the two caches, never their sum.

Seeds: the probes of grid epoch e are trained with
    probe_seed(probe.seed, train.seed, e) = SeedSequence([probe.seed, train.seed, e]).generate_state(1)[0]
(a uint32), which repdyn.drs.probes.train_probes turns into its shuffling and initialisation streams.
Probes of different epochs and runs are thus independent draws, and any one is reproducible alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from repdyn.config.probe_schedule import probe_passes
from repdyn.drs.probes import FeatureCache, predict, probe_errors, train_probes
from repdyn.drs.store import PROBES_STORE, create_probe_store
from repdyn.storage import atomic, zarr_store

log = logging.getLogger(__name__)

PROBE_LABELS = ("train", "clean")
FORWARD_BATCH = 256  # images per forward when filling a feature cache (fixed: results must not depend on it)
UNDERFIT_MARGIN = 0.1  # how far the output layer's probe may trail the network (converged probes: up to 0.06)


def probe_seed(seed: int, run_seed: int, epoch: int) -> int:
    """The seed of grid epoch `epoch`'s probes (see the module docstring)."""
    return int(np.random.SeedSequence([int(seed), int(run_seed), int(epoch)]).generate_state(1)[0])


def probe_label_source(dataset: Any, which: str) -> torch.Tensor:
    """The probes' training labels: those the network was trained on (noisy) or the clean ones."""
    if which not in PROBE_LABELS:
        raise ValueError(f"probe.labels {which!r} is unknown; allowed values: {', '.join(PROBE_LABELS)}")
    return dataset.train_labels if which == "train" else dataset.clean_labels


def network_error(cache: FeatureCache, labels: torch.Tensor, device: torch.device | str = "cpu") -> float:
    """Error of the network itself on the cached examples: the identity map as a probe of its output layer
    (the last cached layer, which must hold the class logits)."""
    output = cache.layers[-1]
    classes = cache.dims[output]
    wrong = 0
    for idx, feats in cache.batches(np.arange(cache.num_examples), FORWARD_BATCH):
        network = predict(torch.eye(classes), torch.zeros(classes), feats[output].to(device)).to(torch.int64).cpu()
        wrong += int((network != labels[torch.from_numpy(idx)].to(torch.int64)).sum())
    return wrong / cache.num_examples


def warn_if_output_probe_underfits(
    cache: FeatureCache, test_err: Mapping[str, float], labels: torch.Tensor, num_classes: int, device: torch.device
) -> None:
    """Log a warning when the output layer's probe is clearly worse than the network itself.

    The identity map is a linear probe of the logits that reproduces the network's predictions, so a
    logits probe with a higher test error than the network's (beyond UNDERFIT_MARGIN) has not been trained
    long enough: raise probe.min_steps or probe.lr.
    """
    output = cache.layers[-1]
    if cache.num_examples == 0 or cache.dims[output] != num_classes:
        return  # no examples, or the output is not the logits (pooled or truncated)
    network_err = network_error(cache, labels, device)
    if test_err[output] > network_err + UNDERFIT_MARGIN:
        log.warning(
            "the %s probe's test error %.3f exceeds the network's own %.3f by more than %.2f: the probes "
            "are under-trained (raise probe.min_steps or probe.lr)",
            output,
            test_err[output],
            network_err,
            UNDERFIT_MARGIN,
        )


def epoch_probes(
    model: torch.nn.Module,
    dataset: Any,
    labels: torch.Tensor,
    settings: Mapping[str, Any],
    seed: int,
    memory_budget_bytes: int | None,
    device: torch.device,
    scratch_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Probes of one network: {"probes", "train_err", "test_err" ({layer: float}), "dims", "cache_mode",
    "probe_epochs" (passes run: repdyn.config.probe_schedule.probe_passes)}."""
    layers = list(model.analysed_layers)
    build = {
        "normalize": dataset.normalize,
        "batch_size": FORWARD_BATCH,
        "memory_budget_bytes": memory_budget_bytes,
        "device": device,
        "pooling": settings["pooling"],
        "scratch_dir": scratch_dir,
    }
    with FeatureCache.build(model, layers, dataset.train_images, **build) as cache:
        epochs = probe_passes(settings, cache.num_examples)
        probes = train_probes(
            cache,
            labels,
            dataset.num_classes,
            epochs=epochs,
            lr=settings["lr"],
            batch_size=settings["batch_size"],
            seed=seed,
            device=device,
        )
        train_err = probe_errors(probes, cache, labels, device=device)
        dims, mode = dict(cache.dims), cache.mode
    with FeatureCache.build(model, layers, dataset.eval_images(), **build) as cache:
        test_err = probe_errors(probes, cache, dataset.eval_labels(), device=device)
        warn_if_output_probe_underfits(cache, test_err, dataset.eval_labels(), dataset.num_classes, device)
    return {
        "probes": probes,
        "train_err": train_err,
        "test_err": test_err,
        "dims": dims,
        "cache_mode": mode,
        "probe_epochs": epochs,
    }


def probe_part(
    run: Mapping[str, Any],
    dataset_path: str | os.PathLike,
    checkpoints: Mapping[int, str | os.PathLike],
    out_dir: str | os.PathLike,
    settings: Mapping[str, Any],
    ids: Mapping[str, str],
    memory_budget_bytes: int | None,
    device: str = "cpu",
    scratch_dir: str | os.PathLike | None = None,
) -> None:
    """Write `out_dir/probes.zarr` for the given {epoch: checkpoint path}, atomically (whole directory)."""
    from repdyn.data import DatasetArtifact
    from repdyn.machine.devices import resolve_device
    from repdyn.models.registry import run_layer_labels
    from repdyn.train import load_checkpoint_model

    if not checkpoints:
        raise ValueError("probe_part needs at least one {epoch: checkpoint path}")
    dev = resolve_device(device)
    dataset = DatasetArtifact.load(dataset_path)
    labels = probe_label_source(dataset, settings["labels"])
    epochs = sorted(checkpoints)
    with atomic.atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        group, modes = None, {}
        for position, epoch in enumerate(epochs):
            started = time.perf_counter()
            model = load_checkpoint_model(checkpoints[epoch], run, dataset, device=str(dev))
            seed = probe_seed(settings["seed"], run["train"]["seed"], epoch)
            result = epoch_probes(model, dataset, labels, settings, seed, memory_budget_bytes, dev, scratch_dir)
            if group is None:
                group = create_probe_store(
                    tmp / PROBES_STORE,
                    epochs,
                    result["dims"],
                    dataset.num_classes,
                    {
                        **dict(ids),
                        "layer_labels": run_layer_labels(run["model"]),
                        "settings": dict(settings),
                        "pooling": settings["pooling"],
                        "labels": settings["labels"],
                        "device": str(dev),
                        "torch": torch.__version__,
                        "train_examples": int(dataset.train_images.shape[0]),
                        "test_examples": int(dataset.eval_index.shape[0]),
                        "probe_epochs": result["probe_epochs"],
                        "seed_rule": "SeedSequence([probe.seed, train.seed, epoch]).generate_state(1)[0]",
                    },
                )
            for layer, (weight, bias) in result["probes"].items():
                group[f"weight/{layer}"][position] = weight.numpy()
                group[f"bias/{layer}"][position] = bias.numpy()
            layers = list(result["dims"])
            group["train_err"][position] = [result["train_err"][layer] for layer in layers]
            group["test_err"][position] = [result["test_err"][layer] for layer in layers]
            group["seed"][position] = seed
            modes[str(epoch)] = result["cache_mode"]
            log.info(
                "epoch %d: probes of %d layers (%s cache) in %.1f s; test error %s",
                epoch,
                len(layers),
                result["cache_mode"],
                time.perf_counter() - started,
                ", ".join(f"{layer} {result['test_err'][layer]:.3f}" for layer in layers),
            )
        group.attrs["cache_modes"] = modes
        zarr_store.consolidate(tmp / PROBES_STORE)
