"""Builders the tests share (configs, Snakemake runs, the drills' run surgery, the SLURM cluster); fixtures
live in tests/conftest.py. `REPO` is the repository root the tests run against."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
