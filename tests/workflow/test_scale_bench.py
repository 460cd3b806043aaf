"""bench/scale.py: measured cost of a finished run beside the plan, on the shared reported run (no run of its own)."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from support import REPO

from repdyn import config, plan
from repdyn.scheduling import rule_table as rules


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_benchmark_paths_are_the_rules_benchmark_paths():
    """One fact in two places: the table in bench/scale.py must say what the rule files say."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    found = dict(re.findall(r'^rule (\w+):.*?benchmark:\s*\n\s*"([^"]+)"', text, flags=re.S | re.M))
    bench = load_bench()
    assert set(bench.BENCHMARKS) == set(rules.MODELLED)
    for rule, path in bench.BENCHMARKS.items():
        assert found.get(rule) == path, rule


@pytest.mark.slow
def test_scale_report_of_a_finished_run(reported_run, tmp_path):
    work, cfg = reported_run
    bench = load_bench()
    result = bench.measure(work, cfg)
    rows = {r.rule: r for r in result["rules"]}
    assert set(rows) == set(rules.MODELLED)
    for row in rows.values():
        assert row.measured_jobs == row.planned_jobs > 0, (row.rule, row.missing)
        assert row.wall_s > 0 and row.rss_mb > 0 and row.predicted_wall_s > 0, row.rule
    storage = {stage: (measured, predicted) for stage, measured, predicted in result["storage"]}
    for stage in ("data", "checkpoints", "grams", "cka tiles", "cka matrices", "probes", "predictions", "reports"):
        assert storage[stage][0] > 0 and storage[stage][1] > 0, stage
    text = bench.format_report(result["rules"], result["storage"])
    assert all(rule in text for rule in rules.MODELLED) and "grams" in text
    assert bench.main(["--directory", str(work), "--configfile", str(cfg), "--json", str(tmp_path / "s.json")]) == 0
    assert (tmp_path / "s.json").read_text().count('"rule"') == len(rules.MODELLED)
    # paper-scale estimates: this run's seconds per modelled FLOP times the paper config's FLOPs
    paper = plan.build(config.load(REPO / "configs" / "cifar10_resnet18_adam.yaml"))
    scaled = bench.scaled_hours(result["rules"], paper)
    assert {"train_segment", "extract_segment", "cka_tile", "planes_eval"} <= set(scaled)
    train = rows["train_segment"]
    flops, hours = scaled["train_segment"]
    assert hours == pytest.approx(flops * train.wall_s / train.flops / 3600)
    assert "ESTIMATES" in bench.format_scaled(scaled, "paper")
