"""Datasets for repdyn: real sources, balanced subset, label noise, probe set, one HDF5 artifact.

`prepare_dataset(settings, path)` builds the artifact of the prepare_data stage;
`DatasetArtifact.load(path)` is what every later stage reads. The pieces are
public so that tests and notebooks can use them on their own.
"""

from .artifact import FORMAT_VERSION, DatasetArtifact
from .balance import balanced_subset, probe_batches
from .noise import flip_labels, noisy_per_class
from .normalization import KNOWN_CONSTANTS, channel_stats, resolve_normalization
from .prepare import prepare_dataset
from .sources import DATASETS, SourceData, default_root, load_source

__all__ = [
    "DATASETS",
    "FORMAT_VERSION",
    "KNOWN_CONSTANTS",
    "DatasetArtifact",
    "SourceData",
    "balanced_subset",
    "channel_stats",
    "default_root",
    "flip_labels",
    "load_source",
    "noisy_per_class",
    "prepare_dataset",
    "probe_batches",
    "resolve_normalization",
]
