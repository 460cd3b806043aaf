"""`repdyn plan`: jobs, storage, hours and requests of a config, and its errors."""

from __future__ import annotations

import argparse
import json

import pytest
from support.configs import plan_of, tiny_raw
from support.workflow import write_config

from repdyn.cli import planning as cli_plan
from repdyn.scheduling import jobs


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
    assert lines[1].split()[:4] == [
        "tiny",
        str(len(jobs.experiment_jobs(plan_of(tiny_raw()), plan_of(tiny_raw()).experiments[0]))),
        "0",
        lines[1].split()[1],
    ]
    assert "largest first-attempt request per rule (device: cpu" in text
    assert "jobs per rule and estimated wall hours" in text and "storage policy (storage.grams: keep" in text
    rules_table = {
        line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ") and len(line.split()) == 6
    }
    assert rules_table["train_segment"][:3] == ["2", "0", "2"] and rules_table["cka_tile"][0] == "6"
    all_row = next(line.split() for line in lines if line.startswith("all experiments"))
    assert rules_table["total"][0] == all_row[2]  # one job count: the per-rule table adds up to the config's row
    assert rules_table["total"][3] == all_row[-2]  # and so do the hours
    data = json.loads(run_plan(capsys, str(path), "--json"))
    assert data["summaries"][-1]["jobs"] == jobs.count_by_rule(jobs.workflow_jobs(plan_of(tiny_raw())))
    assert data["requests"]["train_segment"]["jobs"] == 2 and data["requests"]["cka_tile"]["gpu"] == 0
    assert data["rule_hours"]["cka_tile"]["jobs"] == 6
    total = data["summaries"][-1]
    assert (
        data["storage_policies"]["grams_after_tiles"]
        == sum(total["storage_bytes"].values()) - total["storage_bytes"]["grams"]
    )
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
