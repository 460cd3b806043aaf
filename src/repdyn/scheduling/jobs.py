"""The jobs the workflow runs for a plan, rule by rule, without Snakemake.

Why: `repdyn plan` and the cost model need job counts and per-job wildcards for
configs far too large to dry-run casually, and the resource estimates must be
computable per job in tests. This module mirrors the rules' outputs
(workflow/rules/*.smk) from the plan alone: a job is a rule name plus the
wildcard values of its output, exactly as Snakemake would name it, and
tests/unit/scheduling/test_jobs.py checks the counts against `snakemake -n`.

Per experiment, the set holds every job its targets need (shared artifacts are
counted for every experiment that uses them); `workflow_jobs` is the union the
workflow runs once, plus `index` and `all`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from repdyn.plan import Plan
from repdyn.plan.core import ExperimentPlan, RunArtifact
from repdyn.scheduling import rule_table as rules
from repdyn.tiling.names import tile_name

# Rule order of the Snakefile's stages (for printing), and the rules run inside the Snakemake process.
RULES: tuple[str, ...] = rules.NAMES
LOCAL_RULES: frozenset[str] = rules.LOCAL_RULES


@dataclass(frozen=True, order=True)
class Job:
    """One job: its rule and its output's wildcard values (strings, as Snakemake passes them)."""

    rule: str
    wildcards: tuple[tuple[str, str], ...] = ()

    @property
    def wc(self) -> dict[str, str]:
        return dict(self.wildcards)


def job(rule: str, **wildcards: Any) -> Job:
    return Job(rule, tuple(sorted((k, str(v)) for k, v in wildcards.items())))


def _pos(epoch: int) -> str:
    return f"{epoch:06d}"


def _run_jobs(plan: Plan, run: RunArtifact, length: int) -> set[Job]:
    """Data, init and the training segments through `length`, with their specs."""
    data = plan.data[run.data_id]
    out = {
        job("spec", stage="data", id=data.id),
        job("prepare_data", id=data.id),
        job("spec", stage="train", id=run.id),
        job("init", run=run.id),
    }
    out |= {job("train_segment", run=run.id, start=_pos(s), end=_pos(e)) for s, e in run.segments_through(length)}
    return out


def _parts(artifact: Any, rule: str, epochs: Iterable[int]) -> set[Job]:
    """Per-segment parts (extraction, probes, predictions) holding any of `epochs`."""
    wanted = set(epochs)
    return {
        job(rule, id=artifact.id, start=_pos(s), end=_pos(e))
        for s, e, inside in artifact.parts
        if wanted.intersection(inside)
    }


def _cka_jobs(plan: Plan, exp: ExperimentPlan) -> set[Job]:
    out: set[Job] = set()
    pairs = [(exp.cka, exp)] if exp.cka is not None else []
    pairs += [(art, plan.experiment(other)) for other, art in exp.cka_cross]
    for art, col_exp in pairs:
        rows, cols = art.epochs(exp.epochs, col_exp.epochs)
        out |= {
            job("spec", stage=art.stage, id=art.id),
            job("spec", stage="extract", id=art.rows.id),
            job("spec", stage="extract", id=art.cols.id),
        }
        out |= _parts(art.rows, "extract_segment", rows) | _parts(art.cols, "extract_segment", cols)
        out |= {j for extract in (art.rows, art.cols) for j in _pairs_jobs(plan, extract)}
        out |= _run_jobs(plan, art.cols.run, col_exp.epochs)
        out |= {
            job("cka_tile", stage=art.stage, id=art.id, tile=tile_name(t))
            for t in art.tiles(exp.epochs, col_exp.epochs)
        }
        shape = art.assembled_dir(exp.epochs, col_exp.epochs).name
        out.add(job("cka_assemble", stage=art.stage, id=art.id, shape=shape))
        out.add(job("run_metrics", run=art.rows.run.id, end=_pos(exp.epochs)))
    out |= {job("cka_layer_pairs", id=exp.cka.id, epoch=d.name[1:]) for d in exp.layer_pairs_dirs}
    return out


def _pairs_jobs(plan: Plan, extract: Any) -> set[Job]:
    """The pairs an extraction forwards, with their spec."""
    pairs_id = extract.spec["inputs"]["pairs"]
    return {job("spec", stage="pairs", id=pairs_id), job("choose_pairs", id=pairs_id)}


def _twopoint_jobs(exp: ExperimentPlan) -> set[Job]:
    art = exp.twopoint
    if art is None:
        return set()
    return {
        job("spec", stage="twopoint", id=art.id),
        job("twopoint_fit", id=art.id, shape=art.result_dir(exp.epochs).name),
    }


def _drs_jobs(exp: ExperimentPlan) -> set[Job]:
    art = exp.drs
    if art is None:
        return set()
    preds, probe, planes = art.preds, art.preds.probe, art.preds.planes
    epochs = art.epochs(exp.epochs)
    out = {
        job("spec", stage="drs", id=art.id),
        job("spec", stage="preds", id=preds.id),
        job("spec", stage="probe", id=probe.id),
        job("spec", stage="planes", id=planes.id),
        job("make_planes", id=planes.id),
    }
    out |= _parts(preds, "planes_eval", epochs) | _parts(probe, "probe_segment", epochs)
    out |= {job("drs_tile", id=art.id, tile=tile_name(t)) for t in art.tiles(exp.epochs)}
    out.add(job("drs_assemble", id=art.id, shape=art.assembled_dir(exp.epochs).name))
    return out


def experiment_jobs(plan: Plan, exp: ExperimentPlan) -> set[Job]:
    """Every job one experiment's targets need."""
    out = _run_jobs(plan, exp.run, exp.epochs)
    out.add(job("run_metrics", run=exp.run.id, end=_pos(exp.epochs)))
    out.add(job("report_experiment", name=exp.name))
    return out | _cka_jobs(plan, exp) | _drs_jobs(exp) | _twopoint_jobs(exp)


def workflow_jobs(plan: Plan) -> set[Job]:
    """What `snakemake` schedules for this plan on an empty results/ (each shared job once)."""
    out = {job("index"), job("report_index"), job("all")}
    for exp in plan.experiments:
        out |= experiment_jobs(plan, exp)
    return out


def count_by_rule(jobs: Iterable[Job]) -> dict[str, int]:
    """Rule -> job count, in the Snakefile's stage order."""
    counts = Counter(j.rule for j in jobs)
    unknown = set(counts) - set(RULES)
    if unknown:
        raise ValueError(f"jobs of unknown rule(s) {sorted(unknown)}")
    return {rule: counts[rule] for rule in RULES if counts[rule]}


# Each rule's output as workflow/rules/*.smk names it (tests/workflow/test_cost.py checks them on a finished
# run).
OUTPUTS: dict[str, str] = {
    "spec": "results/{stage}/{id}/spec.json",
    "index": "results/index.json",
    "prepare_data": "results/data/{id}/dataset.h5",
    "init": "results/train/{run}/init",
    "train_segment": "results/train/{run}/segments/{start}-{end}",
    "run_metrics": "results/train/{run}/metrics/e{end}.tsv",
    "extract_segment": "results/extract/{id}/{start}-{end}",
    "cka_tile": "results/{stage}/{id}/tiles/{tile}",
    "cka_assemble": "results/{stage}/{id}/{shape}",
    "make_planes": "results/planes/{id}/planes.zarr",
    "probe_segment": "results/probe/{id}/{start}-{end}",
    "planes_eval": "results/preds/{id}/{start}-{end}",
    "drs_tile": "results/drs/{id}/tiles/{tile}",
    "drs_assemble": "results/drs/{id}/{shape}",
    "choose_pairs": "results/pairs/{id}/pairs.json",
    "twopoint_fit": "results/twopoint/{id}/{shape}",
    "report_experiment": "reports/experiments/{name}",
    "report_index": "reports/index.html",
}


def output(j: Job) -> str | None:
    """The path of a job's output relative to the work directory (None for `all`, which writes nothing)."""
    pattern = OUTPUTS.get(j.rule)
    return None if pattern is None else pattern.format(**j.wc)
