"""Run the real Snakemake CLI on a config in a scratch directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from support import REPO


def write_config(workdir: Path, raw: dict, name: str = "config.yaml") -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def copy_run(work: Path, dest: Path) -> Path:
    """A copy of a finished run (results, reports, logs, Snakemake's metadata; times kept): Snakemake sees in
    `dest` the state of `work`, and a test can change the copy without touching runs other tests read."""
    shutil.copytree(work, dest, symlinks=True)
    return dest


def pipeline_targets(config_path: Path) -> list[str]:
    """`rule all`'s inputs without the report pages: every result of the pipeline (index, metrics, CKA and DRS
    matrices with their tiles, two-point fits). For tests that need the results but not their HTML views: the report
    jobs
    render figures and would rerun after every change upstream."""
    from repdyn import config, plan

    p = plan.build(config.load(config_path))
    return ["results/index.json", *p.run_targets(), *p.cka_targets(), *p.drs_targets(), *p.twopoint_targets()]


def snakemake_cmd(workdir: Path, config_path: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config_path),
        "--cores",
        "2",
        "--scheduler",
        "greedy",
        *args,
    ]


def snakemake(workdir: Path, config_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        snakemake_cmd(workdir, config_path, *args), capture_output=True, text=True, env=os.environ.copy()
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(workdir: Path, config_path: Path, *args: str) -> dict[str, int]:
    """Rule -> job count that a dry run would execute ({} when there is nothing to do)."""
    proc = snakemake(workdir, config_path, "-n", "--quiet", "rules", *args)
    return job_counts(proc.stdout + proc.stderr)


def job_counts(text: str) -> dict[str, int]:
    """Rule -> job count from the `job  count` table Snakemake prints before it runs (or dry-runs) jobs."""
    counts: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] != "total":
                counts[parts[0]] = int(parts[1])
        elif in_table and parts and not set(parts[0]) <= {"-"}:
            in_table = False
    return counts
