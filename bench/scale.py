"""Measured cost of a finished workflow run beside what `repdyn plan` predicted, per rule (issue 12, item 2).

    python bench/scale.py [--directory DIR] [--configfile CONFIG] [--json out.json]

DIR is the workflow's working directory (default: the repository root): its benchmarks/<rule>/... files
(Snakemake's `benchmark:` tables: wall s, max_rss, cpu_time) and its results/ and reports/. CONFIG defaults
to DIR/config.yaml. Per rule of the plan it prints

- jobs: benchmark files found / jobs planned (repdyn.scheduling.jobs; a rule may be partly run);
- wall s: summed measured wall time / summed repdyn.cost.model.seconds of the same jobs (CPU, `threads`);
- cpu s: summed measured CPU seconds / predicted wall time x the rule's threads (a compute-bound job);
- peak RSS: largest measured max_rss / largest predicted resident memory (BASE_MB + host + activations,
  the request without repdyn.scheduling.resources' safety factor);
- ratio: measured / predicted for each;

and per storage stage the bytes on disk of the plan's artifacts beside the predicted storage. With
--scale-to PAPER_CONFIG it also estimates PAPER_CONFIG's hours per rule: its modelled FLOPs times this run's
measured seconds per modelled FLOP (labelled ESTIMATES; hours on the device this run ran on: GPU-hours when
the run's GPU rules ran on a GPU). Ratios
outside [1/1.5, 1.5] are flagged with `!`: docs/cost-model.md ("Calibration") says how to fold them into
repdyn.cost.model.CPU_CALIBRATION. Predictions use the config's device only to pick CPU or GPU throughput: a run on
a CPU-only machine is compared with CPU predictions (pass --gpu for a run whose GPU rules ran on a GPU).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # benchmark the checkout it ships with

from repdyn import config, plan  # noqa: E402
from repdyn.cost import model as cost
from repdyn.scheduling import jobs, resources
from repdyn.scheduling import rule_table as rules

# Snakemake `benchmark:` paths of the modelled rules (workflow/rules/*.smk; tests/workflow/test_scale_bench.py
# checks them against the rule files).
BENCHMARKS: dict[str, str] = {
    "prepare_data": "benchmarks/prepare_data/{id}.tsv",
    "init": "benchmarks/init/{run}.tsv",
    "train_segment": "benchmarks/train_segment/{run}/{start}-{end}.tsv",
    "extract_segment": "benchmarks/extract_segment/{id}/{start}-{end}.tsv",
    "cka_tile": "benchmarks/{stage}_tile/{id}/{tile}.tsv",
    "cka_assemble": "benchmarks/{stage}_assemble/{id}/{shape}.tsv",
    "make_planes": "benchmarks/make_planes/{id}.tsv",
    "probe_segment": "benchmarks/probe_segment/{id}/{start}-{end}.tsv",
    "planes_eval": "benchmarks/planes_eval/{id}/{start}-{end}.tsv",
    "drs_tile": "benchmarks/drs_tile/{id}/{tile}.tsv",
    "drs_assemble": "benchmarks/drs_assemble/{id}/{shape}.tsv",
    "report_experiment": "benchmarks/report_experiment/{name}.tsv",
    "report_index": "benchmarks/report_index.tsv",
}
FLAG_RATIO = 1.5


@dataclass
class RuleRow:
    rule: str
    planned_jobs: int = 0
    measured_jobs: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    predicted_wall_s: float = 0.0  # of the measured jobs only
    predicted_cpu_s: float = 0.0
    predicted_rss_mb: float = 0.0
    predicted_total_wall_s: float = 0.0  # of every planned job
    flops: float = 0.0  # modelled FLOPs (network + GEMM) of the measured jobs
    missing: list[str] = field(default_factory=list)


def read_benchmark(path: Path) -> dict[str, float]:
    """The last row of a Snakemake benchmark table (a rerun appends nothing; --repeat would add rows)."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: benchmark table has no rows")
    row = rows[-1]
    num = lambda key: float(row[key]) if row.get(key) not in (None, "", "NA", "-") else 0.0  # noqa: E731
    return {"wall_s": num("s"), "cpu_s": num("cpu_time"), "rss_mb": num("max_rss")}


def predicted(p: plan.Plan, job: jobs.Job, gpu: bool) -> tuple[float, float, float]:
    """(wall s, CPU s, resident MB) repdyn.cost.model predicts for one job."""
    work = cost.job_work(job.rule, p, job.wc)
    threads = rules.threads(job.rule, p.config.threads)
    on_gpu = gpu and job.rule in rules.GPU_RULES
    wall = cost.seconds(work, on_gpu, threads, rule=job.rule)
    rss = resources.BASE_MB + (work.host_bytes + (0 if on_gpu else work.activation_bytes)) / 1e6
    return wall, wall * (1 if on_gpu else threads), rss


def job_flops(p: plan.Plan, job: jobs.Job) -> float:
    work = cost.job_work(job.rule, p, job.wc)
    return work.device_flops + work.gemm_flops


def scaled_hours(rows: list[RuleRow], target: plan.Plan) -> dict[str, tuple[float, float]]:
    """Per rule with FLOPs: (target FLOPs, estimated hours) = the target config's modelled FLOPs x the measured
    seconds per modelled FLOP of the finished run. An estimate on the device the run was measured on; a rule's
    fixed costs (start-up, I/O) are spread over its FLOPs, so measure on large jobs."""
    totals: dict[str, float] = {}
    for job in jobs.workflow_jobs(target):
        if job.rule in rules.MODELLED:
            totals[job.rule] = totals.get(job.rule, 0.0) + job_flops(target, job)
    out = {}
    for r in rows:
        if r.flops > 0 and r.wall_s > 0 and totals.get(r.rule, 0.0) > 0:
            out[r.rule] = (totals[r.rule], totals[r.rule] * r.wall_s / r.flops / 3600)
    return out


def format_scaled(scaled: dict[str, tuple[float, float]], name: str) -> str:
    lines = [
        f"ESTIMATES for {name}: modelled FLOPs x measured seconds per FLOP of this run, hours on the device "
        "this run was measured on",
        f"{'rule':<18}{'FLOPs':>12}{'est. hours':>12}",
    ]
    lines += [f"{rule:<18}{flops:>12.3g}{hours:>12.1f}" for rule, (flops, hours) in scaled.items()]
    return "\n".join(lines + [f"{'total':<18}{'':>12}{sum(h for _, h in scaled.values()):>12.1f}"])


def rule_rows(p: plan.Plan, directory: Path, gpu: bool = False) -> list[RuleRow]:
    rows: dict[str, RuleRow] = {}
    for job in sorted(jobs.workflow_jobs(p)):
        if job.rule not in rules.MODELLED:
            continue
        row = rows.setdefault(job.rule, RuleRow(job.rule))
        wall, cpu, rss = predicted(p, job, gpu)
        row.planned_jobs += 1
        row.predicted_total_wall_s += wall
        path = directory / BENCHMARKS[job.rule].format(**job.wc)
        if not path.is_file():
            row.missing.append(str(path.relative_to(directory)))
            continue
        measured = read_benchmark(path)
        row.measured_jobs += 1
        row.wall_s += measured["wall_s"]
        row.cpu_s += measured["cpu_s"]
        row.rss_mb = max(row.rss_mb, measured["rss_mb"])
        row.predicted_wall_s += wall
        row.flops += job_flops(p, job)
        row.predicted_cpu_s += cpu
        row.predicted_rss_mb = max(row.predicted_rss_mb, rss)
    return [rows[r] for r in jobs.RULES if r in rows]


def du(paths: Iterable[Path]) -> int:
    """Bytes of the files under `paths` (directories walked, links not followed)."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return total


def stage_paths(p: plan.Plan, directory: Path) -> dict[str, list[Path]]:
    """Per storage stage (repdyn.scheduling.rule_table), the directories of the plan's artifacts of that stage."""
    d = lambda rel: directory / str(rel)  # noqa: E731
    out: dict[str, list[Path]] = {stage: [] for stage in dict.fromkeys(rules.RULES[r].stage for r in rules.MODELLED)}
    out["data"] += [d(a.dir) for a in p.data.values()]
    out["checkpoints"] += [d(r.dir / "init") for r in p.runs.values()] + [
        d(r.dir / "segments") for r in p.runs.values()
    ]
    out["grams"] += [d(a.dir) for a in p.extracts.values() if hasattr(a, "dir")]
    for art in p.ckas.values():
        out["cka tiles"].append(d(art.dir / "tiles"))
        out["cka matrices"] += sorted(x for x in d(art.dir).glob("e*") if x.is_dir())
    out["planes"] += [d(a.dir) for a in p.planes.values()]
    out["probes"] += [d(a.dir) for a in p.probes.values()]
    out["predictions"] += [d(a.dir) for a in p.preds.values()]
    for art in p.drs.values():
        out["drs tiles"].append(d(art.dir / "tiles"))
        out["drs matrices"] += sorted(x for x in d(art.dir).glob("e*") if x.is_dir())
    out["reports"] += [directory / "reports"]
    return out


def storage_rows(p: plan.Plan, directory: Path) -> list[tuple[str, int, float]]:
    """(stage, measured bytes, predicted bytes) for every stage the plan stores."""
    predicted_bytes = cost.summarize("all", p, jobs.workflow_jobs(p), p.config.threads).storage
    paths = stage_paths(p, directory)
    return [(stage, du(paths.get(stage, [])), size) for stage, size in predicted_bytes.items() if size]


def ratio(measured: float, predicted: float) -> str:
    if predicted <= 0:
        return "-"
    r = measured / predicted
    return f"{r:.2f}{'!' if r > FLAG_RATIO or r < 1 / FLAG_RATIO else ''}"


def format_report(rows: list[RuleRow], storage: list[tuple[str, int, float]]) -> str:
    lines = [
        f"{'rule':<18}{'jobs':>11}{'wall s':>12}{'pred':>10}{'ratio':>8}{'cpu s':>11}{'pred':>10}{'ratio':>8}"
        f"{'RSS MB':>9}{'pred':>8}{'ratio':>8}{'all planned s':>15}"
    ]
    for r in rows:
        lines.append(
            f"{r.rule:<18}{f'{r.measured_jobs}/{r.planned_jobs}':>11}{r.wall_s:>12.1f}{r.predicted_wall_s:>10.1f}"
            f"{ratio(r.wall_s, r.predicted_wall_s):>8}{r.cpu_s:>11.1f}{r.predicted_cpu_s:>10.1f}"
            f"{ratio(r.cpu_s, r.predicted_cpu_s):>8}{r.rss_mb:>9.0f}{r.predicted_rss_mb:>8.0f}"
            f"{ratio(r.rss_mb, r.predicted_rss_mb):>8}{r.predicted_total_wall_s:>15.1f}"
        )
    lines += ["", f"{'stage':<18}{'disk':>12}{'pred':>12}{'ratio':>8}"]
    for stage, measured, pred in storage:
        lines.append(
            f"{stage:<18}{cost.human_bytes(measured):>12}{cost.human_bytes(pred):>12}{ratio(measured, pred):>8}"
        )
    return "\n".join(lines)


def measure(directory: Path, configfile: Path, gpu: bool = False) -> dict[str, object]:
    p = plan.build(config.load(configfile))
    rows = rule_rows(p, directory, gpu)
    return {"rules": rows, "storage": storage_rows(p, directory)}


def to_json(result: Mapping[str, object]) -> dict[str, object]:
    return {
        "rules": [asdict(r) for r in result["rules"]],  # type: ignore[union-attr]
        "storage": [{"stage": s, "bytes": m, "predicted_bytes": pr} for s, m, pr in result["storage"]],
    }  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--directory", type=Path, default=REPO, help="the workflow's working directory")
    ap.add_argument("--configfile", type=Path, default=None, help="its config (default DIR/config.yaml)")
    ap.add_argument("--gpu", action="store_true", help="GPU rules ran on a GPU: compare with GPU throughput")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    ap.add_argument(
        "--scale-to",
        type=Path,
        default=None,
        help="a (paper-scale) config: estimate its hours per rule from this run's throughput",
    )
    args = ap.parse_args(argv)
    result = measure(args.directory, args.configfile or args.directory / "config.yaml", args.gpu)
    print(format_report(result["rules"], result["storage"]))  # type: ignore[arg-type]
    if args.scale_to:
        scaled = scaled_hours(result["rules"], plan.build(config.load(args.scale_to)))  # type: ignore[arg-type]
        print("\n" + format_scaled(scaled, str(args.scale_to)))
    if args.json:
        args.json.write_text(json.dumps(to_json(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
