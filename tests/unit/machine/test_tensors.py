"""repdyn.machine.tensors, and the jobs it lets start without importing torch (1-2 s of each job's start-up)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from repdyn.machine.tensors import is_tensor

# The modules that the jobs reading stores and writing matrices, pages or tables import: cka_assemble,
# drs_assemble, twopoint_fit, run_metrics, report_experiment, report_index (their commands in repdyn.cli).
TORCH_FREE_JOB_MODULES = (
    "repdyn.cli",
    "repdyn.cka.entry_points",
    "repdyn.cka.assemble_job",
    "repdyn.cka.figures",
    "repdyn.cka.layer_pairs",
    "repdyn.drs.entry_points",
    "repdyn.drs.assemble_job",
    "repdyn.drs.figures",
    "repdyn.drs.store",
    "repdyn.twopoint.entry_points",
    "repdyn.twopoint.analysis",
    "repdyn.twopoint.figures",
    "repdyn.extract.twopoint_store",
    "repdyn.models.registry",
    "repdyn.figures.axes",
    "repdyn.train",
    "repdyn.train.metrics",
    "repdyn.storage.atomic",
    "repdyn.report",
)


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_is_tensor_tells_tensors_from_arrays_and_scalars():
    assert is_tensor(torch.zeros(2))
    assert is_tensor(torch.zeros(2).numpy()) is False
    assert not is_tensor(np.zeros(2))
    assert not is_tensor([1.0, 2.0])


def test_is_tensor_never_imports_torch():
    assert "torch" not in loaded_after("from repdyn.machine.tensors import is_tensor; assert not is_tensor(1.0)")


def test_the_jobs_that_only_read_stores_start_without_torch():
    imports = "\n".join(f"import {m}" for m in TORCH_FREE_JOB_MODULES)
    assert "torch" not in loaded_after(imports)


@pytest.mark.parametrize("name", ["init_run", "train_segment", "load_checkpoint_model"])
def test_the_training_functions_still_import_from_the_package(name):
    import repdyn.train

    assert callable(getattr(repdyn.train, name))


def test_an_unknown_name_in_the_training_package_is_an_attribute_error():
    import repdyn.train

    with pytest.raises(AttributeError, match="no attribute 'train_segmnet'"):
        repdyn.train.train_segmnet  # noqa: B018
