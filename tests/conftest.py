"""Shared fixtures: the repository root, the default config, a tiny real-data config, and the session's real
runs (tiny_run, drill_reference, reported_run) and Fashion-MNIST artifact. Builders live in tests/support."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from support import REPO
from support.configs import (
    drill_raw,
    fmnist_data_settings,
    report_raw,
    require_fashion_mnist,
    tiny_raw,
)
from support.shared import built_once
from support.workflow import copy_run, pipeline_targets, snakemake, write_config

RUNS = {"tiny_run", "drill_reference", "reported_run"}  # session fixtures that start Snakemake runs
# The modules the two xdist workers start with: the SLURM scenarios build tiny_run (then drill_reference) while
# the imported example, which needs no shared run, trains and runs its own workflow.
FIRST_MODULES = ("tests/cluster/test_slurm.py", "tests/workflow/test_imports.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the fast tier (`-m "not slow"`) fast: a test that needs one of the session's Snakemake runs must be
    marked slow. Then order the modules longest first (`module_rank`)."""
    unmarked = [
        item.nodeid
        for item in items
        if RUNS & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError("needs a Snakemake run but is not marked slow: " + ", ".join(unmarked))
    slow_modules = {module_of(item) for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: module_rank(module_of(item), slow_modules))


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]


def module_rank(module: str, slow_modules: set[str]) -> int:
    """xdist hands whole modules to the workers in this order (`--dist loadscope --no-loadscope-reorder`): the
    first two, then the other modules with Snakemake runs, then the short modules, which fill the end evenly
    instead of one worker running a long module alone."""
    if module in FIRST_MODULES:
        return FIRST_MODULES.index(module)
    return len(FIRST_MODULES) + (module not in slow_modules)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def default_raw() -> dict:
    """config.yaml as a mapping (a fresh copy per test)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.fixture
def tiny() -> dict:
    return copy.deepcopy(tiny_raw())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny experiment (tiny_raw), reports included, once per session (shared by the xdist
    workers): the work directory, its config in config.yaml. Read it only; a test that changes a run works on
    a copy (support.workflow.copy_run), and runs of other settings start from a copy of it."""
    require_fashion_mnist()
    return built_once(tmp_path_factory, "tiny-run", lambda work: snakemake(work, write_config(work, tiny_raw())))


@pytest.fixture(scope="session")
def drill_reference(tiny_run, tmp_path_factory) -> Path:
    """One uninterrupted local run of drill_raw to all its results (not the report pages), shared by the kill
    drills (tests/workflow/test_kill_drills.py, tests/cluster/test_slurm.py) and the storage-policy tests. It
    starts from a copy of tiny_run, which differs in the CKA tiling only: only the CKA tiles and their
    assembly run."""

    def build(work: Path) -> None:
        copy_run(tiny_run, work / "w")
        cfg = write_config(work / "w", drill_raw())
        snakemake(work / "w", cfg, *pipeline_targets(cfg))

    return built_once(tmp_path_factory, "drill-reference", build) / "w"


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


@pytest.fixture(scope="session")
def reported_run(tiny_run, tmp_path_factory):
    """`report_raw` run by the real Snakemake CLI through the reports, once per session (shared by the xdist workers):
    every store kind (extraction, CKA and cross-run CKA tiles and matrices, planes, probes, predictions, DRS
    tiles and matrices) and every report. (work directory, config path). It starts from a copy of tiny_run,
    whose data, training, extraction and DRS artifacts w2 shares (report_raw differs from tiny_raw in epochs
    and CKA tiling only): w2's first training segment, extraction and DRS parts are not computed again."""

    def build(work: Path) -> None:
        copy_run(tiny_run, work / "w")
        snakemake(work / "w", write_config(work / "w", report_raw()))

    work = built_once(tmp_path_factory, "reported-run", build) / "w"
    return work, work / "config.yaml"
