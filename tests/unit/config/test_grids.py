"""Epoch grids, segments and blocks (docs/algorithms.md §5)."""

from __future__ import annotations

import pytest

from repdyn.config import grids

PAPER_CKA_SPARSE = {"ranges": [[0, 300, 1], [300, 900, 3], [900, 3990, 10]]}
PAPER_DRS_RESNET = {"ranges": [[0, 300, 1], [300, 900, 3], [900, 3995, 5]]}


def test_paper_grid_sizes():
    assert len(grids.epochs({"every": 1, "include_last": False}, 3999)) == 4000
    assert len(grids.epochs(PAPER_CKA_SPARSE, 3999)) == 810
    assert len(grids.epochs({**PAPER_CKA_SPARSE, "include_last": True}, 3999)) == 811
    assert len(grids.epochs(PAPER_DRS_RESNET, 3999)) == 1120


def test_truncation_keeps_positions_of_a_longer_grid():
    short = grids.epochs(PAPER_DRS_RESNET, 1000)
    long = grids.epochs(PAPER_DRS_RESNET, 4000)
    assert long[: len(short)] == short
    assert short[-1] == 1000 and 1005 in long


def test_every_includes_last_epoch_by_default():
    assert grids.epochs({"every": 5}, 12) == [0, 5, 10, 12]
    assert grids.epochs({"every": 5, "include_last": False}, 12) == [0, 5, 10]


def test_explicit_grid_and_errors():
    assert grids.epochs([0, 3, 9, 20], 10) == [0, 3, 9]
    with pytest.raises(ValueError, match="not strictly increasing at position 1"):
        grids.epochs([4, 4], 10)
    with pytest.raises(ValueError, match="step 0"):
        grids.epochs({"ranges": [[0, 5, 0]]}, 10)


def test_an_explicit_grid_past_the_length_is_refused_ranges_are_cut():
    grids.check([0, 3, 10], 10)
    with pytest.raises(ValueError, match=r"^epoch 20 is past train.epochs = 10; list only trained epochs"):
        grids.check([0, 3, 20], 10)
    with pytest.raises(ValueError, match=r"^epoch 11 is past train.epochs = 10 \(and 2 later epochs\)"):
        grids.check([0, 11, 12, 13], 10)
    grids.check(PAPER_DRS_RESNET, 1000)  # ranges define the longer run's grid; epochs() cuts them
    assert grids.epochs([0, 3, 20], 10) == [0, 3]  # without a length (a tile's part), lists are cut too


def test_beyond_lists_the_points_the_cut_leaves_out():
    assert grids.beyond({"ranges": [[0, 10, 2], [10, 30, 10]]}, 12) == [20, 30]
    assert grids.beyond([0, 3, 20], 10) == [20]
    assert grids.beyond({"every": 5}, 12) == [] and grids.beyond(PAPER_DRS_RESNET, 3995) == []
    short, dropped = grids.epochs(PAPER_DRS_RESNET, 1000), grids.beyond(PAPER_DRS_RESNET, 1000)
    assert short + dropped == grids.epochs(PAPER_DRS_RESNET, 3995)


def test_segments_cover_the_run_without_overlap():
    assert grids.segments(50, 20) == [(0, 20), (20, 40), (40, 50)]
    assert grids.segments(40, 20) == [(0, 20), (20, 40)]
    with pytest.raises(ValueError):
        grids.segments(0, 5)


def test_blocks():
    assert grids.blocks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert grids.blocks(6, 3) == [(0, 3), (3, 6)]
