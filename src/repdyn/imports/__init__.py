"""Imported runs: checkpoints written by another training code, a model from any factory, image arrays.

Torch-free at import, for Snakemake's parse time: `settings` (config rules), `npz` (array checks),
`files` (which checkpoints, the run's id-bearing settings) and `content` (cached digests). Torch is
loaded on use by `external` (building the network, reading checkpoints), `run` (the import jobs) and
`cost` (one measured forward). docs/imported-runs.md is the user's guide.
"""
