"""`python -m repdyn plan CONFIG`: jobs, disk and device time of a config before anything runs.

Why: a paper-scale config is hundreds of GPU-hours and hundreds of GB; the numbers come from the plan and
the cost model (repdyn.jobs, repdyn.cost, repdyn.resources), so they are available without Snakemake,
SLURM or a GPU. Per experiment (shared artifacts counted in each) and for the whole config (shared jobs
once); the last table lists the largest first-attempt request per cluster rule, to compare with the
partitions' limits.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from repdyn import config as config_mod
from repdyn import cost, jobs, plan, resources


def _rules_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {rule}" for rule, n in counts.items())


def _storage_line(storage: dict[str, float]) -> str:
    return ", ".join(f"{stage} {cost.human_bytes(size)}" for stage, size in storage.items() if size)


def summary_lines(s: cost.Summary) -> list[str]:
    cluster = sum(n for rule, n in s.jobs.items() if rule not in jobs.LOCAL_RULES)
    return [
        s.name,
        f"  jobs     {sum(s.jobs.values())} ({cluster} on the cluster): {_rules_line(s.jobs)}",
        f"  storage  {cost.human_bytes(s.total_storage)}: {_storage_line(s.storage)}",
        f"  time     {s.gpu_hours:.1f} GPU-hours (GPU rules, one GPU each), {s.cpu_hours:.1f} CPU job-hours",
    ]


def largest_requests(p: plan.Plan) -> dict[str, dict[str, Any]]:
    """Per cluster rule: job count and the largest first-attempt runtime and memory request."""
    out: dict[str, dict[str, Any]] = {}
    for j in sorted(jobs.workflow_jobs(p)):
        if j.rule not in cost.WORK:
            continue
        r = resources.rule_resources(j.rule, p, j.wc, 1, p.config.device)
        row = out.setdefault(j.rule, {"jobs": 0, "runtime_max": 0, "mem_mb_max": 0, "gpu": r.get("gpu", 0)})
        row["jobs"] += 1
        row["runtime_max"] = max(row["runtime_max"], r["runtime"])
        row["mem_mb_max"] = max(row["mem_mb_max"], r["mem_mb"])
    return {rule: out[rule] for rule in jobs.RULES if rule in out}


def request_lines(requests: dict[str, dict[str, Any]], device: str) -> list[str]:
    lines = [f"largest first-attempt request per rule (device: {device}; each retry asks x{resources.RETRY_GROWTH})",
             f"  {'rule':<16}{'jobs':>7}{'runtime':>12}{'mem':>11}  gpu"]
    for rule, row in requests.items():
        hours = f"{row['runtime_max'] / 60:.1f} h"
        lines.append(f"  {rule:<16}{row['jobs']:>7}{hours:>12}{row['mem_mb_max'] / 1000:>8.1f} GB  {row['gpu']}")
    return lines


def cmd_plan(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.configs or ["config.yaml"])
    p = plan.build(cfg)
    summaries = cost.plan_summaries(p)
    if args.experiment:
        names = {e.name for e in p.experiments}
        if args.experiment not in names:
            raise ValueError(f"--experiment {args.experiment!r}: no such experiment (known: {', '.join(sorted(names))})")
        summaries = [s for s in summaries if s.name == args.experiment]
    requests = largest_requests(p)
    if args.json:
        print(json.dumps({"summaries": [{"name": s.name, "jobs": s.jobs, "storage_bytes": s.storage,
                                         "gpu_hours": s.gpu_hours, "cpu_hours": s.cpu_hours} for s in summaries],
                          "requests": requests}, indent=2))
        return 0
    for s in summaries:
        print("\n".join(summary_lines(s)))
    print("\n".join(request_lines(requests, cfg.device)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="job counts per rule, disk per stage and GPU-hours of a config (nothing runs)")
    p.add_argument("configs", nargs="*", help="YAML files, later ones merged on top (default: config.yaml)")
    p.add_argument("--experiment", default=None, help="only this experiment's summary")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)
