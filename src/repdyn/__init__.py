"""repdyn: how each layer's representations evolve over a long training run.

Epoch x epoch CKA and decision-region-similarity heatmaps per layer, computed
by a Snakemake workflow over content-addressed artifacts (see README.md).
"""

__version__ = "0.1.0"
