"""What `repdyn plan CONFIG` reports: jobs, disk and device time of a config before anything runs.

Why: a paper-scale config is hundreds of GPU-hours and hundreds of GB; the numbers come from the plan and
the cost model (repdyn.jobs, repdyn.cost, repdyn.resources), so they are available without Snakemake,
SLURM or a GPU. Per experiment (shared artifacts counted in each) and for the whole config (shared jobs
once); the last table lists the largest first-attempt request per cluster rule, to compare with the
partitions' limits.
"""

from __future__ import annotations

import json
from typing import Any

from repdyn import cost, jobs, plan, resources, rules


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
        if j.rule not in rules.MODELLED:
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


def plan_report(p: plan.Plan, experiment: str | None = None, as_json: bool = False) -> str:
    """The text (or JSON) `repdyn plan` prints; `experiment` keeps only that experiment's summary."""
    summaries = cost.plan_summaries(p)
    if experiment:
        names = {e.name for e in p.experiments}
        if experiment not in names:
            raise ValueError(f"--experiment {experiment!r}: no such experiment (known: {', '.join(sorted(names))})")
        summaries = [s for s in summaries if s.name == experiment]
    requests = largest_requests(p)
    if as_json:
        return json.dumps({"summaries": [{"name": s.name, "jobs": s.jobs, "storage_bytes": s.storage,
                                          "gpu_hours": s.gpu_hours, "cpu_hours": s.cpu_hours} for s in summaries],
                           "requests": requests}, indent=2)
    lines = [line for s in summaries for line in summary_lines(s)]
    return "\n".join(lines + request_lines(requests, p.config.device))
