"""Reading results by experiment name: repdyn.open_experiment and `repdyn status`, on the session's finished
tiny run (and on a directory with no results)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import repdyn


def status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repdyn", "status", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_open_experiment_gives_labelled_stores_events_and_paths(tiny_run):
    exp = repdyn.open_experiment("tiny", tiny_run)
    assert exp.cka.cka.dims == ("layer", "row_epoch", "col_epoch")
    assert list(exp.cka.row_epoch.values) == [0, 1, 2, 3, 4]
    assert float(exp.cka.cka.sel(layer="layer4", row_epoch=2, col_epoch=2)) == pytest.approx(1.0)
    assert list(exp.drs.drs.row_epoch.values) == [0, 2, 4] and "probe_test_err" in exp.drs
    assert [row["epoch"] for row in exp.metrics] == [0, 1, 2, 3, 4]
    assert set(exp.events) >= {"perfect_fit_epoch", "instabilities", "double_descent"}
    assert set(exp.paths) >= {"data", "train", "metrics", "cka", "drs", "twopoint", "report"}
    assert all((tiny_run / path).exists() for path in exp.paths.values())


@pytest.mark.slow
def test_status_says_what_is_done_and_where(tiny_run):
    lines = status("-C", str(tiny_run)).stdout.splitlines()
    assert lines[0].split() == ["experiment", "epochs", "metrics", "cka", "drs", "twopoint", "report"]
    assert lines[1].split() == ["tiny", "4", "done", "done", "done", "done", "done"]
    one = status("-C", str(tiny_run), "--experiment", "tiny").stdout
    assert one.startswith("tiny: 4 epochs") and "cka.zarr" in one and 'repdyn.open_experiment("tiny")' in one
    proc = status("-C", str(tiny_run), "--experiment", "nope")
    assert proc.returncode == 2 and "known: tiny" in proc.stderr
