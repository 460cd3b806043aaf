"""repdyn: how each layer's representations evolve over a long training run.

Epoch x epoch CKA and decision-region-similarity heatmaps per layer, computed
by a Snakemake workflow over content-addressed artifacts (see README.md).
"""

__version__ = "0.1.0"


def open_experiment(name: str, root: str = "."):
    """One experiment's results by name (repdyn.results.experiment.open_experiment): stores, events, metrics, paths."""
    from repdyn.results.experiment import open_experiment as _open

    return _open(name, root)
