"""The CKA part of the plan: extraction parts, tiles by epoch blocks, cross-run artifacts."""

from __future__ import annotations

import pytest
from support.configs import plan_of

from repdyn.config import ConfigError
from repdyn.tiling.names import block_epochs, parse_tile, tile_name


def test_extraction_parts_follow_training_segments(tiny):
    p = plan_of(tiny)
    x = p.experiments[0].cka.rows
    assert [(s, e) for s, e, _ in x.parts] == [(0, 0), (0, 2), (2, 4)]
    assert x.part_epochs(0, 2) == (1, 2)
    assert str(x.part_source(0, 0)).endswith("/init") and str(x.part_source(2, 4)).endswith("/segments/000002-000004")


def test_symmetric_tiles_cover_the_upper_triangle_once(tiny):
    tiny["defaults"]["grids"]["cka"] = {"every": 1}
    tiny["defaults"]["train"]["epochs"] = 6
    art = plan_of(tiny).experiments[0].cka
    tiles = art.tiles(6, 6)
    covered = set()
    for tile in tiles:
        rows, cols = art.tile_epochs(tile)
        covered.update((r, c) for r in rows for c in cols)
        assert tile_name(tile) == tile_name(parse_tile(tile_name(tile)))
    assert covered == {(r, c) for r in range(7) for c in range(7) if r <= c} | {
        (r, c) for r in range(7) for c in range(7) if r // 2 == c // 2
    }


def test_block_named_by_epochs_changes_when_the_last_grid_point_moves():
    grid = {"every": 5, "include_last": True}
    assert block_epochs(grid, 10, 12) == [10, 12]  # a run of 12 epochs
    assert block_epochs(grid, 10, 15) == [10, 15]  # the same positions once the run is longer
    assert block_epochs(grid, 10, 13) == [10, 13]  # any epoch can be a run's last one
    with pytest.raises(ValueError, match="not a block"):
        block_epochs(grid, 11, 15)  # 11 is on no such grid


def test_cka_setting_changes_the_cka_id_only(tiny):
    before = plan_of(tiny).experiments[0]
    tiny["defaults"]["cka"]["estimator"] = "minibatch_biased"
    after = plan_of(tiny).experiments[0]
    assert after.cka.id != before.cka.id and after.cka.rows.id == before.cka.rows.id and after.run.id == before.run.id
    tiny["defaults"]["cka"]["estimator"] = "full_biased"  # needs the full Gram: a new extraction, same run
    full = plan_of(tiny).experiments[0]
    assert full.cka.rows.id != before.cka.rows.id and full.run.id == before.run.id


def test_cross_run_artifact_has_every_tile(tiny):
    tiny["experiments"] = [{"name": "a", "cka": {"compare_with": ["b"]}}, {"name": "b", "train": {"seed": 1}}]
    p = plan_of(tiny)
    a = p.experiment("a")
    ((other, art),) = a.cka_cross
    assert other == "b" and art.stage == "cka_cross" and art.cols.run.id == p.experiment("b").run.id
    assert len(art.tiles(4, 4)) == 9  # 3 x 3 blocks of 2, rectangular: no symmetry to exploit
    assert str(art.assembled_dir(4, 4)).endswith("/e000004x000004")
    assert p.index()["experiments"]["a"]["cka_cross"]["b"]["id"] == art.id


@pytest.mark.parametrize(
    "partner, message",
    [
        ({"name": "b", "data": {"label_noise": 0.0}}, "uses other data"),
        ({"name": "b", "model": {"arch": "resnet50"}}, "has another architecture"),
        ({"name": "c"}, "no experiment named 'b'"),
    ],
)
def test_cross_run_partner_errors(tiny, partner, message):
    del tiny["defaults"]["model"]["width"]
    tiny["experiments"] = [{"name": "a", "model": {"width": 2}, "cka": {"compare_with": ["b"]}}, partner]
    if partner.get("model", {}).get("arch") != "resnet50":
        partner.setdefault("model", {})["width"] = 2
    with pytest.raises(ConfigError, match=message):
        plan_of(tiny)
