"""repdyn.report.summary: the summary table's cells and rows."""

from __future__ import annotations

import math

import pytest

from repdyn.report import COLUMNS
from repdyn.report.summary import cell, format_tsv


def test_cells_leave_undefined_values_empty_and_join_lists():
    assert [cell(None), cell(math.nan), cell(0.123456), cell([13, 41]), cell(7)] == ["", "", "0.1235", "13;41", "7"]


def test_tsv_names_a_row_that_lacks_a_column():
    row = dict.fromkeys(COLUMNS, 1)
    assert format_tsv([row]).splitlines()[0].split("\t") == list(COLUMNS)
    del row["mean_offdiag_drs"]
    with pytest.raises(ValueError, match="mean_offdiag_drs"):
        format_tsv([row])
