"""Imported runs: checkpoints written by another training code, a model from any factory, image arrays.

Torch-free at import: `content` (digests) and `npz` (array checks) run at Snakemake parse time; the
torch side (building the model, reading checkpoints, evaluating them) is in `external` and `run`.
docs/imported-runs.md is the user's guide.
"""
