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

from repdyn import cost, jobs, plan, resources, rules, work


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


def rule_hours(p: plan.Plan) -> dict[str, dict[str, float]]:
    """Per modelled rule: jobs and summed estimated wall hours where the config runs them (CPU unless the rule
    is a GPU rule and device is cuda), serial, without job start-up: the planned time per stage."""
    out: dict[str, dict[str, float]] = {}
    for j in sorted(jobs.workflow_jobs(p)):
        if j.rule not in rules.MODELLED:
            continue
        on_gpu = resources.uses_gpu(j.rule, p.config.device)
        threads = rules.threads(j.rule, p.config.threads)
        row = out.setdefault(j.rule, {"jobs": 0, "hours": 0.0})
        row["jobs"] += 1
        row["hours"] += cost.seconds(cost.job_work(j.rule, p, j.wc), on_gpu, threads, j.rule) / 3600
    return {rule: out[rule] for rule in jobs.RULES if rule in out}


def hours_lines(hours: dict[str, dict[str, float]], device: str) -> list[str]:
    total = sum(row["hours"] for row in hours.values())
    lines = [f"estimated wall time per rule, jobs one after another (device: {device}; without job start-up)",
             f"  {'rule':<18}{'jobs':>6}{'hours':>9}"]
    lines += [f"  {rule:<18}{int(row['jobs']):>6}{row['hours']:>9.2f}" for rule, row in hours.items()]
    return lines + [f"  {'total':<18}{'':>6}{total:>9.2f}"]


def policy_footprints(p: plan.Plan, total: cost.Summary) -> dict[str, float]:
    """Bytes left on disk under each storage policy (docs/storage.md), from the whole config's summary.

    - keep: everything; also the peak of every policy, since each extraction part is read by a tile of the
      matrix's last block, which needs the end of training;
    - grams_after_tiles: without the Grams, at the end of the run;
    - cka_only_checkpoints: the checkpoints that only CKA extraction reads (off the DRS grid and the segment
      ends): what a checkpoint policy could free after extraction (not implemented, docs/storage.md).
    """
    cka_only = 0.0
    for run in p.runs.values():
        keep = {0, *(e for _, e in run.segments)}
        for exp in p.experiments:
            if exp.run.id == run.id:
                keep |= set(exp.grids.get("drs", ()))
        facts = work.run_facts(p, run.id)
        cka_only += facts.ckpt_bytes * len(set(run.checkpoint_epochs) - keep)
    return {"keep": total.total_storage, "grams_after_tiles": total.total_storage - total.storage.get("grams", 0.0),
            "cka_only_checkpoints": cka_only}


def policy_lines(footprints: dict[str, float], policy: str) -> list[str]:
    h = cost.human_bytes
    return [f"storage policy (storage.grams: {policy}; docs/storage.md)",
            f"  keep                   {h(footprints['keep'])} at the end and at the peak",
            f"  grams: after_tiles     {h(footprints['grams_after_tiles'])} at the end (peak as keep)",
            f"  checkpoints only CKA extraction reads: {h(footprints['cka_only_checkpoints'])} (kept: no policy deletes them)"]


def plan_report(p: plan.Plan, experiment: str | None = None, as_json: bool = False) -> str:
    """The text (or JSON) `repdyn plan` prints; `experiment` keeps only that experiment's summary."""
    summaries = cost.plan_summaries(p)
    footprints = policy_footprints(p, summaries[-1])
    if experiment:
        names = {e.name for e in p.experiments}
        if experiment not in names:
            raise ValueError(f"--experiment {experiment!r}: no such experiment (known: {', '.join(sorted(names))})")
        summaries = [s for s in summaries if s.name == experiment]
    requests = largest_requests(p)
    hours = rule_hours(p)
    if as_json:
        return json.dumps({"summaries": [{"name": s.name, "jobs": s.jobs, "storage_bytes": s.storage,
                                          "gpu_hours": s.gpu_hours, "cpu_hours": s.cpu_hours} for s in summaries],
                           "requests": requests, "rule_hours": hours,
                           "storage_policies": footprints}, indent=2)
    lines = [line for s in summaries for line in summary_lines(s)]
    return "\n".join(lines + request_lines(requests, p.config.device) + hours_lines(hours, p.config.device)
                     + policy_lines(footprints, p.config.storage["grams"]))
