"""prepare_data: source dataset -> balanced subset -> label noise -> probe set -> one HDF5 file.

The order is fixed (subset first, noise on the subset) so that a subset's
noisy examples are exactly floor(q * N / C) per class of the subset, as in the
double-descent code's per-class rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from repdyn.config.integers import is_int

from .artifact import ArtifactContent, write_artifact
from .balance import balanced_subset, probe_batches
from .noise import check_rate, flip_labels, noisy_per_class
from .normalization import resolve_normalization
from .sources import load_source

REQUIRED_KEYS = (
    "dataset",
    "root",
    "download",
    "image_size",
    "train_subset",
    "test_subset",
    "subset_seed",
    "label_noise",
    "noise_seed",
    "probe",
    "normalization",
)
PROBE_KEYS = ("batches", "batch_size", "seed")


def prepare_dataset(settings: dict[str, Any], out_path: str | Path) -> None:
    """Build the dataset artifact described by the resolved `data` settings and write it atomically to `out_path`."""
    check_settings(settings)
    check_rate(settings["label_noise"])
    source = load_source(settings)
    mean, std, method = resolve_normalization(settings["normalization"], source.name, source.train_images)

    source_index = balanced_subset(
        source.train_labels, source.num_classes, settings["train_subset"], settings["subset_seed"]
    )
    clean = source.train_labels[source_index]
    noisy, flipped = flip_labels(clean, settings["label_noise"], source.num_classes, settings["noise_seed"])
    # Test metrics every epoch dominate a small CPU run: a balanced test subset keeps them cheap.
    # The probe set is drawn from the whole test split, independently of it.
    eval_index = balanced_subset(
        source.test_labels, source.num_classes, settings["test_subset"], settings["subset_seed"]
    )
    probe = settings["probe"]
    probe_index = probe_batches(
        source.test_labels, source.num_classes, probe["batches"], probe["batch_size"], probe["seed"]
    )

    write_artifact(
        ArtifactContent(
            name=source.name,
            class_names=source.class_names,
            train_images=source.train_images[source_index],
            train_labels=noisy,
            clean_labels=clean,
            flipped=flipped,
            source_index=source_index,
            test_images=source.test_images,
            test_labels=source.test_labels,
            probe_index=probe_index,
            eval_index=eval_index,
            mean=mean,
            std=std,
            settings=settings,
            extra_attrs={
                "normalization_method": method,
                "source_root": os.fspath(source.root),
                "source_train_size": int(source.train_labels.size),
                "noisy_per_class": noisy_per_class(settings["label_noise"], clean.size, source.num_classes),
            },
        ),
        out_path,
    )


def check_settings(settings: dict[str, Any]) -> None:
    """Every key present (the config layer fills defaults), so a typo fails here and not halfway through."""
    if not isinstance(settings, dict):
        raise ValueError(f"data settings must be a mapping; got {type(settings).__name__}")
    missing = [f"data.{key}" for key in REQUIRED_KEYS if key not in settings]
    probe = settings.get("probe")
    if isinstance(probe, dict):
        missing += [f"data.probe.{key}" for key in PROBE_KEYS if key not in probe]
    elif "probe" in settings:
        raise ValueError(f"data.probe must be a mapping with keys {', '.join(PROBE_KEYS)}; got {probe!r}")
    if missing:
        raise ValueError(f"data settings are missing {', '.join(missing)}")
    for key in ("subset_seed", "noise_seed"):
        _check_seed(settings[key], f"data.{key}")
    _check_seed(probe["seed"], "data.probe.seed")


def _check_seed(value: Any, key: str) -> None:
    if not is_int(value) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer; got {value!r}")
