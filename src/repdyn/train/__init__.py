"""Training: resumable, bit-reproducible segments with per-epoch metrics (rules init, train_segment, run_metrics).

init_run(run, dataset_path, out_dir, device)            epoch 0
train_segment(run, dataset_path, state_path, end, checkpoint_epochs, out_dir, device)
load_checkpoint_model(path, run, dataset, device)      a stored network, eval mode
read_metrics(paths), training_phases(rows)              the per-epoch table of a run
"""

from repdyn.train.checkpoints import load_checkpoint_model
from repdyn.train.metrics import COLUMNS as METRIC_COLUMNS
from repdyn.train.metrics import phase_marks, read_metrics, training_phases
from repdyn.train.segment import init_run, train_segment

__all__ = [
    "METRIC_COLUMNS",
    "init_run",
    "load_checkpoint_model",
    "read_metrics",
    "train_segment",
    "phase_marks",
    "training_phases",
]
