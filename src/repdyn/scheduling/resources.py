"""Snakemake resources per job (runtime, memory, GPU) estimated from the config, growing with each retry.

Why: constant requests are wrong by orders of magnitude across the configs this workflow runs (a
width-2 ResNet on 200 images vs ViT-B/16 at 224 px on CIFAR-10): too small and SLURM kills the job,
too large and it waits in the queue. The estimate comes from repdyn.cost.model (FLOPs, bytes per job):

    runtime [min] = ceil(growth * max(RUNTIME_FLOOR_MIN, (STARTUP_S + RUNTIME_SAFETY * seconds) / 60))
    mem_mb        = ceil_100(growth * max(MEM_FLOOR_MB, MEM_SAFETY * (BASE_MB [+ CUDA_HOST_MB] + host MB
                                                                     [+ activations MB on the CPU])))
    growth        = RETRY_GROWTH ** (attempt - 1)

where `seconds` is repdyn.cost.model.seconds of the job's work on one GPU (GPU rules with device: cuda) or on
`threads` CPU cores (threads and GPU rules: repdyn.scheduling.rule_table). GPU rules ask for `gpu=1` and
`cpus_per_gpu=threads` only when the
config says device: cuda; with auto or cpu they are CPU jobs (auto would find no GPU in an allocation
without one). On SLURM they then also go to $REPDYN_GPU_PARTITION (default "gpu") and, when
$REPDYN_GPU_MODEL is set, ask for that model (--gpus=<model>:1): both are set here, not in the profile,
because the profile cannot see the config's device and a `gpu_model` alone makes the plugin request a
GPU. Tile and assembly rules are always CPU jobs.

In a rule (Snakemake accepts a mapping unpacked into `resources:`; values may be callables of
wildcards and attempt):

    resources:
        **repdyn.scheduling.resources.for_rule("cka_tile", PLAN, CONFIG.device),
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from repdyn.config.integers import require_int
from repdyn.cost import model as cost
from repdyn.plan import Plan
from repdyn.scheduling import rule_table as rules

GPU_RULES = rules.GPU_RULES
CLUSTER_RULES: tuple[str, ...] = rules.MODELLED  # every rule with a work estimate has resources

STARTUP_S = 180.0  # queue-side start: two Snakemake parses, torch import, CUDA context, dataset open
RUNTIME_SAFETY = 2.0
RUNTIME_FLOOR_MIN = 10
MEM_SAFETY = 1.25
MEM_FLOOR_MB = 2000
BASE_MB = 1500  # Python, torch, Snakemake
CUDA_HOST_MB = 1500  # host side of a CUDA context and pinned buffers
RETRY_GROWTH = 1.5

ENV_GPU_PARTITION = "REPDYN_GPU_PARTITION"
ENV_GPU_MODEL = "REPDYN_GPU_MODEL"
DEVICES = ("auto", "cpu", "cuda")


def uses_gpu(rule: str, device: str) -> bool:
    """Whether a job of `rule` asks the scheduler for a GPU."""
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is unknown; allowed values: {', '.join(DEVICES)}")
    return rule in GPU_RULES and device == "cuda"


def _wildcards(wildcards: Any) -> dict[str, str]:
    """Snakemake's Wildcards object, or a plain mapping, as {name: value}."""
    return {str(k): str(v) for k, v in wildcards.items()}  # both have items() of (name, value)


def rule_resources(rule: str, plan: Plan, wildcards: Any, attempt: int, device: str) -> dict[str, Any]:
    """Resources of one job: runtime (minutes), mem_mb, and gpu/cpus_per_gpu/slurm_partition on a GPU."""
    if rule not in rules.MODELLED:
        raise ValueError(f"rule {rule!r} has no resource estimate (rules: {', '.join(CLUSTER_RULES)})")
    require_int("attempt", attempt)
    gpu = uses_gpu(rule, device)
    threads = rules.threads(rule, plan.config.threads)
    work = cost.job_work(rule, plan, _wildcards(wildcards))
    growth = RETRY_GROWTH ** (attempt - 1)
    minutes = max(RUNTIME_FLOOR_MIN, (STARTUP_S + RUNTIME_SAFETY * cost.seconds(work, gpu, threads, rule)) / 60)
    host_mb = BASE_MB + (CUDA_HOST_MB if gpu else 0) + (work.host_bytes + (0 if gpu else work.activation_bytes)) / 1e6
    out: dict[str, Any] = {
        "runtime": math.ceil(growth * minutes),
        "mem_mb": cost.ceil_to(growth * max(MEM_FLOOR_MB, MEM_SAFETY * host_mb), 100),
    }
    if gpu:
        out.update(gpu=1, cpus_per_gpu=threads, slurm_partition=os.environ.get(ENV_GPU_PARTITION) or "gpu")
        model = os.environ.get(ENV_GPU_MODEL)
        if model:
            out["gpu_model"] = model
    return out


def resource_keys(rule: str, device: str) -> tuple[str, ...]:
    """The keys rule_resources returns for this rule and device (fixed per rule, as Snakemake needs)."""
    keys = ("runtime", "mem_mb")
    if uses_gpu(rule, device):
        keys += ("gpu", "cpus_per_gpu", "slurm_partition") + (("gpu_model",) if os.environ.get(ENV_GPU_MODEL) else ())
    return keys


def for_rule(rule: str, plan: Plan, device: str) -> dict[str, Callable[..., Any]]:
    """`resources:` of a rule: one callable of (wildcards, attempt) per key, sharing one estimate per job."""
    if rule not in rules.MODELLED:
        raise ValueError(f"rule {rule!r} has no resource estimate (rules: {', '.join(CLUSTER_RULES)})")
    cache: dict[tuple, dict[str, Any]] = {}

    def estimate(wildcards: Any, attempt: int) -> dict[str, Any]:
        key = (tuple(sorted(_wildcards(wildcards).items())), attempt)
        if key not in cache:
            cache[key] = rule_resources(rule, plan, wildcards, attempt, device)
        return cache[key]

    def getter(name: str) -> Callable[..., Any]:
        return lambda wildcards, attempt: estimate(wildcards, attempt)[name]

    return {name: getter(name) for name in resource_keys(rule, device)}


def rule_lines(rule: str) -> str:
    """What to write in a rule's `resources:` (extra keys of the rule go after it)."""
    if rule not in rules.MODELLED:
        raise ValueError(f"rule {rule!r} has no resource estimate (rules: {', '.join(CLUSTER_RULES)})")
    return f'    resources:\n        **repdyn.scheduling.resources.for_rule("{rule}", PLAN, CONFIG.device),\n'
