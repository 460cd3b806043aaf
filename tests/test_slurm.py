"""The SLURM path without a cluster: the real slurm executor plugin against stand-in SLURM commands.

tests/fakeslurm/ answers sbatch/sacct/squeue/scancel/sinfo/srun/scontrol and runs each job locally
(docs/snakemake.md, "Testing the SLURM path without a cluster"). The shipped profile (workflow/profiles/slurm) is used as is, configured
through its environment variables, so the YTE site settings are under test too.

Covers: the real workflow on a tiny real-data config goes through sbatch to all its results (the report
pages aside: see workflow_scenario), every cluster rule submitted with partition, runtime and memory and no
GPU (device: cpu), local rules never submitted, a job that fails is resubmitted and the workflow still
finishes; with repdyn.resources in a rule, GPU rules on a cuda config ask for one GPU on the GPU partition,
tile rules for none, and the retry of a failed job asks for more memory and time.

Both fake-cluster scenarios run side by side in one module fixture: each mostly waits (every cluster job
starts Snakemake twice, the plugin polls), so together they take little longer than the workflow alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FASHION_MNIST, REPO, require_fashion_mnist, tiny_raw
from workflow_helpers import write_config

pytestmark = pytest.mark.slow

FAKE_SLURM = REPO / "tests" / "fakeslurm"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
CLUSTER_RULES = {"prepare_data", "init", "train_segment", "extract_segment", "cka_tile", "cka_assemble", "make_planes",
                 "probe_segment", "planes_eval", "drs_tile", "drs_assemble"}
LOCAL_RULES = {"spec", "index", "run_metrics", "report_experiment", "report_index", "all"}


@dataclass(frozen=True)
class Submission:
    """One sbatch call as the plugin made it."""

    rule: str
    wildcards: str
    argv: tuple[str, ...]

    def value(self, flag: str) -> str | None:
        """`-p x` / `--mem x` style (separate value) or `--gpus=x` style."""
        for pos, arg in enumerate(self.argv):
            if arg == flag and pos + 1 < len(self.argv):
                return self.argv[pos + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None

    @property
    def mem(self) -> int:
        return int(self.value("--mem"))

    @property
    def minutes(self) -> int:
        return int(self.value("-t"))


def submissions(state: Path) -> list[Submission]:
    out = []
    for line in (state / "calls.jsonl").read_text().splitlines():
        call = json.loads(line)
        if call["tool"] != "sbatch":
            continue
        argv = tuple(a for a in call["argv"] if not a.startswith("--wrap"))
        comment = Submission("", "", argv).value("--comment") or ""
        rule, _, wildcards = comment.removeprefix("rule_").partition("_wildcards_")
        out.append(Submission(rule, wildcards, argv))
    return out


def slurm_env(state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REPDYN_", "FAKE_SLURM_", "SLURM_", "SBATCH_")) and k != "SNAKEMAKE_PROFILE"}
    env.update(PATH=f"{FAKE_SLURM}{os.pathsep}{env.get('PATH', '')}", FAKE_SLURM_DIR=str(state),
               FAKE_SLURM_POLL_WAIT="20", REPDYN_SLURM_JOBS="4", REPDYN_STATUS_WAIT="1",
               REPDYN_CPU_PARTITION="testcpu", REPDYN_GPU_PARTITION="testgpu", PYTHONPATH=str(REPO / "src"))
    env.update(extra)
    return env


def fashion_mnist_installed() -> bool:
    return (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file()


def cancel_leftovers(state: Path) -> None:
    """Kill fake-cluster jobs still running (a timed-out Snakemake leaves its jobs behind, as on SLURM)."""
    for path in state.glob("job_*.json"):
        rec = json.loads(path.read_text())
        if rec.get("pid") and rec["state"] == "RUNNING":
            try:
                os.killpg(os.getpgid(rec["pid"]), signal.SIGTERM)
            except OSError:
                pass


@dataclass
class Scenario:
    """One `snakemake --profile slurm` invocation against its own fake cluster (state in workdir/fakeslurm)."""

    workdir: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    returncode: int | None = None

    @property
    def state(self) -> Path:
        return Path(self.env["FAKE_SLURM_DIR"])

    @property
    def output_path(self) -> Path:
        """Snakemake's stdout and stderr (a file, not a pipe: nobody reads a pipe while another run is awaited)."""
        return self.workdir / "snakemake.out"

    def start(self, args: list[str]) -> Scenario:
        cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), "--directory", str(self.workdir), *args]
        with open(self.output_path, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        return self

    def finish(self, deadline: float) -> Scenario:
        """Wait until `deadline` (time.monotonic); a run still going then is killed and counts as failed."""
        try:
            self.returncode = self.proc.wait(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = None
        finally:
            cancel_leftovers(self.state)
        return self

    def check(self) -> Scenario:
        output = self.output_path.read_text()[-8000:]
        assert self.returncode is not None, f"snakemake timed out and was killed:\n{output}"
        assert self.returncode == 0, f"snakemake failed ({self.returncode}):\n{output}"
        return self


def run_side_by_side(scenarios: list[tuple[Scenario, list[str]]], timeout: float) -> None:
    """Start every scenario, then wait for all. A fake-cluster run mostly waits (two Snakemake starts per job,
    status polls), so runs side by side take little longer than the longest alone."""
    deadline = time.monotonic() + timeout
    for scenario, args in scenarios:
        scenario.start(args)
    for scenario, _ in scenarios:
        scenario.finish(deadline)


def small_raw() -> dict:
    """tiny_raw cut to the fewest jobs that still exercise every cluster rule (one of each) in the fewest job
    generations: two epochs in one segment; CKA grid [1, 2] (its part comes from the training segment), DRS
    grid [0] (its probe and prediction parts come from the init checkpoint, so the DRS chain runs beside
    training instead of after it); one CKA and one DRS tile, 3 planes of 5 x 5 points, test metrics on 200
    images."""
    raw = tiny_raw(epochs=2, segment_epochs=2)
    defaults = raw["defaults"]
    defaults["data"]["test_subset"] = 200
    defaults["grids"] = {"cka": [1, 2], "drs": [0]}
    defaults["cka"] = {"block": 250}
    defaults["probe"] = {"epochs": 2}
    defaults["drs"] = {"planes": 3, "resolution": 5, "block": 250}
    return raw


RESOURCES_SNAKEFILE = """
import sys
sys.path.insert(0, {src!r})
import repdyn.config, repdyn.plan, repdyn.resources
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
    resources:
        **repdyn.resources.for_rule("train_segment", PLAN, CONFIG.device),
    shell: "touch {{output}}"

rule cka_tile:
    output: "out/{{stage}}/{{id}}/{{tile}}.done"
    wildcard_constraints: stage="cka"
    threads: CONFIG.threads
    resources:
        **repdyn.resources.for_rule("cka_tile", PLAN, CONFIG.device),
    shell: "touch {{output}}"
"""


def workflow_scenario(work: Path) -> tuple[Scenario, list[str]]:
    """The small real-data experiment through the real Snakefile; make_planes fails once."""
    cfg = write_config(work, small_raw())
    env = slurm_env(work / "fakeslurm", FAKE_SLURM_FAIL_FIRST="make_planes")
    # Every target, report pages included: they are local rules, and the test checks that they never reach sbatch.
    return Scenario(work, env), ["-s", str(REPO / "Snakefile"), "--configfile", str(cfg)]


def resources_scenario(work: Path) -> tuple[Scenario, list[str]]:
    """repdyn.resources in a two-rule Snakefile on a cuda config (3 threads); train_segment fails once."""
    raw = tiny_raw()
    raw["device"], raw["threads"] = "cuda", 3
    cfg = write_config(work, raw)
    (work / "Snakefile").write_text(RESOURCES_SNAKEFILE.format(src=str(REPO / "src")))
    env = slurm_env(work / "fakeslurm", FAKE_SLURM_FAIL_FIRST="train_segment", REPDYN_GPU_MODEL="h100")
    return Scenario(work, env), ["-s", str(work / "Snakefile"), "--configfile", str(cfg)]


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory) -> dict[str, Scenario]:
    """Both fake-cluster scenarios, run side by side (the workflow one only with Fashion-MNIST installed)."""
    scenarios = {"resources": resources_scenario(tmp_path_factory.mktemp("resources"))}
    if fashion_mnist_installed():
        scenarios["workflow"] = workflow_scenario(tmp_path_factory.mktemp("slurm"))
    run_side_by_side(list(scenarios.values()), timeout=300)
    return {name: scenario for name, (scenario, _) in scenarios.items()}


@pytest.fixture(scope="module")
def cluster_run(cluster_runs) -> tuple[Path, Path]:
    """The small real-data experiment through the fake cluster; make_planes fails once."""
    require_fashion_mnist()
    run = cluster_runs["workflow"].check()
    return run.workdir, run.state


def test_every_cluster_job_went_through_sbatch_and_finished(cluster_run):
    work, state = cluster_run
    subs = submissions(state)
    assert {s.rule for s in subs} == CLUSTER_RULES
    assert not {s.rule for s in subs} & LOCAL_RULES
    index = json.loads((work / "results" / "index.json").read_text())["experiments"]["tiny"]
    assert (work / index["cka"]["assembled"] / "cka.zarr").is_dir()
    assert (work / index["drs"]["assembled"]).is_dir()
    # the plugin tracked every job through sacct and never had to cancel one
    calls = [json.loads(line)["tool"] for line in (state / "calls.jsonl").read_text().splitlines()]
    assert "sacct" in calls and "scancel" not in calls


def test_submissions_carry_partition_runtime_memory_and_no_gpu_on_cpu(cluster_run):
    _, state = cluster_run
    for s in submissions(state):
        assert s.value("-p") == "testcpu", s  # REPDYN_CPU_PARTITION through the profile's YTE
        assert s.minutes > 0 and s.mem > 0, s
        assert s.value("--gpus") is None and s.value("--cpus-per-gpu") is None, s  # device: cpu
        assert s.value("--job-name").startswith("repdyn_"), s  # slurm-jobname-prefix
        assert s.value("-A") is None, s  # REPDYN_SLURM_ACCOUNT unset: no account flag at all


def test_a_failed_job_is_resubmitted_and_the_workflow_finishes(cluster_run):
    work, state = cluster_run
    planes = [s for s in submissions(state) if s.rule == "make_planes"]
    assert len(planes) == 2 and planes[0].wildcards == planes[1].wildcards
    assert (work / json.loads((work / "results" / "index.json").read_text())["experiments"]["tiny"]["drs"]
            ["assembled"]).is_dir()


# Wildcards in the order of each rule's output pattern: the plugin's --comment joins their values with "_".
WILDCARD_ORDER = {"prepare_data": ("id",), "init": ("run",), "train_segment": ("run", "start", "end"),
                  "extract_segment": ("id", "start", "end"), "cka_tile": ("stage", "id", "tile"),
                  "cka_assemble": ("stage", "id", "shape"), "make_planes": ("id",),
                  "probe_segment": ("id", "start", "end"), "planes_eval": ("id", "start", "end"),
                  "drs_tile": ("id", "tile"), "drs_assemble": ("id", "shape")}


def test_submissions_ask_for_what_repdyn_resources_estimates(cluster_run):
    from repdyn import config, jobs, plan, resources

    work, state = cluster_run
    p = plan.build(config.load(work / "config.yaml"))
    by_comment = {(j.rule, "_".join(j.wc[k] for k in WILDCARD_ORDER[j.rule])): j
                  for j in jobs.workflow_jobs(p) if j.rule in WILDCARD_ORDER}
    subs = submissions(state)
    for pos, s in enumerate(subs):
        attempt = 1 + sum(1 for t in subs[:pos] if (t.rule, t.wildcards) == (s.rule, s.wildcards))
        assert (s.rule, s.wildcards) in by_comment, f"{s}: not a planned job (a new rule? add it to WILDCARD_ORDER)"
        expected = resources.rule_resources(s.rule, p, by_comment[s.rule, s.wildcards].wc, attempt, "cpu")
        assert (s.minutes, s.mem) == (expected["runtime"], expected["mem_mb"]), s
    planes = [s for s in subs if s.rule == "make_planes"]
    assert planes[1].mem > planes[0].mem and planes[1].minutes > planes[0].minutes


def test_resources_reach_sbatch_and_grow_on_retry(cluster_runs):
    """repdyn.resources in a rule: one GPU on the GPU partition for a cuda config, none for a tile; the retry
    of the failed training job asks for more memory and time."""
    run = cluster_runs["resources"].check()
    subs = submissions(run.state)
    train = [s for s in subs if s.rule == "train_segment"]
    tiles = [s for s in subs if s.rule == "cka_tile"]
    assert len(train) == 2 and len(tiles) == 1
    for s in train:
        assert s.value("--gpus") == "h100:1" and s.value("-p") == "testgpu" and s.value("--cpus-per-gpu") == "3"
    assert train[1].mem > train[0].mem and train[1].minutes > train[0].minutes
    tile = tiles[0]
    assert tile.value("--gpus") is None and tile.value("-p") == "testcpu" and tile.value("--cpus-per-task") == "3"
    assert list((run.workdir / "out" / "train").rglob("*.done"))


def test_profile_dry_run_needs_no_slurm(tmp_path):
    """`snakemake --profile slurm -n` from the repository root works without the fake cluster: a dry run never
    calls SLURM (the plugin still loads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPDYN_") and k != "SNAKEMAKE_PROFILE"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "--directory", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule train_segment:" in proc.stdout + proc.stderr
    assert (REPO / "slurm").resolve() == PROFILE.resolve()
