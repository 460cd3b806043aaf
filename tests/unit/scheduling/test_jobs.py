"""repdyn.scheduling.jobs: job counts against `snakemake -n`, shared jobs, wildcards."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.configs import plan_of, tiny_raw
from support.workflow import planned_jobs, write_config

from repdyn.cost import model as cost
from repdyn.scheduling import jobs


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
    assert jobs.count_by_rule(jobs.workflow_jobs(plan_of(raw))) == expected


def test_shared_jobs_count_once_for_the_config_and_for_each_experiment():
    p = plan_of(shared_raw())
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


def test_job_wildcards_are_the_rules_output_wildcards():
    p = plan_of(tiny_raw())
    names = {j.rule: set(j.wc) for j in jobs.workflow_jobs(p)}
    assert names["train_segment"] == {"run", "start", "end"} and names["cka_tile"] == {"stage", "id", "tile"}
    assert names["drs_assemble"] == {"id", "shape"} and names["spec"] == {"stage", "id"}
    segment = min(j for j in jobs.workflow_jobs(p) if j.rule == "train_segment")
    assert (
        segment.wc["start"] == "000000"
        and Path(str(p.runs[segment.wc["run"]].segment_dir(0, 2))).name == "000000-000002"
    )
