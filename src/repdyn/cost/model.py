"""Cost model of a planned workflow: device time of a job, and jobs, disk and hours per experiment.

A job's work (repdyn.cost.work) becomes wall time at assumed sustained throughputs, deliberately modest:
GPU 20 TFLOP/s training, 40 TFLOP/s inference; CPU 10 GFLOP/s per thread for network passes, 15 (float64)
/ 30 (float32) GFLOP/s per thread for tile GEMMs; shared file system 200 MB/s; local scratch 1 GB/s.
Which rule runs where comes from the rule table (repdyn.scheduling.rule_table); docs/cost-model.md explains the model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from repdyn.cost.work import Work
from repdyn.plan import Plan
from repdyn.scheduling import rule_table as rules
from repdyn.scheduling.jobs import Job, count_by_rule, experiment_jobs, workflow_jobs

GPU_TRAIN_FLOPS = 20e12
GPU_INFER_FLOPS = 40e12
GPU_SECONDS_PER_IMAGE = 2e-5  # data pipeline and kernel launches per training image at batch 128
# Per image through a network on CPUs, on top of its FLOPs: at small widths (k = 2) a pass is far from FLOP-
# bound. Measured on the paper-grid run (k = 2, batch 128, 2 threads): 1.45e-4 s per training image unit,
# the same in all 16 training segments (docs/cost-model.md, "Calibration").
CPU_SECONDS_PER_IMAGE = 1.4e-4
PROBE_STEP_SECONDS = 3e-3  # per Adam step of all layers' probes besides FLOPs (measured at k = 2: 7.3 ms a step)
CPU_FLOPS_PER_THREAD = 10e9
CPU_GEMM_F64_PER_THREAD = 15e9
CPU_GEMM_F32_PER_THREAD = 30e9
SHARED_FS_BYTES_PER_S = 200e6
SCRATCH_BYTES_PER_S = 1e9

# Measured / modelled CPU wall time per rule, from `python bench/scale.py` on a finished run on CPUs
# (docs/cost-model.md, "Calibration"), where per-unit costs above do not explain the difference. A rule not
# listed keeps factor 1. GPU estimates are not calibrated (no GPU run measured yet).
CPU_CALIBRATION: dict[str, float] = {
    # the second paper-grid run (tiles of 1001 x 1001 epochs, 6 layers, 2 threads, streamed blocks): its 10
    # tiles took 1453 s, 0.78 of the model; about a third of each job is the input check reading every byte
    # of its 12.6-25 GB of Grams once more before the tile reads them (docs/paper-grid.md).
    "cka_tile": 0.78,
}


def seconds(work: Work, on_gpu: bool, threads: int, rule: str | None = None) -> float:
    """Estimated wall time of a job (without start-up), on a GPU or on `threads` CPU cores.

    With `rule`, a CPU estimate is multiplied by that rule's CPU_CALIBRATION factor.
    """
    factor = 1.0 if on_gpu or rule is None else CPU_CALIBRATION.get(rule, 1.0)
    return factor * _model_seconds(work, on_gpu, threads)


def _model_seconds(work: Work, on_gpu: bool, threads: int) -> float:
    if on_gpu:
        rate = GPU_TRAIN_FLOPS if work.training else GPU_INFER_FLOPS
        launches = work.images * GPU_SECONDS_PER_IMAGE if work.training else 0.0  # assumed for training only
        compute = work.device_flops / rate + launches + work.gemm_flops / GPU_INFER_FLOPS
    else:
        gemm_rate = CPU_GEMM_F64_PER_THREAD if work.gemm_float64 else CPU_GEMM_F32_PER_THREAD
        compute = (
            work.device_flops / (CPU_FLOPS_PER_THREAD * threads)
            + work.images * CPU_SECONDS_PER_IMAGE
            + work.gemm_flops / (gemm_rate * threads)
        )
    return (
        compute
        + work.probe_steps * PROBE_STEP_SECONDS
        + work.io_bytes / SHARED_FS_BYTES_PER_S
        + work.scratch_bytes / SCRATCH_BYTES_PER_S
        + work.fixed_seconds
    )


def job_work(rule: str, plan: Plan, wildcards: Mapping[str, str]) -> Work:
    """The work of one cluster job, named by its rule and its output's wildcards."""
    estimate = rules.RULES[rule].work if rule in rules.RULES else None
    if estimate is None:
        raise ValueError(f"rule {rule!r} has no cost model (cluster rules: {', '.join(sorted(rules.MODELLED))})")
    return estimate(plan, wildcards)


def human_bytes(n: float) -> str:
    """1.5 GB style (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def ceil_to(x: float, step: int) -> int:
    return int(math.ceil(x / step) * step)


# --------------------------------------------------------------------------- per-experiment summary


@dataclass(frozen=True)
class Summary:
    """Jobs, disk and device time of one experiment (or of the whole config, shared jobs once)."""

    name: str
    jobs: dict[str, int]
    storage: dict[str, float]  # stage -> bytes
    gpu_hours: float  # GPU rules, one GPU each, at the GPU throughputs above
    cpu_hours: float  # CPU rules (tiles, assembly, data, planes): job wall hours

    @property
    def total_storage(self) -> float:
        return sum(self.storage.values())


def summarize(name: str, plan: Plan, jobs: Iterable[Job], threads: int) -> Summary:
    """Sum the cost model over a set of repdyn.scheduling.jobs.Job (in sorted order: the same sums in every process)."""
    jobs = sorted(jobs)
    storage = {stage: 0.0 for stage in dict.fromkeys(rules.RULES[r].stage for r in rules.MODELLED)}
    gpu = cpu = 0.0
    for j in jobs:
        if j.rule not in rules.MODELLED:
            continue
        work = job_work(j.rule, plan, j.wc)
        storage[rules.RULES[j.rule].stage] += work.output_bytes
        if j.rule in rules.GPU_RULES:
            gpu += seconds(work, True, threads, j.rule)
        else:
            cpu += seconds(work, False, threads, j.rule)
    return Summary(name, count_by_rule(jobs), storage, gpu / 3600, cpu / 3600)


def plan_summaries(plan: Plan) -> list[Summary]:
    """One summary per experiment, then one for the whole config (jobs shared by experiments counted once)."""
    threads = plan.config.threads
    out = [summarize(exp.name, plan, experiment_jobs(plan, exp), threads) for exp in plan.experiments]
    out.append(summarize("all experiments", plan, workflow_jobs(plan), threads))
    return out
