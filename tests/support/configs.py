"""Configs of the tests' real runs: the tiny experiment, its drill and report variants, and real Fashion-MNIST
data settings."""

from __future__ import annotations

import pytest

from repdyn import config, plan
from repdyn.data.sources import default_root

FASHION_MNIST = default_root("fashion_mnist")


def require_fashion_mnist() -> None:
    """Skip the calling test when the Debian package's Fashion-MNIST files are missing."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")


def tiny_raw(**train) -> dict:
    """A complete config for seconds-long end-to-end runs on real Fashion-MNIST."""
    return {
        "device": "cpu",
        "threads": 1,
        "defaults": {
            "data": {
                "dataset": "fashion_mnist",
                "image_size": 32,
                "train_subset": 200,
                "test_subset": 200,
                "label_noise": 0.2,
                "probe": {"batches": 2, "batch_size": 32, "seed": 0},
            },
            "model": {"arch": "preact_resnet18", "width": 2},
            "train": {
                "seed": 0,
                "epochs": 4,
                "segment_epochs": 2,
                "batch_size": 64,
                "optimizer": {"name": "adam", "lr": 0.001},
                **train,
            },
            "grids": {"cka": {"every": 1}, "drs": {"every": 2}},
            "cka": {"block": 2},
            "probe": {"epochs": 2, "min_steps": 8},  # 2 steps per pass on 200 images: the floor makes it 4
            "drs": {"planes": 3, "resolution": 5, "block": 2},
            "twopoint": {"pairs_per_type": 2},
        },
        "experiments": [{"name": "tiny"}],
    }


def drill_raw() -> dict:
    """The tiny experiment (4 epochs in 2 segments, CKA at every epoch, DRS at 0, 2, 4) with CKA tiles of 3
    epochs a side: 3 tiles instead of 6, and blocks that span parts (0-2: the init part and the first
    segment's). The experiment of the kill drills (local and on SLURM), compared against drill_reference."""
    raw = tiny_raw()
    raw["defaults"]["cka"]["block"] = 3
    return raw


def report_raw() -> dict:
    """Three tiny experiments (widths 2 and 3, a second seed of width 2 compared by cross-run CKA)."""
    raw = tiny_raw(epochs=2)  # one training segment: CKA at epochs 0, 1, 2; DRS at 0, 2
    raw["defaults"]["cka"] = {"block": 5}  # one tile per matrix
    raw["experiments"] = [
        {"name": "w2", "cka": {"compare_with": ["w2-seed1"]}},
        {"name": "w2-seed1", "train": {"seed": 1}},
        {"name": "w3", "model": {"width": 3}},
    ]
    return raw


def fmnist_data_settings(**overrides) -> dict:
    """Complete `data` settings (as the config layer resolves them) for real Fashion-MNIST."""
    settings = {
        "dataset": "fashion_mnist",
        "root": None,
        "download": False,
        "image_size": 32,
        "train_subset": 200,
        "test_subset": None,
        "subset_seed": 0,
        "label_noise": 0.2,
        "noise_seed": 0,
        "probe": {"batches": 1, "batch_size": 20, "seed": 0},
        "normalization": "auto",
    }
    settings.update(overrides)
    return settings


def plan_of(raw: dict) -> plan.Plan:
    """The plan of a config mapping, resolved as `repdyn validate` resolves a file."""
    return plan.build(config.resolve(raw))


def pipeline_run(*, eval_train: bool) -> dict:
    """The resolved settings of the pipeline tests' run: width-2 PreAct ResNet-18, Adam 1e-3, crop and flip."""
    return {
        "model": {"arch": "preact_resnet18", "width": 2},
        "train": {
            "seed": 0,
            "batch_size": 64,
            "precision": "fp32",
            "eval_train": eval_train,
            "optimizer": {
                "name": "adam",
                "lr": 1e-3,
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                "weight_decay": 0.0,
                "momentum": 0.0,
                "nesterov": False,
            },
            "augment": {"crop_padding": 4, "hflip": True},
        },
    }
