"""Linear probes (docs/algorithms.md §3): cached training-set features and probes trained on them.

`FeatureCache` runs the training set through the network once and keeps every
analysed layer's features within a memory budget; `train_probes` fits one
linear classifier per layer on it; `predict` is the probe's decision rule
that decision-region similarity compares between epochs.
"""

from repdyn.drs.probes.features import POOLINGS, FeatureCache, check_pooling, pool_output
from repdyn.drs.probes.linear import (
    init_generator,
    init_probe,
    predict,
    probe_error,
    probe_errors,
    shuffle_order,
    train_probes,
)

__all__ = [
    "POOLINGS",
    "FeatureCache",
    "check_pooling",
    "init_generator",
    "init_probe",
    "pool_output",
    "predict",
    "probe_error",
    "probe_errors",
    "shuffle_order",
    "train_probes",
]
