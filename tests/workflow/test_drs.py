"""End-to-end DRS: the real Snakemake workflow on real Fashion-MNIST with tiny DRS settings.

Covers: a full run leaves DRS matrices, heatmaps for every layer and the probe error curves; a rerun
has nothing to do; settings kept out of every id rerun nothing; changing P, R or rho reruns only the
plane stages and DRS; changing the probe epochs reruns probes and DRS but not training or CKA; a denser
DRS grid reruns exactly the parts that gain epochs; extending training adds only the new parts and
tiles; a deleted tile is recomputed alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.configs import tiny_raw
from support.workflow import copy_run, planned_jobs, snakemake, write_config

from repdyn.drs import open_drs
from repdyn.drs.store import ProbePart

pytestmark = pytest.mark.slow

LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
# A DRS rerun without touching training or CKA: new plane/preds/drs specs, every part and tile.
PLANE_RERUN = {
    "spec": 3,
    "make_planes": 1,
    "planes_eval": 3,
    "drs_tile": 3,
    "drs_assemble": 1,
    "index": 1,
    "report_experiment": 1,
    "report_index": 1,
    "all": 1,
}


def drs_raw(epochs: int = 4, **drs) -> dict:
    """tiny_raw with small DRS settings (3 planes of 5 x 5 points) and tiny_raw's probes (2 epochs, 8 steps)."""
    raw = tiny_raw(epochs=epochs)
    defaults = raw["defaults"]
    defaults["data"]["test_subset"] = 200  # probe test error on 200 test images, not 10,000
    defaults["grids"] = {"cka": {"every": 1}, "drs": {"every": 2}}  # DRS at 0, 2, 4; checkpoints at every epoch
    defaults["cka"] = {"block": 5}  # one CKA tile
    defaults["drs"] = {"planes": 3, "resolution": 5, "block": 2, **drs}
    return raw


@pytest.fixture(scope="module")
def finished(tiny_run, tmp_path_factory):
    """drs_raw run to its reports. It starts from a copy of the session's tiny_run, which differs in the CKA
    tiling only: the DRS results are tiny_run's, only the CKA tile, its assembly and the reports run."""
    work = copy_run(tiny_run, tmp_path_factory.mktemp("wf-drs") / "w")
    cfg = write_config(work, drs_raw())
    snakemake(work, cfg)
    return work, cfg


def entry(work: Path) -> dict:
    return json.loads((work / "results" / "index.json").read_text())["experiments"]["tiny"]


def test_full_run_leaves_drs_heatmaps_and_probe_error_curves(finished):
    work, _ = finished
    drs = entry(work)["drs"]
    assembled = work / drs["assembled"]
    result = open_drs(assembled)
    assert result.layers == LAYERS and list(result.epochs) == [0, 2, 4] and result.points == 3 * 25
    for layer in LAYERS:
        m = result[layer]
        assert m.shape == (3, 3) and np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0)
        assert np.all((m >= 0) & (m <= 1))
        assert (assembled / "heatmaps" / f"{layer}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.probe_test_err.shape == (3, 6) and np.all((result.probe_test_err >= 0) & (result.probe_test_err <= 1))
    for name in ("panel.png", "panel.pdf", "probe_errors.png", "probe_errors.pdf", "summary.json"):
        assert (assembled / name).stat().st_size > 0, name
    tiles = sorted(p.name for p in (assembled.parent / "tiles").iterdir())
    assert tiles == ["000000-000002_000000-000002", "000000-000002_000004-000004", "000004-000004_000004-000004"]
    parts = ["000000-000000", "000000-000002", "000002-000004"]
    for stage in ("probe", "preds"):
        stage_dir = work / "results" / stage / drs[stage]
        assert sorted(p.name for p in stage_dir.iterdir() if p.is_dir()) == parts, stage
        assert json.loads((stage_dir / "spec.json").read_text())["id"] == drs[stage]
    for part in parts:  # 200 images at batch 128: 2 steps per pass, so min_steps 8 makes the 2 epochs 4
        assert ProbePart(work / "results" / "probe" / drs["probe"] / part).group.attrs["probe_epochs"] == 4
    assert (work / "results" / "planes" / drs["planes"] / "planes.zarr" / "zarr.json").is_file()
    assert not [p for p in (work / "results").rglob(".tmp-*")]


def test_second_run_has_nothing_to_do(finished):
    work, cfg = finished
    assert planned_jobs(work, cfg) == {}


def test_settings_outside_every_id_rerun_nothing(finished):
    work, _ = finished
    raw = drs_raw(eval_batch_size=7)
    raw["defaults"]["probe"]["memory_budget_mb"] = 64
    assert planned_jobs(work, write_config(work, raw, "machine.yaml")) == {}


@pytest.mark.parametrize(
    "change", [{"planes": 4}, {"resolution": 4}, {"range_l": 0.2, "range_r": 0.3}], ids=["P", "R", "rho"]
)
def test_plane_settings_rerun_only_the_plane_stages_and_drs(finished, change):
    work, _ = finished
    assert planned_jobs(work, write_config(work, drs_raw(**change), "planes.yaml")) == PLANE_RERUN


def test_probe_epochs_rerun_probes_and_drs_but_not_training_or_cka(finished):
    work, _ = finished
    raw = drs_raw()
    raw["defaults"]["probe"]["epochs"] = 3
    assert planned_jobs(work, write_config(work, raw, "probe.yaml")) == {
        "spec": 3,
        "probe_segment": 3,
        "planes_eval": 3,
        "drs_tile": 3,
        "drs_assemble": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_drs_block_reruns_only_tiles_and_assembly(finished):
    work, _ = finished
    assert planned_jobs(work, write_config(work, drs_raw(block=1), "block.yaml")) == {
        "spec": 1,
        "drs_tile": 6,
        "drs_assemble": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_denser_drs_grid_reruns_the_parts_that_gain_epochs_and_their_predictions(finished):
    """Every epoch is checkpointed already (CKA grid): no training; parts (0, 2] and (2, 4] gain epochs 1 and 3.

    A predictions part must follow its probe part even though only its epoch list (params) changed.
    """
    work, _ = finished
    raw = drs_raw()
    raw["defaults"]["grids"]["drs"] = {"every": 1}
    assert planned_jobs(work, write_config(work, raw, "denser.yaml")) == {
        "spec": 1,
        "probe_segment": 2,
        "planes_eval": 2,
        "drs_tile": 6,
        "drs_assemble": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_extending_training_adds_only_the_new_parts_and_tiles(finished):
    work, _ = finished
    # DRS epochs 0, 2, 4, 6 in blocks of 2: [0, 2] x [0, 2] is kept; [4] became [4, 6]
    # CKA epochs 0..6 in blocks of 5: [0, 4] x [0, 4] is kept; [5, 6] is new
    assert planned_jobs(work, write_config(work, drs_raw(epochs=6), "longer.yaml")) == {
        "train_segment": 1,
        "extract_segment": 1,
        "cka_tile": 2,
        "cka_assemble": 1,
        "twopoint_fit": 1,
        "run_metrics": 1,
        "probe_segment": 1,
        "planes_eval": 1,
        "drs_tile": 2,
        "drs_assemble": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_deleted_tile_is_recomputed_alone(finished):
    work, cfg = finished
    assembled = work / entry(work)["drs"]["assembled"]
    before = open_drs(assembled)
    shutil.rmtree(assembled.parent / "tiles" / "000000-000002_000004-000004")
    assert planned_jobs(work, cfg) == {
        "drs_tile": 1,
        "drs_assemble": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }
    snakemake(work, cfg)
    after = open_drs(assembled)
    for layer in LAYERS:
        assert np.array_equal(before.counts[layer], after.counts[layer]), layer
