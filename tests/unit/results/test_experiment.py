"""repdyn.open_experiment and `repdyn status` on a directory with no results."""

from __future__ import annotations

import subprocess
import sys

import pytest

import repdyn


def status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repdyn", "status", *args], capture_output=True, text=True)


def test_an_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="no experiment 'nope'.*none; run snakemake first"):
        repdyn.open_experiment("nope", tmp_path)
    proc = status("-C", str(tmp_path))
    assert proc.returncode == 0 and "no results" in proc.stdout
