"""The workflow's rules in one table: per rule its stage, GPU or not, local or not, threads, work estimate.

Why: the cost model (repdyn.cost.model), the resources (repdyn.scheduling.resources) and the job counts
(repdyn.scheduling.jobs) all need these facts; kept here once, they cannot drift apart.
tests/unit/scheduling/test_rule_table.py checks the table against `snakemake --list-rules` and against the
`threads:` and `localrule:` of every rule in workflow/rules/*.smk and the Snakefile.

- stage: what the rule's outputs are, as `repdyn plan` groups their storage.
- gpu: the rule runs the network and asks for a GPU when the config says `device: cuda`.
- local: `localrule: True`; the job runs in the Snakemake process, never in the cluster's queue.
- threads: CONFIG (the config's `threads`) or a fixed number, as in the rule's `threads:`.
- work: the repdyn.cost.work or repdyn.cost.matrix_work estimate of one job (None: too small to model; such a rule
is local).
Order: the Snakefile's stages, which is how tables are printed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from repdyn.cost import matrix_work, work

CONFIG = "config"  # threads: CONFIG.threads


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str
    gpu: bool = False
    local: bool = False
    threads: int | str = 1
    work: Callable[[Any, Mapping[str, str]], work.Work] | None = None


TABLE: tuple[Rule, ...] = (
    Rule("spec", "specs", local=True),
    Rule("index", "index", local=True),
    Rule("prepare_data", "data", work=work.prepare_data),
    Rule("init", "checkpoints", gpu=True, threads=CONFIG, work=work.init),
    Rule("train_segment", "checkpoints", gpu=True, threads=CONFIG, work=work.train_segment),
    Rule("run_metrics", "metrics", local=True),
    Rule("extract_segment", "grams", gpu=True, threads=CONFIG, work=work.extract_segment),
    Rule("cka_tile", "cka tiles", threads=CONFIG, work=matrix_work.cka_tile),
    Rule("cka_assemble", "cka matrices", work=matrix_work.cka_assemble),
    Rule("cka_layer_pairs", "cka matrices", local=True),
    Rule("make_planes", "planes", work=work.make_planes),
    Rule("probe_segment", "probes", gpu=True, threads=CONFIG, work=work.probe_segment),
    Rule("planes_eval", "predictions", gpu=True, threads=CONFIG, work=work.planes_eval),
    Rule("drs_tile", "drs tiles", threads=CONFIG, work=matrix_work.drs_tile),
    Rule("drs_assemble", "drs matrices", work=matrix_work.drs_assemble),
    Rule("choose_pairs", "pairs", local=True),
    Rule("twopoint_fit", "two-point fits", local=True),
    Rule("report_experiment", "reports", local=True, work=matrix_work.report_experiment),
    Rule("report_index", "reports", local=True, work=matrix_work.report_index),
    Rule("all", "targets", local=True),
)

RULES: dict[str, Rule] = {r.name: r for r in TABLE}
NAMES: tuple[str, ...] = tuple(RULES)
MODELLED: tuple[str, ...] = tuple(r.name for r in TABLE if r.work is not None)  # rules with resource estimates
GPU_RULES: frozenset[str] = frozenset(r.name for r in TABLE if r.gpu)
LOCAL_RULES: frozenset[str] = frozenset(r.name for r in TABLE if r.local)


def rule(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"rule {name!r} is not in the rule table (rules: {', '.join(NAMES)})") from None


def threads(name: str, config_threads: int) -> int:
    """The threads a job of this rule runs with."""
    value = rule(name).threads
    return config_threads if value == CONFIG else int(value)
