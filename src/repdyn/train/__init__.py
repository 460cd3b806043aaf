"""Training: resumable, bit-reproducible segments with per-epoch metrics (rules init, train_segment, run_metrics).

init_run(run, dataset_path, out_dir, device)            epoch 0
train_segment(run, dataset_path, state_path, end, checkpoint_epochs, out_dir, device)
load_checkpoint_model(path, run, dataset, device)      a stored network, eval mode
read_metrics(paths), training_phases(rows)              the per-epoch table of a run

The metrics functions import without torch; the three that need it import it on first use (PEP 562), so
that the jobs that only read metrics (assembly, reports, run_metrics) start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from repdyn.train.metrics import COLUMNS as METRIC_COLUMNS
from repdyn.train.metrics import phase_marks, read_metrics, training_phases

if TYPE_CHECKING:
    from repdyn.train.checkpoints import load_checkpoint_model
    from repdyn.train.segment import init_run, train_segment

_NEEDS_TORCH = {
    "init_run": "repdyn.train.segment",
    "train_segment": "repdyn.train.segment",
    "load_checkpoint_model": "repdyn.train.checkpoints",
}

__all__ = [
    "METRIC_COLUMNS",
    "init_run",
    "load_checkpoint_model",
    "read_metrics",
    "train_segment",
    "phase_marks",
    "training_phases",
]


def __getattr__(name: str) -> Any:
    if name not in _NEEDS_TORCH:
        raise AttributeError(f"module 'repdyn.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_NEEDS_TORCH[name]), name)
