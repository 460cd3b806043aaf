"""repdyn.plan.inputs: what each rule's job reads, which inputs are Ancient (wrapped in ancient()), the epoch params."""

from __future__ import annotations

import pytest
from support.configs import tiny_raw

from repdyn import config, plan
from repdyn.plan.inputs import (
    Ancient,
    cka_assemble_inputs,
    cka_tile_inputs,
    drs_assemble_inputs,
    extract_epochs,
    preds_inputs,
    report_args,
    segment_checkpoints,
    segment_inputs,
)
from repdyn.scheduling import jobs


def tiny_plan() -> plan.Plan:
    return plan.build(config.resolve(tiny_raw()))


def first(p: plan.Plan, rule: str) -> dict[str, str]:
    return min(j for j in jobs.workflow_jobs(p) if j.rule == rule).wc


def test_checkpoint_edges_are_not_ancient_and_fixed_inputs_are():
    p = tiny_plan()
    run = next(iter(p.runs.values()))
    second = {"run": run.id, "start": "000002", "end": "000004"}
    got = segment_inputs(p, second)
    assert isinstance(got["spec"], Ancient) and got["spec"] == f"results/train/{run.id}/spec.json"
    assert isinstance(got["data"], Ancient)
    assert got["state"] == f"results/train/{run.id}/segments/000000-000002" and not isinstance(got["state"], Ancient)
    assert segment_checkpoints(p, second) == "3,4"
    preds = preds_inputs(p, first(p, "planes_eval"))
    assert not isinstance(preds["probes"], Ancient) and not isinstance(preds["source"], Ancient)
    assert isinstance(preds["planes"], Ancient)


def test_tiles_read_parts_as_fixed_and_assembly_reads_every_tile():
    p = tiny_plan()
    tile = cka_tile_inputs(p, first(p, "cka_tile"))
    assert tile["rows"] and all(isinstance(d, Ancient) for d in tile["rows"] + tile["cols"])
    wc = first(p, "cka_assemble")
    assembled = cka_assemble_inputs(p, wc)
    art = p.ckas[wc["id"]]
    assert assembled["tiles"] == [str(art.tile_dir(t)) for t in art.tiles(4, 4)] and len(assembled["tiles"]) == 6
    drs = drs_assemble_inputs(p, first(p, "drs_assemble"))
    assert len(drs["probes"]) == 3 and isinstance(drs["metrics"], Ancient)  # init part (epoch 0) and two segments
    assert extract_epochs(p, {"id": art.rows.id, "start": "000000", "end": "000002"}) == "1,2"


def test_unknown_ids_name_the_artifact():
    p = tiny_plan()
    with pytest.raises(KeyError, match="no cka artifact 000000000000 in the current config"):
        cka_tile_inputs(p, {"stage": "cka", "id": "000000000000", "tile": "000000-000001_000000-000001"})
    with pytest.raises(KeyError, match="no experiment 'nope'"):
        report_args(p, {"name": "nope"})
    assert "--init-tolerance" in report_args(p, {"name": "tiny"})
