"""What `repdyn plan CONFIG` reports: jobs, disk and device time of a config before anything runs.

Why: a paper-scale config is hundreds of GPU-hours and hundreds of GB; the numbers come from the plan and
the cost model (repdyn.scheduling.jobs, repdyn.cost.model, repdyn.scheduling.resources), so they are available
without Snakemake,
SLURM or a GPU. Per experiment (shared artifacts counted in each) and for the whole config (shared jobs
once); the last table lists the largest first-attempt request per cluster rule, to compare with the
partitions' limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repdyn import plan
from repdyn.cost import model as cost
from repdyn.cost import work
from repdyn.scheduling import jobs, resources
from repdyn.scheduling import rule_table as rules


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
    lines = [
        f"largest first-attempt request per rule (device: {device}; each retry asks x{resources.RETRY_GROWTH})",
        f"  {'rule':<18}{'jobs':>5}{'runtime':>12}{'mem':>11}  gpu",
    ]
    for rule, row in requests.items():
        hours = f"{row['runtime_max'] / 60:.1f} h"
        lines.append(f"  {rule:<18}{row['jobs']:>5}{hours:>12}{row['mem_mb_max'] / 1000:>8.1f} GB  {row['gpu']}")
    return lines


def job_hours(p: plan.Plan, j: jobs.Job) -> float:
    """A modelled job's estimated wall hours where the config runs it (CPU unless a GPU rule with device cuda)."""
    on_gpu = resources.uses_gpu(j.rule, p.config.device)
    return cost.seconds(cost.job_work(j.rule, p, j.wc), on_gpu, rules.threads(j.rule, p.config.threads), j.rule) / 3600


def rule_hours(p: plan.Plan, root: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Per rule: jobs and summed estimated wall hours (0 for the small rules without a cost model), serial,
    without job start-up: the planned time per stage. With `root`, also the jobs whose output exists there
    (`done`) and the hours of the others."""
    out: dict[str, dict[str, float]] = {}
    every = jobs.workflow_jobs(p)
    done = done_jobs(every, root) if root is not None else set()
    for j in sorted(every):
        row = out.setdefault(j.rule, {"jobs": 0, "hours": 0.0, "done": 0, "hours_left": 0.0})
        hours = job_hours(p, j) if j.rule in rules.MODELLED else 0.0
        row["jobs"] += 1
        row["hours"] += hours
        if j in done:
            row["done"] += 1
        else:
            row["hours_left"] += hours
    return {rule: out[rule] for rule in jobs.RULES if rule in out}


def hours_lines(hours: dict[str, dict[str, float]], device: str) -> list[str]:
    total = {k: sum(row[k] for row in hours.values()) for k in ("jobs", "done", "hours", "hours_left")}
    lines = [
        f"jobs per rule and estimated wall hours, one after another (device: {device}; without job start-up)",
        f"  {'rule':<18}{'jobs':>6}{'done':>6}{'to run':>8}{'hours':>9}{'left':>9}",
    ]
    rows = [*hours.items(), ("total", total)]
    lines += [
        f"  {rule:<18}{int(row['jobs']):>6}{int(row['done']):>6}{int(row['jobs'] - row['done']):>8}"
        f"{row['hours']:>9.2f}{row['hours_left']:>9.2f}"
        for rule, row in rows
    ]
    return lines


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
    return {
        "keep": total.total_storage,
        "grams_after_tiles": total.total_storage - total.storage.get("grams", 0.0),
        "cka_only_checkpoints": cka_only,
    }


def policy_lines(footprints: dict[str, float], policy: str) -> list[str]:
    h = cost.human_bytes
    return [
        f"storage policy (storage.grams: {policy}; docs/storage.md)",
        f"  keep                   {h(footprints['keep'])} at the end and at the peak",
        f"  grams: after_tiles     {h(footprints['grams_after_tiles'])} at the end (peak as keep)",
        f"  checkpoints only CKA extraction reads: {h(footprints['cka_only_checkpoints'])} "
        "(kept: no policy deletes them)",
    ]


def done_jobs(group: set[jobs.Job] | list[jobs.Job], root: str | Path) -> set[jobs.Job]:
    """The jobs whose output exists under `root`; `all` (which writes nothing) once every other one is done."""
    done = {j for j in group if (out := jobs.output(j)) is not None and (Path(root) / out).exists()}
    rest = {j for j in group if jobs.output(j) is None}
    return done | rest if len(done) + len(rest) == len(set(group)) else done


def _bytes_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def experiment_rows(p: plan.Plan, root: str | Path) -> list[dict[str, Any]]:
    """Per experiment (shared jobs counted in each), then the whole config (shared jobs once): jobs, done,
    planned disk beside what the finished jobs hold, estimated hours and hours left, where the config runs them."""
    groups = [(e.name, jobs.experiment_jobs(p, e)) for e in p.experiments] + [
        ("all experiments", jobs.workflow_jobs(p))
    ]
    rows = []
    for name, group in groups:
        modelled = [j for j in sorted(group) if j.rule in rules.MODELLED]
        done = done_jobs(group, root)
        hours = {j: job_hours(p, j) for j in modelled}
        rows.append(
            {
                "name": name,
                "jobs": len(group),
                "done": len(done),
                "planned_bytes": cost.summarize(name, p, modelled, p.config.threads).total_storage,
                "on_disk_bytes": sum(
                    _bytes_on_disk(Path(root) / jobs.output(j)) for j in done if j.rule in rules.MODELLED
                ),
                "hours": sum(hours.values()),
                "hours_left": sum(h for j, h in hours.items() if j not in done),
            }
        )
    return rows


def experiment_lines(rows: list[dict[str, Any]], device: str) -> list[str]:
    width = max(len(r["name"]) for r in rows)
    where = "GPU rules on the GPU" if device == "cuda" else "every job on CPUs"
    h = cost.human_bytes
    lines = [
        f"{'experiment':<{width}}{'jobs':>7}{'done':>7}{'to run':>8}{'disk':>11}{'on disk':>11}{'hours':>9}{'left':>9}"
    ]
    lines += [
        f"{r['name']:<{width}}{r['jobs']:>7}{r['done']:>7}{r['jobs'] - r['done']:>8}{h(r['planned_bytes']):>11}"
        f"{h(r['on_disk_bytes']):>11}{r['hours']:>9.2f}{r['hours_left']:>9.2f}"
        for r in rows
    ]
    return lines + [
        f"  disk: planned for all jobs; on disk: what the finished ones hold. hours: estimated wall time "
        f"of the jobs one after another (device {device}: {where})"
    ]


def plan_report(p: plan.Plan, experiment: str | None = None, as_json: bool = False, root: str | Path = ".") -> str:
    """The text (or JSON) `repdyn plan` prints; `experiment` keeps only that experiment's row. Jobs whose output
    exists under `root` count as done."""
    summaries = cost.plan_summaries(p)
    footprints = policy_footprints(p, summaries[-1])
    rows = experiment_rows(p, root)
    if experiment:
        names = {e.name for e in p.experiments}
        if experiment not in names:
            raise ValueError(f"--experiment {experiment!r}: no such experiment (known: {', '.join(sorted(names))})")
        summaries = [s for s in summaries if s.name == experiment]
        rows = [r for r in rows if r["name"] == experiment]
    requests = largest_requests(p)
    hours = rule_hours(p, root)
    if as_json:
        return json.dumps(
            {
                "experiments": rows,
                "summaries": [
                    {
                        "name": s.name,
                        "jobs": s.jobs,
                        "storage_bytes": s.storage,
                        "gpu_hours": s.gpu_hours,
                        "cpu_hours": s.cpu_hours,
                    }
                    for s in summaries
                ],
                "requests": requests,
                "rule_hours": hours,
                "storage_policies": footprints,
            },
            indent=2,
        )
    disk = ", ".join(f"{stage} {cost.human_bytes(size)}" for stage, size in summaries[-1].storage.items() if size)
    return "\n".join(
        experiment_lines(rows, p.config.device)
        + [""]
        + hours_lines(hours, p.config.device)
        + [f"disk per stage: {disk}", ""]
        + request_lines(requests, p.config.device)
        + [""]
        + policy_lines(footprints, p.config.storage["grams"])
    )
