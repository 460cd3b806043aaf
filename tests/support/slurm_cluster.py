"""The real SLURM cluster of scripts/slurm-cluster.sh, seen from the tests: start/stop, SLURM's own
job records (`scontrol show job`), and Snakemake runs through the profile with actions taken on their jobs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support import REPO

SCRIPT = REPO / "scripts" / "slurm-cluster.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch")
POLL_S = 0.5
STATUS_WAIT_S = 8  # REPDYN_STATUS_WAIT of the test runs (see ProfileRun.env)


def missing_requirement() -> str | None:
    """Why this machine cannot run the cluster (None: it can)."""
    if os.geteuid() != 0:
        return "the real SLURM cluster needs root (slurmd starts jobs as their owner)"
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"
    missing = [d for d in DAEMONS if not shutil.which(d, path=path)]
    if missing:
        return f"{', '.join(missing)} not installed (bash scripts/install.sh --test installs slurm-wlm and munge)"
    return None


def cluster_script(home: Path, *args: str) -> None:
    env = dict(os.environ, REPDYN_SLURM_HOME=str(home))
    env["PATH"] = env.get("PATH", "") + os.pathsep + "/usr/sbin"
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"slurm-cluster.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")


def job_records() -> list[dict[str, str]]:
    """Every job slurmctld still holds (finished ones for MinJobAge = 1 h), as `scontrol show job -o` fields."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True).stdout
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]


def rule_of(record: dict[str, str]) -> str:
    """The rule of a job, from the plugin's comment rule_<rule>_wildcards_<values>."""
    return record.get("Comment", "").removeprefix("rule_").partition("_wildcards_")[0]


def minutes(limit: str) -> int:
    """SLURM's [D-]HH:MM:SS time limit in minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def mem_mb(record: dict[str, str]) -> int:
    value = record["MinMemoryNode"]
    assert value.endswith("M"), record
    return int(value[:-1])


def signal_job(job_id: str, sig: int) -> None:
    """Send `sig` to every process of a job (its batch script, Snakemake, srun, the step)."""
    out = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        try:
            os.kill(int(line.split()[0]), sig)
        except (ProcessLookupError, ValueError, IndexError):
            pass


Trigger = Callable[[list[dict[str, str]]], dict[str, str] | None]  # the run's records -> the job to act on
Effect = Callable[[dict[str, str]], None]


def running(rule: str, after_s: int = 0, ready: Callable[[dict[str, str]], bool] = lambda job: True) -> Trigger:
    """The first job of `rule` that has been running for at least `after_s` seconds and is `ready`."""

    def trigger(records):
        for r in records:
            if (
                rule_of(r) == rule
                and r["JobState"] == "RUNNING"
                and minutes_seconds(r["RunTime"]) >= after_s
                and ready(r)
            ):
                return r
        return None

    return trigger


def minutes_seconds(runtime: str) -> int:
    days, _, clock = runtime.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return ((int(days or 0) * 24 + h) * 60 + m) * 60 + s


@dataclass
class Action:
    """Do `effect` to the first job `trigger` names; `done` records the job (and when)."""

    name: str
    trigger: Trigger
    effect: Effect
    done: dict[str, str] | None = None
    at_s: float | None = None


@dataclass
class ProfileRun:
    """`snakemake --profile slurm` in `work` on the real cluster; actions are taken on its jobs while it runs."""

    work: Path
    targets: list[str]
    snakefile: Path = REPO / "Snakefile"
    extra_env: dict[str, str] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    wall_s: float = 0.0

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REPDYN_", "SLURM_", "SBATCH_")) and k != "SNAKEMAKE_PROFILE"
        }
        # accounting is off on this cluster: job states come from squeue (MinJobAge = 1 h keeps finished jobs).
        # The plugin polls W s after a poll that saw a job end, then 10 s longer after each that saw none
        # (W, 2W + 10, 3W + 30, ... s): W = STATUS_WAIT_S fits the 10-25 s that a tiny job takes here
        env.update(
            REPDYN_STATUS_COMMAND="squeue",
            REPDYN_STATUS_WAIT=str(STATUS_WAIT_S),
            REPDYN_SLURM_JOBS="8",
            PYTHONPATH=str(REPO / "src"),
            **self.extra_env,
        )
        return env

    def cmd(self, *args: str) -> list[str]:
        # targets before --configfile, which takes every value up to the next option
        return [
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(PROFILE),
            "-s",
            str(self.snakefile),
            "--directory",
            str(self.work),
            *args,
            "--configfile",
            str(self.work / "config.yaml"),
        ]

    def start(self, log: str = "snakemake.out") -> ProfileRun:
        self.started = time.monotonic()
        with open(self.work / log, "w") as out:
            self.proc = subprocess.Popen(
                self.cmd(*self.targets),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=self.work,
                start_new_session=True,
            )
        return self

    def records(self) -> list[dict[str, str]]:
        """SLURM's records of this run's jobs, in submission order."""
        mine = [r for r in job_records() if r.get("WorkDir") == str(self.work)]
        return sorted(mine, key=lambda r: int(r["JobId"]))

    def step(self) -> bool:
        """Take the actions whose moment has come; True while Snakemake runs."""
        pending = [a for a in self.actions if a.done is None]
        if pending:
            records = self.records()
            for action in pending:
                job = action.trigger(records)
                if job is not None:
                    action.effect(job)
                    action.done, action.at_s = job, time.monotonic() - self.started
        return self.proc.poll() is None

    def wait(self, deadline: float) -> int | None:
        while self.step():
            if time.monotonic() > deadline:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                return None
            time.sleep(POLL_S)
        self.wall_s = time.monotonic() - self.started
        return self.proc.returncode

    def output(self, log: str = "snakemake.out") -> str:
        return (self.work / log).read_text(errors="replace")

    def check(self, returncode: int | None, log: str = "snakemake.out") -> None:
        assert returncode == 0, f"snakemake --profile slurm ended with {returncode}:\n{self.output(log)[-6000:]}"

    def run_names(self) -> list[str]:
        """The run ids (job names repdyn_<uuid>) of this directory's Snakemake runs, in order."""
        names: list[str] = []
        for r in self.records():
            if r["JobName"] not in names:
                names.append(r["JobName"])
        return names
