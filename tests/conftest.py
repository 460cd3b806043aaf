"""Shared fixtures: the repository root, the default config, a tiny real-data config."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from repdyn.data.sources import FASHION_MNIST_DEFAULT_ROOT  # noqa: E402  (the worktree's src, inserted above)

FASHION_MNIST = Path(FASHION_MNIST_DEFAULT_ROOT)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def default_raw() -> dict:
    """config.yaml as a mapping (a fresh copy per test)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny experiment (tiny_raw), reports included, once per session: the work
    directory, its config in config.yaml. Read it only; a test that changes a run works on a copy
    (workflow_helpers.copy_run), and runs of other settings start from a copy of it."""
    from workflow_helpers import snakemake, write_config

    require_fashion_mnist()
    work = tmp_path_factory.mktemp("tiny-run")
    snakemake(work, write_config(work, tiny_raw()))
    return work


@pytest.fixture(scope="session")
def drill_reference(tiny_run, tmp_path_factory) -> Path:
    """One uninterrupted local run of drill_raw to all its results (not the report pages), shared by the kill
    drills of tests/test_kill_drills.py and tests/test_slurm_real.py. It starts from a copy of tiny_run,
    which differs in the CKA tiling only: only the CKA tiles and their assembly run."""
    from workflow_helpers import copy_run, pipeline_targets, snakemake, write_config

    work = copy_run(tiny_run, tmp_path_factory.mktemp("reference") / "w")
    cfg = write_config(work, drill_raw())
    snakemake(work, cfg, *pipeline_targets(cfg))
    return work


@pytest.fixture
def tiny() -> dict:
    return copy.deepcopy(tiny_raw())


def require_fashion_mnist() -> None:
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")


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


@pytest.fixture(scope="session")
def fmnist_path(tmp_path_factory) -> Path:
    """A small real artifact shared by the model-level tests: 200 noisy training images, 200 test images."""
    from repdyn.data import prepare_dataset

    require_fashion_mnist()
    path = tmp_path_factory.mktemp("fmnist") / "dataset.h5"
    prepare_dataset(fmnist_data_settings(test_subset=200), path)
    return path


@pytest.fixture(scope="session")
def fmnist(fmnist_path):
    from repdyn.data import DatasetArtifact

    return DatasetArtifact.load(fmnist_path)


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


@pytest.fixture(scope="session")
def reported_run(tiny_run, tmp_path_factory):
    """`report_raw` run by the real Snakemake CLI through the reports, once per session: every store kind
    (extraction, CKA and cross-run CKA tiles and matrices, planes, probes, predictions, DRS tiles and
    matrices) and every report. (work directory, config path). It starts from a copy of tiny_run, whose
    data, training, extraction and DRS artifacts w2 shares (report_raw differs from tiny_raw in epochs and
    CKA tiling only): w2's first training segment, extraction and DRS parts are not computed again."""
    from workflow_helpers import copy_run, snakemake, write_config

    work = copy_run(tiny_run, tmp_path_factory.mktemp("report") / "w")
    cfg = write_config(work, report_raw())
    snakemake(work, cfg)
    return work, cfg
