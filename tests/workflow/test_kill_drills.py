"""Kill-and-resume drills at the Snakemake level: Snakemake and its running jobs are SIGKILLed while
an extraction is writing its Gram store, while CKA tiles run, while DRS tiles run. The next invocation
(`--unlock`, then `--rerun-incomplete`) must run exactly the jobs that had not finished, leave every finished
output untouched, and end with the CKA/DRS matrices of an uninterrupted run, bit for bit (CPU).

How a drill runs: one uninterrupted run of the tiny experiment is the reference. A drill copies it and removes
the outputs of one stage's jobs and of everything computed from them, so that Snakemake has exactly those
jobs to run (the state of a run that got that far; a fresh tiny run costs ~60 s, three would not fit the
budget). It starts Snakemake in a process group of its own and polls the file system for its moment; then
it freezes the group (SIGSTOP), confirms the moment while nothing moves, and kills the group (SIGKILL):
Snakemake and its jobs die together, as on a node loss. A moment that passed before the freeze (the job
finished in between) does not count: the group resumes and the wait goes on. Every invocation asks for the
pipeline's results (support.workflow.pipeline_targets), not the report pages, which would rerun each time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest
from support.drills import (
    assert_same_cka,
    assert_same_drs,
    cka_chain,
    finished_files,
    marked_incomplete,
    mtimes_now,
    rewind,
    tiny_experiment,
)
from support.workflow import job_counts, pipeline_targets, snakemake, snakemake_cmd

from repdyn.storage.atomic import TMP_PREFIX

pytestmark = pytest.mark.slow

POLL_S = 0.005  # an extraction writes its store for ~0.2 s at tiny settings
MOMENT_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def reference(drill_reference) -> Path:
    """One uninterrupted run of the drills' experiment (support.configs.drill_raw) to all its results."""
    return drill_reference


# --- preparing a drill --------------------------------------------------------------------------------------


def extraction_pending(reference: Path) -> dict[str, list[PurePosixPath]]:
    """Rule -> outputs of the chains from the extractions on: CKA and the two-point fit (the rest stays)."""
    exp = tiny_experiment(reference)
    return {**cka_chain(exp), "twopoint_fit": [exp.twopoint.result_dir(exp.epochs)]}


# --- killing at a moment ------------------------------------------------------------------------------------

Moment = Callable[[], list[Path]]  # the outputs whose jobs are at the moment now (empty: not yet)


def being_written(outputs: list[Path]) -> Moment:
    """Outputs that a job is writing: their repdyn.storage.atomic temporary sibling exists, they do not."""
    return lambda: [p for p in outputs if not p.exists() and any(p.parent.glob(f"{TMP_PREFIX}{p.name}.*"))]


def tile_log(tile_dir: Path) -> Path:
    """logs/<stage>_tile/<id>/<tile>.log for results/<stage>/<id>/tiles/<tile> (cka.smk, drs.smk)."""
    stage, artifact = tile_dir.parts[-4], tile_dir.parts[-3]
    work = tile_dir.parents[4]
    return work / "logs" / f"{stage}_tile" / artifact / f"{tile_dir.name}.log"


def started(outputs: list[Path]) -> Moment:
    """Tiles whose job has started (the rule's shell created its log) and not finished."""
    return lambda: [p for p in outputs if tile_log(p).exists() and not p.exists()]


def group_members_stopped(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in "TtZX":
            return False
    return True


def freeze(pgid: int) -> None:
    """SIGSTOP the group and wait until every member has stopped: then the file system holds still."""
    os.killpg(pgid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while not group_members_stopped(pgid):
        assert time.monotonic() < deadline, f"process group {pgid} did not stop within 10 s of SIGSTOP"
        time.sleep(0.001)


def start_snakemake(work: Path, targets: list[str]) -> subprocess.Popen:
    with open(work / "killed-run.out", "w") as out:
        return subprocess.Popen(
            snakemake_cmd(work, work / "config.yaml", *targets),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )


def kill_at(proc: subprocess.Popen, moment: Moment, what: str, work: Path) -> list[Path]:
    """SIGKILL Snakemake's process group (Snakemake and its jobs) at `moment`; return the outputs it named."""
    deadline = time.monotonic() + MOMENT_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                output = (work / "killed-run.out").read_text()[-3000:]
                pytest.fail(f"snakemake ended ({proc.returncode}) before {what}:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail(f"never saw {what} within {MOMENT_TIMEOUT_S:.0f} s")
            if moment():
                freeze(proc.pid)
                victims = moment()
                if victims:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return victims
                os.killpg(proc.pid, signal.SIGCONT)  # it finished before the freeze: wait for another
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- what Snakemake and the file system say afterwards ------------------------------------------------------


def drill(
    reference: Path,
    work: Path,
    pending: dict[str, list[PurePosixPath]],
    moment: Callable[[list[Path]], Moment],
    victim_rule: str,
    what: str,
) -> list[Path]:
    """Kill a run of the `pending` jobs when `moment` names outputs of `victim_rule`, then resume it and check
    the resumed run; returns the killed jobs' outputs."""
    removed = rewind(reference, work, pending)
    targets = pipeline_targets(work / "config.yaml")
    victims = kill_at(start_snakemake(work, targets), moment(removed[victim_rule]), what, work)

    # the killed jobs left no output that looks finished
    for victim in victims:
        assert not victim.exists(), f"{victim}: written by a killed job, yet it exists"
    # to run again: whatever does not exist, and whatever exists but Snakemake did not see finish (a job that
    # renamed its output just before the kill); everything else is finished and must stay as it is
    marked = marked_incomplete(work)
    rerun = {rule: [p for p in outputs if not p.exists() or p in marked] for rule, outputs in removed.items()}
    unfinished = [p for outputs in rerun.values() for p in outputs]
    finished = finished_files(work, unfinished)

    snakemake(work, work / "config.yaml", "--unlock")
    resumed = snakemake(work, work / "config.yaml", "--rerun-incomplete", *targets)
    assert job_counts(resumed.stdout + resumed.stderr) == {
        rule: len(outputs) for rule, outputs in rerun.items() if outputs
    }

    missing = [str(p) for p in unfinished if not p.is_dir()]
    assert not missing, f"the resumed run did not produce {missing}"
    assert mtimes_now(finished) == finished, "the resumed run rewrote outputs of jobs that had finished"
    assert not marked_incomplete(work)
    # a killed writer's half-written temporary is deleted when its job runs again (repdyn.storage.atomic.remove_stale)
    leftovers = [str(p) for victim in victims for p in victim.parent.glob(f"{TMP_PREFIX}{victim.name}.*")]
    assert not leftovers, f"temporaries of killed jobs left behind: {leftovers}"
    return victims


# --- the drills ---------------------------------------------------------------------------------------------


def test_extraction_killed_while_writing_its_store_resumes_to_identical_cka(reference, tmp_path):
    pending = extraction_pending(reference)
    victims = drill(
        reference,
        tmp_path / "extract",
        pending,
        being_written,
        "extract_segment",
        "an extract_segment job writing its Gram store",
    )
    assert victims
    assert_same_cka(tmp_path / "extract", reference)


def test_cka_tiles_killed_while_running_resume_to_identical_cka(reference, tmp_path):
    exp = tiny_experiment(reference)
    cka, length = exp.cka, exp.epochs
    pending = {
        "cka_tile": [cka.tile_dir(t) for t in cka.tiles(length, length)],
        "cka_assemble": [cka.assembled_dir(length, length)],
    }
    victims = drill(reference, tmp_path / "cka", pending, started, "cka_tile", "a running cka_tile job")
    assert victims
    assert_same_cka(tmp_path / "cka", reference)


def test_drs_tiles_killed_while_running_resume_to_identical_drs(reference, tmp_path):
    exp = tiny_experiment(reference)
    drs, length = exp.drs, exp.epochs
    pending = {"drs_tile": [drs.tile_dir(t) for t in drs.tiles(length)], "drs_assemble": [drs.assembled_dir(length)]}
    victims = drill(reference, tmp_path / "drs", pending, started, "drs_tile", "a running drs_tile job")
    assert victims
    assert_same_drs(tmp_path / "drs", reference)
