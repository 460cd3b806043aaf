"""Job counts, storage and device hours of a plan (repdyn.scheduling.jobs, repdyn.cost.model, `repdyn plan`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from support import REPO
from support.configs import tiny_raw
from support.workflow import planned_jobs, write_config

from repdyn import config, plan
from repdyn.cli import planning as cli_plan

# The paper-scale configs; configs/default_seeds.yaml is the CPU default's seed replicate (tests/test_replicates.py),
from repdyn.cost import model as cost
from repdyn.cost import report as overview
from repdyn.cost import work
from repdyn.scheduling import jobs

# configs/paper_grid_cpu.yaml the paper's grids on a small CPU experiment (test_paper_grid_cpu_*).
CPU_CONFIGS = ("default_seeds.yaml", "default_controls.yaml", "default_eps.yaml", "paper_grid_cpu.yaml")
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name not in CPU_CONFIGS)


def build(raw: dict) -> plan.Plan:
    return plan.build(config.resolve(raw))


def shared_raw() -> dict:
    """Two experiments on one training run: a shorter one with its own CKA estimator and a cross-run CKA."""
    raw = tiny_raw()
    raw["experiments"] = [
        {"name": "tiny"},
        {"name": "short", "train": {"epochs": 2}, "cka": {"estimator": "minibatch_biased", "compare_with": ["tiny"]}},
    ]
    return raw


def layer_pairs_raw() -> dict:
    """The tiny experiment with layers x layers CKA at two grid epochs."""
    raw = tiny_raw()
    raw["defaults"]["cka"]["layer_pairs_at"] = [0, 4]
    return raw


@pytest.mark.parametrize("make_raw", [tiny_raw, shared_raw, layer_pairs_raw], ids=["tiny", "shared", "layer_pairs"])
def test_job_counts_equal_a_snakemake_dry_run(tmp_path, make_raw):
    raw = make_raw()
    expected = planned_jobs(tmp_path, write_config(tmp_path, raw))
    assert jobs.count_by_rule(jobs.workflow_jobs(build(raw))) == expected


def test_shared_jobs_count_once_for_the_config_and_for_each_experiment():
    p = build(shared_raw())
    tiny, short = (jobs.experiment_jobs(p, e) for e in p.experiments)
    union = jobs.workflow_jobs(p)
    assert union == tiny | short | {jobs.job("index"), jobs.job("report_index"), jobs.job("all")}
    # one run, one extraction: the short experiment trains and extracts nothing of its own
    assert {"prepare_data", "init", "train_segment", "extract_segment"} <= {j.rule for j in tiny & short}
    assert {j for j in short if j.rule == "train_segment"} == {j for j in tiny if j.rule == "train_segment"}
    assert jobs.count_by_rule(union)["train_segment"] == 2
    summaries = cost.plan_summaries(p)
    assert [s.name for s in summaries] == ["tiny", "short", "all experiments"]
    total = summaries[-1]
    assert total.storage["checkpoints"] == summaries[0].storage["checkpoints"]
    assert total.gpu_hours < summaries[0].gpu_hours + summaries[1].gpu_hours


def test_storage_of_the_tiny_experiment_by_hand():
    s = cost.plan_summaries(build(tiny_raw()))[0]
    # preact ResNet-18 k = 2: 2724 * 4 + 213 * 2 + 10 = 11,332 parameters of float32; Adam state = 3 copies.
    # Checkpoints at epochs 0..4 (the CKA grid), resume states after init and after each of the 2 segments.
    params = 2724 * 4 + 213 * 2 + 10
    assert s.storage["checkpoints"] == 5 * params * 4 + 3 * 3 * params * 4
    # Grams: 5 epochs x 6 layers x 2 batches x 32 * 33 / 2 packed float32; raw activations of the layers with at
    # most 1024 features (layer2 1024, layer3 512, layer4 256, linear 10) for the 64 probe examples.
    grams = 5 * 6 * 2 * (32 * 33 // 2) * 4
    raw = 5 * 64 * (1024 + 512 + 256 + 10) * 4
    assert s.storage["grams"] == grams + raw
    # CKA tiles, blocks of 2 over epochs 0..4: [0,1] [2,3] [4] -> 6 tiles holding 3*(2x2) + 2*(2x1) + 1x1 = 17
    # float64 cells per layer (the diagonal tiles are full squares); the assembled matrix 5 x 5, beside one heatmap
    # per layer and the panel as PNG and PDF.
    assert s.storage["cka tiles"] == 6 * 17 * 8
    assert s.storage["cka matrices"] == 6 * 25 * 8 + (6 + 2) * work.FIGURE_FILE_BYTES
    # the dataset file: 200 training and 10,000 test images, 32 x 32, compressed, with 16 bytes of labels each
    assert s.storage["data"] == 10_200 * 1024 * work.DATA_COMPRESSION + 16 * 10_200
    # DRS: epochs 0, 2, 4 with tiny_raw's P = 3 planes of 5 x 5 points, uint8 per layer and point
    assert s.storage["predictions"] == 3 * 6 * 3 * 25


def test_paper_configs_validate_and_stay_under_ten_thousand_jobs():
    assert len(CONFIGS) >= 6
    for path in CONFIGS:
        cfg = config.load(path)
        assert cfg.device == "cuda", path.name
        assert all(e.section("train")["epochs"] == 4000 for e in cfg.experiments), path.name
        n = sum(jobs.count_by_rule(jobs.workflow_jobs(plan.build(cfg))).values())
        assert 100 < n < 10_000, (path.name, n)


def test_paper_grids_have_the_paper_sizes():
    main = plan.build(config.load(REPO / "configs" / "cifar10_resnet18_adam.yaml"))
    vit = plan.build(config.load(REPO / "configs" / "cifar10_vit_b16.yaml"))
    assert len(main.experiments) == 12
    assert {len(e.grids["cka"]) for e in main.experiments} == {4000}
    assert {len(e.grids["drs"]) for e in main.experiments} == {1120}
    assert len(vit.experiments[0].grids["cka"]) == 810 and len(vit.experiments[0].grids["drs"]) == 810


def test_paper_grid_cpu_has_the_paper_grids_and_fits_four_hours_and_the_disk():
    p = plan.build(config.load(REPO / "configs" / "paper_grid_cpu.yaml"))
    main = plan.build(config.load(REPO / "configs" / "cifar10_resnet18_adam.yaml"))
    (exp,) = p.experiments
    assert exp.epochs == 4000 and len(exp.grids["cka"]) == 4001 and exp.grids["drs"] == main.experiments[0].grids["drs"]
    assert exp.data.spec["settings"]["probe"] == main.experiments[0].data.spec["settings"]["probe"]  # 4 x 512
    hours = overview.rule_hours(p)
    # planned, jobs one after another, 2 threads; measured 3 h 22 min (docs/paper-grid.md), over the 3 h hoped for
    assert sum(row["hours"] for row in hours.values()) < 4.0
    assert cost.plan_summaries(p)[-1].total_storage < 60e9  # this machine's free disk less other work


def run_plan(capsys, *argv: str) -> str:
    ap = argparse.ArgumentParser()
    cli_plan.register(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["plan", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_plan_command_prints_jobs_storage_hours_and_requests(tmp_path, capsys):
    path = write_config(tmp_path, tiny_raw())
    text = run_plan(capsys, str(path), "-C", str(tmp_path))
    lines = text.splitlines()
    assert lines[0].split() == ["experiment", "jobs", "done", "to", "run", "disk", "on", "disk", "hours", "left"]
    assert lines[1].split()[:4] == ["tiny", str(len(jobs.experiment_jobs(build(tiny_raw()), build(tiny_raw()).experiments[0]))), "0", lines[1].split()[1]]
    assert "largest first-attempt request per rule (device: cpu" in text
    assert "jobs per rule and estimated wall hours" in text and "storage policy (storage.grams: keep" in text
    rules_table = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ") and len(line.split()) == 6}
    assert rules_table["train_segment"][:3] == ["2", "0", "2"] and rules_table["cka_tile"][0] == "6"
    all_row = next(line.split() for line in lines if line.startswith("all experiments"))
    assert rules_table["total"][0] == all_row[2]  # one job count: the per-rule table adds up to the config's row
    assert rules_table["total"][3] == all_row[-2]  # and so do the hours
    data = json.loads(run_plan(capsys, str(path), "--json"))
    assert data["summaries"][-1]["jobs"] == jobs.count_by_rule(jobs.workflow_jobs(build(tiny_raw())))
    assert data["requests"]["train_segment"]["jobs"] == 2 and data["requests"]["cka_tile"]["gpu"] == 0
    assert data["rule_hours"]["cka_tile"]["jobs"] == 6
    total = data["summaries"][-1]
    assert data["storage_policies"]["grams_after_tiles"] == sum(total["storage_bytes"].values()) - total["storage_bytes"]["grams"]
    assert data["experiments"][-1]["jobs"] == sum(row["jobs"] for row in data["rule_hours"].values())
    only = run_plan(capsys, str(path), "--experiment", "tiny")
    assert "all experiments" not in only


def test_plan_command_names_an_unknown_experiment(tmp_path, capsys):
    path = write_config(tmp_path, tiny_raw())
    ap = argparse.ArgumentParser()
    cli_plan.register(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["plan", str(path), "--experiment", "nope"])
    with pytest.raises(ValueError, match="'nope'"):
        args.func(args)


def test_unknown_rule_has_no_cost():
    with pytest.raises(ValueError, match="'run_metrics'"):
        cost.job_work("run_metrics", build(tiny_raw()), {})
    with pytest.raises(ValueError, match="unknown rule"):
        jobs.count_by_rule([jobs.job("mystery")])


def test_job_wildcards_are_the_rules_output_wildcards():
    p = build(tiny_raw())
    names = {j.rule: set(j.wc) for j in jobs.workflow_jobs(p)}
    assert names["train_segment"] == {"run", "start", "end"} and names["cka_tile"] == {"stage", "id", "tile"}
    assert names["drs_assemble"] == {"id", "shape"} and names["spec"] == {"stage", "id"}
    segment = min(j for j in jobs.workflow_jobs(p) if j.rule == "train_segment")
    assert segment.wc["start"] == "000000" and Path(str(p.runs[segment.wc["run"]].segment_dir(0, 2))).name == "000000-000002"


def test_a_diagonal_cka_tile_is_planned_at_half_the_products_and_one_block_of_reads():
    p = plan.build(config.load(REPO / "configs" / "paper_grid_cpu.yaml"))
    (cka_id,) = p.ckas
    diagonal = cost.job_work("cka_tile", p, {"stage": "cka", "id": cka_id, "tile": "001001-002001_001001-002001"})
    off = cost.job_work("cka_tile", p, {"stage": "cka", "id": cka_id, "tile": "001001-002001_002002-003002"})
    assert off.gemm_flops == pytest.approx(2 * diagonal.gemm_flops)
    output = 6 * 1001 * 1001 * 8.0  # the tile's float64 matrices, written by both
    assert off.io_bytes - output == pytest.approx(2 * (diagonal.io_bytes - output))


def test_probe_work_follows_the_step_floor():
    """tiny_raw: 200 training images at probe batch 128 are 2 steps a pass; min_steps 8 makes 2 epochs 4."""
    def probe_work(min_steps: int):
        raw = tiny_raw()
        raw["defaults"]["probe"]["min_steps"] = min_steps
        p = build(raw)
        job = min(j for j in jobs.workflow_jobs(p) if j.rule == "probe_segment" and j.wc["start"] != j.wc["end"])
        epochs = len(p.probes[job.wc["id"]].part_epochs(int(job.wc["start"]), int(job.wc["end"])))
        return cost.job_work("probe_segment", p, job.wc), epochs
    floor, epochs = probe_work(8)
    plain, _ = probe_work(0)
    assert floor.probe_steps == epochs * 4 * 2 and plain.probe_steps == epochs * 2 * 2
    assert cost.seconds(floor, False, 1) > cost.seconds(plain, False, 1)


@pytest.mark.slow
def test_planned_disk_is_within_twice_what_a_finished_run_holds(tiny_run):
    """The planned bytes of every modelled job beside the bytes its output holds on disk (real run)."""
    p = build(tiny_raw())
    rows = overview.experiment_rows(p, tiny_run)
    total = rows[-1]
    assert total["done"] == total["jobs"]
    assert 0.5 < total["planned_bytes"] / total["on_disk_bytes"] < 2.0, total


@pytest.mark.slow
def test_every_jobs_output_exists_after_a_finished_run(tiny_run):
    done = overview.done_jobs(jobs.workflow_jobs(build(tiny_raw())), tiny_run)
    assert done == jobs.workflow_jobs(build(tiny_raw()))
