"""repdyn.report.readers: a missing input is named."""

from __future__ import annotations

import pytest

from repdyn.report import ExperimentInputs


def test_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics input"):
        ExperimentInputs(name="x", data_dir=tmp_path, run_dir=tmp_path, metrics=tmp_path / "nope.tsv", phases=tmp_path)
