"""Time the dry run of a paper-scale config through the SLURM profile (issue 5, item 5).

    python bench/dag.py [--config configs/x.yaml] [--runs 3]

Runs, from the repository root and in a fresh empty working directory (so every job is scheduled),

    snakemake -n --profile slurm --configfile <config> --directory <tmp>

--runs times and prints the median wall time, the peak RSS of the Snakemake process, and the job count
per rule from Snakemake's own "Job stats" table, next to the count repdyn.scheduling.jobs predicts. Without --config
it takes the config of configs/ whose DAG is largest. No SLURM and no GPU are needed: a dry run never
submits. Targets (docs/cluster.md): under 10,000 jobs and under 30 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # benchmark the checkout it ships with

from repdyn import config, plan
from repdyn.scheduling import jobs


def predicted_counts(path: Path) -> dict[str, int]:
    return jobs.count_by_rule(jobs.workflow_jobs(plan.build(config.load(path))))


def largest_config() -> Path:
    return max(sorted((REPO / "configs").glob("*.yaml")), key=lambda p: sum(predicted_counts(p).values()))


def job_stats(text: str) -> dict[str, int]:
    """The last "Job stats" table of a Snakemake output (rule -> count, without the total)."""
    counts: dict[str, int] = {}
    rows = text.split("Job stats:")[-1].splitlines()
    for line in rows:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("job", "total"):
            counts[parts[0]] = int(parts[1])
        elif counts and not parts:
            break
    return counts


def dry_run(path: Path) -> tuple[float, float, dict[str, int]]:
    """Seconds, peak RSS (MB) and job stats of one dry run in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="repdyn-dag-") as work:
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--profile",
            "slurm",
            "--configfile",
            str(path),
            "--directory",
            work,
        ]
        env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, rss_mb, job_stats(proc.stdout + proc.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=None, help="config file (default: the largest DAG in configs/)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    path = (args.config or largest_config()).resolve()
    predicted = predicted_counts(path)
    runs = [dry_run(path) for _ in range(args.runs)]
    times = [t for t, _, _ in runs]
    stats = runs[-1][2]
    print(f"command: snakemake -n --profile slurm --configfile {path.relative_to(REPO)} --directory <empty dir>")
    print(f"{'rule':<16}{'snakemake -n':>14}{'repdyn.scheduling.jobs':>13}")
    for rule in jobs.RULES:
        if rule in stats or rule in predicted:
            print(f"{rule:<16}{stats.get(rule, 0):>14}{predicted.get(rule, 0):>13}")
    print(f"{'total':<16}{sum(stats.values()):>14}{sum(predicted.values()):>13}")
    print(
        f"dry run: median {statistics.median(times):.1f} s over {len(times)} runs "
        f"({', '.join(f'{t:.1f}' for t in times)} s); peak RSS {max(r for _, r, _ in runs):.0f} MB"
    )
    if stats != predicted:
        print("WARNING: repdyn.scheduling.jobs disagrees with Snakemake's job stats")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
