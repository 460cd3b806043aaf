"""End-to-end: the real Snakemake workflow on real Fashion-MNIST, tiny settings.

Covers: a full run leaves every artifact; a rerun has nothing to do; extending training
trains only the new epochs and computes only the new CKA tiles; changing a CKA setting
reruns only CKA tiles and assembly; a deleted tile is recomputed alone; changing an
unrelated setting reruns nothing; a run killed in the middle of a training segment
resumes and ends with bit-identical weights and CKA matrices.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from support.configs import tiny_raw
from support.drills import cka_chain, rewind, tiny_experiment
from support.workflow import (
    copy_run,
    job_counts,
    planned_jobs,
    snakemake,
    snakemake_cmd,
    write_config,
)

from repdyn import config, plan
from repdyn.cka import open_cka
from repdyn.data.sources import FASHION_MNIST_DEFAULT_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(tiny_run, tmp_path_factory):
    """One complete run of the tiny experiment (4 epochs in 2 segments): a copy of the session's tiny_run."""
    work = copy_run(tiny_run, tmp_path_factory.mktemp("wf") / "w")
    return work, work / "config.yaml"


def index_entry(work: Path) -> dict:
    return json.loads((work / "results" / "index.json").read_text())["experiments"]["tiny"]


def test_full_run_leaves_every_artifact(finished):
    work, _ = finished
    entry = index_entry(work)
    data_dir, run_dir = work / entry["data"]["path"], work / entry["train"]["path"]
    assert (data_dir / "dataset.h5").is_file()
    for d, stage in ((data_dir, "data"), (run_dir, "train")):
        spec = json.loads((d / "spec.json").read_text())
        assert spec["stage"] == stage and spec["id"] == d.name
    assert (run_dir / "init" / "checkpoints" / "e000000.pt").is_file()
    for seg, epochs in (("000000-000002", (1, 2)), ("000002-000004", (3, 4))):
        for e in epochs:
            assert (run_dir / "segments" / seg / "checkpoints" / f"e{e:06d}.pt").is_file()
        assert (run_dir / "segments" / seg / "state.pt").is_file()
    rows = (work / entry["metrics"]).read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["epoch", "train_loss", "train_err"]
    assert [int(r.split("\t")[0]) for r in rows[1:]] == [0, 1, 2, 3, 4]
    phases = json.loads((work / entry["phases"]).read_text())
    assert set(phases) >= {"perfect_fit_epoch", "test_error_peak_epoch", "test_error_peak"}
    # no temporary file or directory survives a finished run
    assert not [p for p in (work / "results").rglob(".tmp-*")]


def test_cka_matrices_and_heatmaps(finished):
    work, _ = finished
    assembled = work / index_entry(work)["cka"]["assembled"]
    result = open_cka(assembled)
    assert result.layers == ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
    assert list(result.row_epochs) == [0, 1, 2, 3, 4]
    for layer in result.layers:
        m = result[layer]
        assert m.shape == (5, 5) and np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0)
        assert np.all((m > -0.05) & (m <= 1.0 + 1e-12))
        assert (assembled / "heatmaps" / f"{layer}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (assembled / "panel.png").is_file() and (assembled / "panel.pdf").is_file()
    tiles = sorted(p.name for p in (assembled.parent / "tiles").iterdir())
    assert tiles == [
        "000000-000001_000000-000001",
        "000000-000001_000002-000003",
        "000000-000001_000004-000004",
        "000002-000003_000002-000003",
        "000002-000003_000004-000004",
        "000004-000004_000004-000004",
    ]


def test_second_run_has_nothing_to_do(finished):
    work, cfg = finished
    assert planned_jobs(work, cfg) == {}
    proc = snakemake(work, cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_settings_outside_training_do_not_rerun_training(finished):
    work, _ = finished
    raw = tiny_raw()
    raw["device"] = "cpu"
    raw["threads"] = 2
    raw["defaults"]["data"]["root"] = FASHION_MNIST_DEFAULT_ROOT  # same files, spelled out
    cfg = write_config(work, raw, "same.yaml")
    assert planned_jobs(work, cfg) == {}


def test_extending_training_trains_only_new_epochs_and_tiles(finished):
    work, _ = finished
    cfg = write_config(work, tiny_raw(epochs=6), "longer.yaml")
    # epochs 0..6 in blocks of 2: [0,1] [2,3] [4,5] [6]; the three tiles within [0,3] are kept
    assert planned_jobs(work, cfg) == {
        "train_segment": 1,
        "extract_segment": 1,
        "cka_tile": 7,
        "cka_assemble": 1,
        "probe_segment": 1,
        "planes_eval": 1,
        "drs_tile": 2,
        "drs_assemble": 1,
        "twopoint_fit": 1,
        "run_metrics": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_changing_the_estimator_reruns_only_cka(finished):
    work, _ = finished
    raw = tiny_raw()
    raw["defaults"]["cka"]["estimator"] = "minibatch_biased"
    cfg = write_config(work, raw, "biased.yaml")
    assert planned_jobs(work, cfg) == {
        "spec": 1,
        "cka_tile": 6,
        "cka_assemble": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }


def test_deleted_tile_is_recomputed_alone(finished):
    work, cfg = finished
    assembled = work / index_entry(work)["cka"]["assembled"]
    before = open_cka(assembled)
    tile = assembled.parent / "tiles" / "000000-000001_000002-000003"
    shutil.rmtree(tile)
    assert planned_jobs(work, cfg) == {
        "cka_tile": 1,
        "cka_assemble": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }
    snakemake(work, cfg)
    after = open_cka(assembled)
    for layer in before.layers:
        assert np.array_equal(before[layer], after[layer])


def test_denser_grid_retrains_from_the_first_segment_that_needs_checkpoints(finished, tmp_path):
    work, _ = finished
    raw = tiny_raw()
    raw["defaults"]["grids"] = {"cka": [0, 2, 4], "drs": [0, 4]}
    # a copy of the finished run: the data, initial weights, planes and pairs are shared; both segments
    # retrain, since their checkpoints differ
    sparse_work = copy_run(work, tmp_path / "sparse")
    sparse = write_config(sparse_work, raw, "sparse.yaml")
    snakemake(sparse_work, sparse)
    raw["defaults"]["grids"]["cka"] = [0, 1, 2, 4]  # epoch 1 is inside the first segment only
    denser = write_config(sparse_work, raw, "denser.yaml")
    # the first segment retrains for its new checkpoint, the later one follows it (see train.smk), both
    # extraction parts follow their segments; a new grid is a new CKA artifact (its spec and all its tiles)
    # and a new two-point artifact (its spec and fit)
    assert planned_jobs(sparse_work, denser) == {
        "train_segment": 2,
        "extract_segment": 2,
        "spec": 2,
        "cka_tile": 3,
        "cka_assemble": 1,
        "probe_segment": 1,
        "planes_eval": 1,
        "twopoint_fit": 1,
        "index": 1,
        "report_experiment": 1,
        "report_index": 1,
        "all": 1,
    }
    snakemake(sparse_work, denser)
    assert planned_jobs(sparse_work, denser) == {}  # one invocation was enough


def test_a_requested_output_snakemake_skips_fails_the_run_and_the_next_run_builds_it(finished, tmp_path):
    """Snakemake 9.27.1 plans no job below an ancient() input whose producer reruns: a new tile requested while
    its training segment retrains (a changed grid) is skipped. The run must fail and name it, not end in
    success (repdyn.scheduling.targets); the same command run again builds it."""
    work = copy_run(finished[0], tmp_path / "w")
    raw = tiny_raw()
    raw["defaults"]["grids"] = {"cka": [0, 2, 4], "drs": [0, 4]}  # new checkpoints: both segments retrain
    cfg = write_config(work, raw, "sparse.yaml")
    exp = plan.build(config.load(cfg)).experiment("tiny")
    tile = str(exp.cka.tile_dir(exp.cka.tiles(4, 4)[-1]))
    first = snakemake(work, cfg, tile, check=False)
    out = first.stdout + first.stderr
    assert first.returncode == 1, out[-3000:]
    assert f"Snakemake finished without 1 requested output(s): {tile}. Run the same command again" in out
    assert job_counts(out).get("cka_tile") is None and job_counts(out)["train_segment"] == 2  # the gap itself
    assert not (work / tile).exists()
    snakemake(work, cfg, tile)
    assert (work / tile).is_dir()


def _state_tensors(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["model"]


def segment_pending(work: Path) -> dict:
    """Rule -> outputs from the second training segment on, along the CKA chain."""
    exp = tiny_experiment(work)
    return {"train_segment": [exp.run.segment_dir(2, 4)], **cka_chain(exp)}


def test_killed_during_a_segment_resumes_to_identical_weights(finished, tmp_path):
    work_ref, _ = finished
    work = tmp_path / "killed"
    pending = segment_pending(work_ref)
    rewind(work_ref, work, pending)  # results without logs: the new segment's log is watched
    cfg = work / "config.yaml"
    run_id = tiny_experiment(work_ref).run.id
    cka_path = str(pending["cka_assemble"][0])
    second_log = work / "logs" / "train_segment" / run_id / "000002-000004.log"
    # one job at a time: the kill finds only the training segment running. (A neighbour that had renamed its
    # output into place just before the kill would make the resumed run fail once, as it should:
    # test_a_requested_output_snakemake_skips_fails_the_run_and_the_next_run_builds_it.)
    proc = subprocess.Popen(
        snakemake_cmd(work, cfg, cka_path, "--cores", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    deadline = time.time() + 240
    while not second_log.exists():
        assert proc.poll() is None, "snakemake ended before the second segment started"
        assert time.time() < deadline, "second segment never started"
        time.sleep(0.2)
    time.sleep(1.0)  # inside the job: python is importing torch or training
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    seg_dir = work / "results" / "train" / run_id / "segments"
    first_state = seg_dir / "000000-000002" / "state.pt"
    first_mtime = first_state.stat().st_mtime_ns
    # the killed job left nothing that looks finished
    assert not (seg_dir / "000002-000004").exists()

    snakemake(work, cfg, "--unlock")
    snakemake(work, cfg, "--rerun-incomplete", cka_path)
    assert first_state.stat().st_mtime_ns == first_mtime  # the finished segment was not retrained
    resumed = _state_tensors(seg_dir / "000002-000004" / "state.pt")
    reference = _state_tensors(work_ref / "results" / "train" / run_id / "segments" / "000002-000004" / "state.pt")
    assert resumed.keys() == reference.keys()
    for key in reference:
        assert torch.equal(resumed[key], reference[key]), key
    resumed_cka, reference_cka = open_cka(work / cka_path), open_cka(work_ref / cka_path)
    for layer in reference_cka.layers:
        assert np.array_equal(resumed_cka[layer], reference_cka[layer]), layer
