"""`snakemake --profile slurm` on a real SLURM cluster: Debian's slurm-wlm 22.05 on this machine
(scripts/slurm-cluster.sh, started once for the module): the node of partitions cpu and gpu, and a spare node
alone in partition spare. What reaches SLURM is read from SLURM's own records (`scontrol show job`: partition,
time limit, memory, CPUs, GPUs, state, restarts), never from what was sent.

Six scenarios, side by side (each run mostly waits for its jobs' start-up and the plugin's status polls, so
the longest chain of cluster jobs sets the module's time). The drill experiment (support.configs.drill_raw) runs
through the profile in two halves that together submit every cluster job of the workflow once:
- its training from scratch (data, init, both segments): the first training job is `scancel`ed while it
  trains and Snakemake runs it again; the checkpoints equal the local reference run's byte for byte;
- everything after training, report pages included, on a copy of the local reference run that keeps only its
  data and training: the matrices equal the reference's;
and the drills:
- a rewound copy of the local reference run that lacks only its assembled DRS matrices: that one job
  overruns its time limit (the limit is cut to 1 minute with `scontrol update` and the job is stopped: the
  rules' shortest request is 10 minutes), SLURM kills it with TIMEOUT and Snakemake retries it with the larger
  request. One job, so that the minute the drill takes adds little to the CPUs' load;
- Snakemake itself SIGKILLed while the CKA assembly of a rewound copy of the local reference run runs;
  then what docs/cluster.md says: `scancel` the old run's jobs, `--unlock`, the same command again;
- the GPU requests of repdyn.scheduling.resources on a cuda config (two rules that only touch files: no GPU is used);
- on the spare node, so that no other scenario's job is touched: slurmd is stopped when the CKA assembly of
  a rewound copy of the reference run starts, until slurmctld declares the node DOWN, then started again.
Each drill's copy lacks one job's output: on two cores every job's two start-ups slow the other runs, and the
runs side by side are bound by the CPUs as much as by the status polls.

Every drill ends with the CKA and DRS matrices of the uninterrupted local run, bit for bit (the training drill:
its checkpoints, which those matrices are computed from), and no output lost or half-written. The local
reference run is the drill_reference fixture (shared with tests/workflow/test_kill_drills.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import pytest
from support.configs import drill_raw, require_fashion_mnist, tiny_raw
from support.drills import (
    assert_same_cka,
    assert_same_drs,
    finished_files,
    marked_incomplete,
    mtimes_now,
    rewind,
    tiny_experiment,
)
from support.slurm_cluster import (
    PROFILE,
    REPO,
    Action,
    ProfileRun,
    cluster_script,
    mem_mb,
    minutes,
    missing_requirement,
    rule_of,
    running,
    signal_job,
)
from support.workflow import job_counts, pipeline_targets, write_config

from repdyn import config, plan
from repdyn.storage.atomic import TMP_PREFIX

pytestmark = pytest.mark.slow

CLUSTER_RULES = {
    "prepare_data",
    "init",
    "train_segment",
    "extract_segment",
    "cka_tile",
    "cka_assemble",
    "make_planes",
    "probe_segment",
    "planes_eval",
    "drs_tile",
    "drs_assemble",
}
TRAINING_RULES = {"prepare_data", "init", "train_segment"}  # the cluster rules of the training half
# Wildcards in the order of each rule's output pattern: the plugin's comment joins their values with "_".
WILDCARD_ORDER = {
    "prepare_data": ("id",),
    "init": ("run",),
    "train_segment": ("run", "start", "end"),
    "extract_segment": ("id", "start", "end"),
    "cka_tile": ("stage", "id", "tile"),
    "cka_assemble": ("stage", "id", "shape"),
    "make_planes": ("id",),
    "probe_segment": ("id", "start", "end"),
    "planes_eval": ("id", "start", "end"),
    "drs_tile": ("id", "tile"),
    "drs_assemble": ("id", "shape"),
}
PHASE_TIMEOUT_S = 1800  # a safety net for loaded machines: on an idle one a scenario takes minutes
SPARE_PARTITION = "spare"  # the spare node's (slurm-cluster.sh --spare-node)
TRAINING_STAGES = ("data", "train")  # results/<stage>: what the training half of the workflow writes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A fresh one-node cluster for this module, stopped afterwards."""
    why = missing_requirement()
    if why:
        pytest.skip(why)
    home = tmp_path_factory.mktemp("slurm-home")
    cluster_script(home, "start", "--cpus", "8", "--mem-mb", "32000", "--gpus", "2", "--spare-node")
    yield home
    cluster_script(home, "stop")


# --- the scenarios ------------------------------------------------------------------------------------------


def timeout_drill(job: dict[str, str]) -> None:
    """Cut the job's limit to 1 minute and stop its processes: it overruns, SLURM kills it (TIMEOUT)."""
    subprocess.run(["scontrol", "update", f"JobId={job['JobId']}", "TimeLimit=1"], check=True)
    signal_job(job["JobId"], 19)  # SIGSTOP


def scancel(job: dict[str, str]) -> None:
    subprocess.run(["scancel", job["JobId"]], check=True)


def training(work: Path) -> Callable[[dict[str, str]], bool]:
    """A train_segment job that has logged its first epoch: it is training the next one."""

    def ready(job: dict[str, str]) -> bool:
        run, start, end = job["Comment"].partition("_wildcards_")[2].split("_")
        log = work / "logs" / "train_segment" / run / f"{start}-{end}.log"
        return log.is_file() and " epoch 1/" in log.read_text()

    return ready


def kill_head(run: ProfileRun) -> Action:
    return Action("kill snakemake", running("cka_assemble"), lambda job: run.proc.kill())


def training_scenario(work: Path) -> ProfileRun:
    """The drill experiment's training from scratch (its data, init, segments and metrics)."""
    write_config(work, drill_raw())
    p = plan.build(config.load(work / "config.yaml"))
    run = ProfileRun(work, targets=p.run_targets())
    run.actions = [Action("scancel", running("train_segment", ready=training(work)), scancel)]
    return run


def after_training(reference: Path) -> dict[str, list[PurePosixPath]]:
    """Stage -> the reference's artifact directories computed from its checkpoints: every stage but the data
    and the training."""
    results = reference / "results"
    return {
        stage.name: [PurePosixPath("results", stage.name, d.name) for d in stage.iterdir() if d.is_dir()]
        for stage in results.iterdir()
        if stage.is_dir() and stage.name not in TRAINING_STAGES
    }


def workflow_scenario(reference: Path, work: Path) -> ProfileRun:
    """Everything after training, report pages included, on a copy of the reference's data and training."""
    rewind(reference, work, after_training(reference))
    return ProfileRun(work, targets=[])  # rule all: results and report pages


def assembly_pending(reference: Path, rule: str) -> dict[str, list[PurePosixPath]]:
    """Rule -> outputs: only the assembled CKA or DRS matrices (one job; only the report pages, which
    pipeline_targets leaves out, read them)."""
    exp = tiny_experiment(reference)
    assembled = {
        "cka_assemble": exp.cka.assembled_dir(exp.epochs, exp.epochs),
        "drs_assemble": exp.drs.assembled_dir(exp.epochs),
    }
    return {rule: [assembled[rule]]}


def timeout_scenario(reference: Path, work: Path) -> dict:
    """The DRS assembly of a rewound copy of the reference run overruns its time limit."""
    removed = rewind(reference, work, assembly_pending(reference, "drs_assemble"))
    run = ProfileRun(work, pipeline_targets(work / "config.yaml"))
    run.actions = [Action("timeout", running("drs_assemble", after_s=1), timeout_drill)]
    rc = run_to_end(run)
    report_times("timeout", run.wall_s, [run])
    return {"run": run, "rc": rc, "removed": removed}


def killed_head_scenario(reference: Path, work: Path) -> dict:
    """Kill Snakemake while its CKA assembly job runs; scancel it, --unlock, rerun (docs/cluster.md)."""
    removed = rewind(reference, work, assembly_pending(reference, "cka_assemble"))
    targets = pipeline_targets(work / "config.yaml")
    run = ProfileRun(work, targets)
    run.actions = [kill_head(run)]
    killed_rc = run.start().wait(time.monotonic() + PHASE_TIMEOUT_S)
    old_run = run.run_names()[-1]
    subprocess.run(["scancel", "--name", old_run], check=True)
    wait_until_ended(run)
    marked = marked_incomplete(work)
    rerun = {rule: [p for p in outputs if not p.exists() or p in marked] for rule, outputs in removed.items()}
    unfinished = [p for outputs in rerun.values() for p in outputs]
    finished = finished_files(work, unfinished)
    unlock = subprocess.run(run.cmd("--unlock"), env=run.env(), capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    resumed = ProfileRun(work, targets).start("rerun.out")
    rc = resumed.wait(time.monotonic() + PHASE_TIMEOUT_S)
    report_times("killed snakemake", 0, [run, resumed])
    return {
        "run": run,
        "resumed": resumed,
        "killed_rc": killed_rc,
        "rc": rc,
        "rerun": rerun,
        "unfinished": unfinished,
        "finished": finished,
        "old_run": old_run,
        "victim": run.actions[0].done,
    }


def wait_until_ended(run: ProfileRun) -> None:
    deadline = time.monotonic() + 60
    while any(r["JobState"] in ("PENDING", "RUNNING", "COMPLETING") for r in run.records()):
        assert time.monotonic() < deadline, "cancelled jobs did not end within 60 s"
        time.sleep(0.5)


GPU_SNAKEFILE = """
import sys
sys.path.insert(0, {src!r})
import repdyn.config, repdyn.plan, repdyn.scheduling.resources
from repdyn.tiling.names import tile_name

CONFIG = repdyn.config.resolve(config)
PLAN = repdyn.plan.build(CONFIG)
RUN = next(iter(PLAN.runs.values()))
CKA = next(iter(PLAN.ckas.values()))
START, END = RUN.segments[0]

rule all:
    input:
        f"out/train/{{RUN.id}}/{{START:06d}}-{{END:06d}}.done",
        [f"out/{{CKA.stage}}/{{CKA.id}}/{{tile_name(t)}}.done" for t in CKA.tiles(RUN.epochs, RUN.epochs)][:1],

rule train_segment:
    output: "out/train/{{run}}/{{start}}-{{end}}.done"
    threads: CONFIG.threads
    resources: **repdyn.scheduling.resources.for_rule("train_segment", PLAN, CONFIG.device),
    shell: "touch {{output}}"

rule cka_tile:
    output: "out/{{stage}}/{{id}}/{{tile}}.done"
    wildcard_constraints: stage="cka"
    threads: CONFIG.threads
    resources: **repdyn.scheduling.resources.for_rule("cka_tile", PLAN, CONFIG.device),
    shell: "touch {{output}}"
"""


def gpu_scenario(work: Path) -> ProfileRun:
    """repdyn.scheduling.resources on a cuda config with 3 threads: the GPU rule asks for a GPU of the model
    $REPDYN_GPU_MODEL on the gpu partition (the cluster's GPUs are of type "virtual")."""
    raw = tiny_raw()
    raw["device"], raw["threads"] = "cuda", 3
    write_config(work, raw)
    (work / "Snakefile").write_text(GPU_SNAKEFILE.format(src=str(REPO / "src")))
    return ProfileRun(work, targets=[], snakefile=work / "Snakefile", extra_env={"REPDYN_GPU_MODEL": "virtual"})


def spare_node() -> str:
    return subprocess.run(
        ["sinfo", "-h", "-p", SPARE_PARTITION, "-o", "%N"], capture_output=True, text=True, check=True
    ).stdout.strip()


def node_failure(home: Path, node: str):
    def effect(job: dict[str, str]) -> None:
        cluster_script(home, "slurmd-stop", node)
        deadline = time.monotonic() + 60
        while not node_down(node):
            assert time.monotonic() < deadline, "slurmctld did not notice the node failure within 60 s"
            time.sleep(0.5)
        cluster_script(home, "slurmd-start", node)

    return effect


def node_down(node: str) -> bool:
    """slurmctld has declared the node DOWN (not merely not responding: that alone changes nothing)."""
    state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True).stdout.strip()
    return state.startswith("down")


def node_scenario(home: Path, reference: Path, work: Path) -> dict:
    """The CKA assembly of a rewound copy of the reference run on the spare node, which fails under it."""
    removed = rewind(reference, work, assembly_pending(reference, "cka_assemble"))
    run = ProfileRun(work, pipeline_targets(work / "config.yaml"), extra_env={"REPDYN_CPU_PARTITION": SPARE_PARTITION})
    run.actions = [Action("node failure", running("cka_assemble", after_s=1), node_failure(home, spare_node()))]
    rc = run_to_end(run)
    report_times("node failure", run.wall_s, [run])
    return {"run": run, "rc": rc, "removed": removed}


def run_to_end(run: ProfileRun) -> int | None:
    return run.start().wait(time.monotonic() + PHASE_TIMEOUT_S)


@pytest.fixture(scope="module")
def scenarios(cluster, drill_reference, tmp_path_factory) -> dict:
    """The six scenarios side by side; each test asks for the outcome of its own (a scenario that raised
    raises again in its tests only)."""
    require_fashion_mnist()
    training = training_scenario(tmp_path_factory.mktemp("slurm-training"))
    workflow = workflow_scenario(drill_reference, tmp_path_factory.mktemp("slurm-workflow") / "w")
    gpu = gpu_scenario(tmp_path_factory.mktemp("slurm-gpu"))
    killed_work = tmp_path_factory.mktemp("slurm-killed") / "w"
    node_work = tmp_path_factory.mktemp("slurm-node") / "w"
    timeout_work = tmp_path_factory.mktemp("slurm-timeout") / "w"
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        futures = {
            "training": pool.submit(run_to_end, training),
            "workflow": pool.submit(run_to_end, workflow),
            "gpu": pool.submit(run_to_end, gpu),
            "killed": pool.submit(killed_head_scenario, drill_reference, killed_work),
            "node": pool.submit(node_scenario, cluster, drill_reference, node_work),
            "timeout": pool.submit(timeout_scenario, drill_reference, timeout_work),
        }
        for future in futures.values():
            future.exception()  # wait for all
    report_times("all scenarios", time.monotonic() - started, [training, workflow, gpu])
    return {"training": training, "workflow": workflow, "gpu": gpu, "futures": futures}


def report_times(title: str, wall_s: float, runs: list[ProfileRun]) -> None:
    """Wall times of the scenarios or of one, its runs and its drills (shown with pytest -s)."""
    print(f"\n{title}: {wall_s:.0f} s")
    for run in runs:
        drills = ", ".join(f"{a.name} at {a.at_s:.0f} s" for a in run.actions if a.at_s is not None)
        print(f"  {run.work.name}: {run.wall_s:.0f} s{'; ' + drills if drills else ''}")


def outcome(scenarios: dict, name: str):
    """The scenario's result (its return code or dict), or its exception raised again."""
    return scenarios["futures"][name].result()


def no_temporaries(work: Path) -> list[str]:
    return [str(p) for p in (work / "results").rglob(f"{TMP_PREFIX}*")]


def attempts(records: list[dict[str, str]]) -> list[int]:
    """Attempt number of each record: 1 + earlier submissions of the same job in the same Snakemake run."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in records:
        key = (r["JobName"], r["Comment"])
        seen[key] = seen.get(key, 0) + 1
        out.append(seen[key])
    return out


def planned_jobs(p) -> dict:
    """The plan's cluster jobs by the comment the plugin gives their SLURM job."""
    from repdyn.scheduling import jobs

    return {
        "rule_" + j.rule + "_wildcards_" + "_".join(j.wc[k] for k in WILDCARD_ORDER[j.rule]): j
        for j in jobs.workflow_jobs(p)
        if j.rule in WILDCARD_ORDER
    }


def test_every_job_reaches_slurm_with_the_resources_of_the_rule_table(scenarios):
    from repdyn.scheduling import resources

    for name in ("training", "workflow"):
        scenarios[name].check(outcome(scenarios, name))
    p = plan.build(config.load(scenarios["training"].work / "config.yaml"))
    by_comment = planned_jobs(p)
    training, after = scenarios["training"].records(), scenarios["workflow"].records()
    records = training + after
    for record, attempt in zip(records, attempts(training) + attempts(after)):
        rule = rule_of(record)
        assert record["Comment"] in by_comment, f"{record['Comment']}: not a planned job"
        expected = resources.rule_resources(rule, p, by_comment[record["Comment"]].wc, attempt, "cpu")
        assert (minutes(record["TimeLimit"]), mem_mb(record)) == (expected["runtime"], expected["mem_mb"]), record
        assert record["Partition"] == "cpu" and record["NumCPUs"] == "1", record  # threads: 1, device: cpu
        assert "gpu" not in record.get("TresPerJob", ""), record
        # the profile's job name prefix; REPDYN_SLURM_ACCOUNT unset: submitted without an account
        assert record["JobName"].startswith("repdyn_") and record["Account"] == "(null)", record
    assert {r["Comment"] for r in records} == set(by_comment)  # every cluster job of the workflow
    assert {rule_of(r) for r in training} == TRAINING_RULES
    assert {rule_of(r) for r in after} == CLUSTER_RULES - TRAINING_RULES  # nothing retrained


def assert_ended_as_the_local_run(work: Path, reference: Path) -> None:
    """The end of every drill: the CKA and DRS matrices of the uninterrupted local run, no temporary left."""
    assert_same_cka(work, reference)
    assert_same_drs(work, reference)
    assert not no_temporaries(work)


def drilled_job(run: ProfileRun, drill: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The job that `drill` hit in `run` (its record when the drill acted on it) and SLURM's records of every
    submission of it."""
    victim = next(a.done for a in run.actions if a.name == drill)
    assert victim is not None, f"the {drill} drill saw no job of its rule running"
    return victim, [r for r in run.records() if r["Comment"] == victim["Comment"]]


def test_report_rules_stay_local_and_the_outputs_equal_a_local_run(scenarios, drill_reference):
    run = scenarios["workflow"]
    run.check(outcome(scenarios, "workflow"))
    assert not {rule_of(r) for r in run.records()} & {
        "report_experiment",
        "report_index",
        "spec",
        "index",
        "run_metrics",
        "all",
    }
    assert (run.work / "reports" / "index.html").is_file()
    assert (run.work / "reports" / "experiments" / "tiny" / "index.html").is_file()
    assert_ended_as_the_local_run(run.work, drill_reference)


def test_a_scancelled_training_job_is_rerun(scenarios, drill_reference):
    run = scenarios["training"]
    run.check(outcome(scenarios, "training"))
    _, same = drilled_job(run, "scancel")
    assert [r["JobState"] for r in same] == ["CANCELLED", "COMPLETED"], same
    assert_same_checkpoints(run.work, drill_reference)
    assert not no_temporaries(run.work)


def assert_same_checkpoints(work: Path, reference: Path) -> None:
    """Every checkpoint and resume state of the run, byte for byte the reference's (CPU training is
    deterministic), and no other."""
    train = tiny_experiment(reference).run.dir
    expected = sorted(p.relative_to(reference) for p in (reference / train).rglob("*.pt"))
    assert sorted(p.relative_to(work) for p in (work / train).rglob("*.pt")) == expected
    assert len(expected) == 8  # init: e0 and state; each of the two segments: two epochs and state
    for path in expected:
        assert (work / path).read_bytes() == (reference / path).read_bytes(), path


def test_a_job_past_its_time_limit_is_retried_with_a_larger_request(scenarios, drill_reference):
    from repdyn.scheduling import resources

    timeout = outcome(scenarios, "timeout")
    run = timeout["run"]
    run.check(timeout["rc"])
    victim, (first, retry) = drilled_job(run, "timeout")
    p = plan.build(config.load(run.work / "config.yaml"))
    wildcards = planned_jobs(p)[victim["Comment"]].wc
    submitted = resources.rule_resources("drs_assemble", p, wildcards, 1, "cpu")
    assert (minutes(victim["TimeLimit"]), mem_mb(victim)) == (submitted["runtime"], submitted["mem_mb"]), victim
    assert first["JobState"] == "TIMEOUT" and minutes(first["TimeLimit"]) == 1, first
    retried = resources.rule_resources("drs_assemble", p, wildcards, 2, "cpu")
    assert retry["JobState"] == "COMPLETED", retry
    assert (minutes(retry["TimeLimit"]), mem_mb(retry)) == (retried["runtime"], retried["mem_mb"]), retry
    assert retried["runtime"] > submitted["runtime"] and retried["mem_mb"] > submitted["mem_mb"]
    assert job_counts(run.output()) == {rule: len(outputs) for rule, outputs in timeout["removed"].items()}
    assert_ended_as_the_local_run(run.work, drill_reference)


def test_snakemake_killed_then_unlock_and_rerun(scenarios, drill_reference):
    killed = outcome(scenarios, "killed")
    run, resumed = killed["run"], killed["resumed"]
    assert killed["victim"] is not None and killed["killed_rc"] == -9, run.output()[-3000:]
    old_jobs = [r for r in run.records() if r["JobName"] == killed["old_run"]]
    assert {r["JobState"] for r in old_jobs} <= {"COMPLETED", "CANCELLED"}
    assert "CANCELLED" in {r["JobState"] for r in old_jobs}  # the scancel found jobs still running
    resumed.check(killed["rc"], "rerun.out")
    assert job_counts(resumed.output("rerun.out")) == {
        rule: len(outs) for rule, outs in killed["rerun"].items() if outs
    }
    assert all(p.is_dir() for p in killed["unfinished"])
    assert mtimes_now(killed["finished"]) == killed["finished"], "the rerun rewrote finished outputs"
    assert not marked_incomplete(run.work)
    assert_ended_as_the_local_run(run.work, drill_reference)


def test_gpu_rules_ask_slurm_for_a_gpu_on_the_gpu_partition(scenarios):
    run = scenarios["gpu"]
    run.check(outcome(scenarios, "gpu"))
    by_rule = {rule_of(r): r for r in run.records()}
    train, tile = by_rule["train_segment"], by_rule["cka_tile"]
    assert train["Partition"] == "gpu" and train["TresPerJob"] == "gres:gpu:virtual:1", train
    assert train["CpusPerTres"] == "gres:gpu:3" and train["NumCPUs"] == "3", train  # --cpus-per-gpu=threads
    assert tile["Partition"] == "cpu" and "TresPerJob" not in tile and tile["NumCPUs"] == "3", tile
    assert train["JobState"] == tile["JobState"] == "COMPLETED"


def test_node_failure_during_a_job(scenarios, drill_reference):
    node = outcome(scenarios, "node")
    run = node["run"]
    run.check(node["rc"])
    victim = run.actions[0].done
    assert victim is not None
    same = [r for r in run.records() if r["Comment"] == victim["Comment"]]
    # it ran again: resubmitted by Snakemake (its task launch failed while slurmd was down: FAILED, the usual
    # case here) or requeued by SLURM (a task already running when the node went DOWN; Requeue=1)
    assert int(same[-1]["Restarts"]) + len(same) >= 2, same
    assert same[-1]["JobState"] == "COMPLETED", same
    assert all(p.is_dir() for outputs in node["removed"].values() for p in outputs)
    assert_ended_as_the_local_run(run.work, drill_reference)


# --- no cluster ---------------------------------------------------------------------------------------------


def test_profile_dry_run_needs_no_slurm(tmp_path):
    """`snakemake --profile slurm -n` from the repository root works without any cluster: a dry run never
    calls SLURM (the plugin still loads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPDYN_") and k != "SNAKEMAKE_PROFILE"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "--directory", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule train_segment:" in proc.stdout + proc.stderr
    assert (REPO / "slurm").resolve() == PROFILE.resolve()
