#!/usr/bin/env python3
"""Stand-in SLURM commands that run jobs locally, so the real slurm executor plugin can be tested.

One script answers as sbatch, sacct, squeue, scancel, sinfo, srun and scontrol (symlinks in this
directory, named after the command). Put the directory first on PATH and FAKE_SLURM_DIR on a
per-test state directory. Jobs run as detached background processes; every call is appended to
$FAKE_SLURM_DIR/calls.jsonl (one JSON object per line: tool, argv, time, and job: the caller's
SLURM_JOB_ID, set for calls made inside a job, e.g. srun) for the test to inspect. Job records
($FAKE_SLURM_DIR/job_<id>.json) carry started/ended times, so a slow test can be profiled job by job.
docs/snakemake.md, "Testing the SLURM path without a cluster", describes what the plugin calls and what the answers must be.

Test controls (environment of the Snakemake process that submits):
  FAKE_SLURM_POLL_WAIT   seconds sacct/squeue wait for a job of the run to end before answering
                         (a long poll; the plugin backs off by 10 s per status round in which
                         nothing finished, so immediate answers would make tests slow). Default 0.
  FAKE_SLURM_FAIL_FIRST  comma-separated rule names whose first submitted job fails (exit 1,
                         without running) so that a test can watch Snakemake's retry.
Standard library only: it must run under any Python the test runs with.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fakeslurm/state"))
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"}
WITH_VALUE = {"--job-name", "--output", "--comment", "-p", "-t", "--mem", "-D", "-A", "-C", "--mem-per-cpu",
              "--clusters", "--name", "--format", "--starttime", "--endtime", "-j", "-o", "-u"}


def log(tool: str, argv: list) -> None:
    with open(STATE / "calls.jsonl", "a") as f:
        f.write(json.dumps({"tool": tool, "argv": argv, "time": time.time(), "job": os.environ.get("SLURM_JOB_ID")}) + "\n")


def locked_counter(name: str) -> int:
    """Next value of a counter file; O_EXCL lock so that parallel sbatch calls get distinct ids."""
    lock = STATE / f"{name}.lock"
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL)
            break
        except FileExistsError:
            time.sleep(0.01)
    try:
        path = STATE / name
        value = int(path.read_text()) + 1 if path.exists() else 1000
        path.write_text(str(value))
        return value
    finally:
        os.close(fd)
        lock.unlink()


def jobfile(jid: str) -> Path:
    return STATE / f"job_{jid}.json"


def save(rec: dict) -> None:
    tmp = jobfile(rec["id"]).with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(rec))
    tmp.replace(jobfile(rec["id"]))


def load_all() -> list:
    out = []
    for p in STATE.glob("job_*.json"):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            pass
    return out


def parse_opts(argv: list) -> tuple:
    opts, pos, i = {}, [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
        elif a in WITH_VALUE and i + 1 < len(argv):
            opts[a.lstrip("-")] = argv[i + 1]
            i += 1
        elif a.startswith("-"):
            opts[a.lstrip("-")] = True
        else:
            pos.append(a)
        i += 1
    return opts, pos


def _rule_of(comment: str) -> str:
    # the plugin's comment is rule_<rule>_wildcards_<wildcards>
    body = comment.removeprefix("rule_")
    return body.split("_wildcards_")[0]


def _inject_failure(comment: str) -> bool:
    rules = [r for r in os.environ.get("FAKE_SLURM_FAIL_FIRST", "").split(",") if r]
    rule = _rule_of(comment)
    if rule not in rules:
        return False
    marker = STATE / f"failed_once_{rule}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def sbatch(argv: list) -> int:
    log("sbatch", argv)
    opts, pos = parse_opts(argv)
    if "wrap" in opts:
        cmd = opts["wrap"]
    elif pos[:1] == ["/dev/stdin"]:
        cmd = sys.stdin.read()
    else:
        print("sbatch: error: no command", file=sys.stderr)
        return 1
    if _inject_failure(str(opts.get("comment", ""))):
        cmd = "echo 'fakeslurm: injected failure (FAKE_SLURM_FAIL_FIRST)'; exit 1"
    jid = locked_counter("counter")
    tasks = [None]
    if "array" in opts:
        lo, hi = str(opts["array"]).split("%")[0].split("-")
        tasks = list(range(int(lo), int(hi) + 1))
    for t in tasks:
        sub = f"{jid}_{t}" if t is not None else str(jid)
        out = (str(opts.get("output", f"slurm-{sub}.out")).replace("%j", str(jid))
               .replace("%A", str(jid)).replace("%a", str(t)))
        save({"id": sub, "name": opts.get("job-name", ""), "state": "PENDING", "cmd": cmd,
              "cwd": opts.get("D", os.getcwd()), "output": out, "array_task": t, "array_job": jid,
              "array_min": tasks[0], "opts": {k: v for k, v in opts.items() if k != "wrap"}})
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "_run", sub], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(jid)
    return 0


def _run(sub: str) -> None:
    rec = json.loads(jobfile(sub).read_text())
    env = dict(os.environ, SLURM_JOB_NAME=rec["name"], SLURM_CPUS_PER_TASK="1",
               SLURM_JOB_ID=str(rec["array_job"]) if rec["array_task"] is not None else sub)
    if rec["array_task"] is not None:
        env.update(SLURM_ARRAY_TASK_ID=str(rec["array_task"]), SLURM_ARRAY_JOB_ID=str(rec["array_job"]),
                   SLURM_ARRAY_TASK_MIN=str(rec["array_min"]))
    if "gpus" in rec["opts"]:
        env["SLURM_GPUS"] = str(rec["opts"]["gpus"])
    rec["state"], rec["started"] = "RUNNING", time.time()
    save(rec)
    Path(rec["output"]).parent.mkdir(parents=True, exist_ok=True)
    with open(rec["output"], "w") as f:
        p = subprocess.Popen(["/bin/sh", "-c", rec["cmd"]], cwd=rec["cwd"], env=env, stdout=f,
                             stderr=subprocess.STDOUT)
        rec["pid"] = p.pid
        save(rec)
        rc = p.wait()
    rec = json.loads(jobfile(sub).read_text())
    if rec["state"] != "CANCELLED":
        rec["state"] = "COMPLETED" if rc == 0 else "FAILED"
    rec["rc"], rec["ended"] = rc, time.time()
    save(rec)


def _jobs_named(name) -> list:
    return [r for r in load_all() if name is None or r["name"] == name]


def _long_poll(name) -> list:
    """Wait (up to FAKE_SLURM_POLL_WAIT s) until a job of the run ends that the last answer showed running."""
    wait = float(os.environ.get("FAKE_SLURM_POLL_WAIT", "0") or 0)
    seen_path = STATE / f"poll_{name}.json"
    try:
        seen = set(json.loads(seen_path.read_text()))
    except (OSError, ValueError):
        seen = set()
    deadline = time.time() + wait
    while True:
        jobs = _jobs_named(name)
        ended = {r["id"] for r in jobs if r["state"] in FINAL}
        active = [r for r in jobs if r["state"] not in FINAL]
        if ended - seen or not active or time.time() >= deadline:
            seen_path.write_text(json.dumps(sorted(ended)))
            return jobs
        time.sleep(0.1)


def sacct(argv: list) -> int:
    log("sacct", argv)
    opts, _ = parse_opts(argv)
    if "name" in opts:
        for r in _long_poll(opts["name"]):
            print(f'{r["id"]}|{r["state"]}')
    return 0  # reason queries and account guessing: print nothing


def squeue(argv: list) -> int:
    log("squeue", argv)
    opts, _ = parse_opts(argv)
    for r in _long_poll(opts.get("name")):
        print(f'{r["id"]}|{r["state"]}')
    return 0


def scancel(argv: list) -> int:
    log("scancel", argv)
    ids = [a for a in argv if not a.startswith("-")]
    for r in load_all():
        if r["id"] in ids or str(r["array_job"]) in ids:
            if r.get("pid"):
                try:
                    os.killpg(os.getpgid(r["pid"]), signal.SIGTERM)
                except OSError:
                    pass
            r["state"] = "CANCELLED"
            save(r)
    return 0


def srun(argv: list) -> int:
    log("srun", argv)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1
    rest = argv[i:]
    os.execvp(rest[0], rest)  # also covers "sh -s" (script on stdin)
    return 1


def sinfo(argv: list) -> int:
    log("sinfo", argv)
    print("PARTITION")
    print("debug*")
    return 0


def scontrol(argv: list) -> int:
    log("scontrol", argv)
    print("MaxArraySize            = 1001")
    print("MinJobAge               = 300 sec")
    return 0


TOOLS = {"sbatch": sbatch, "sacct": sacct, "squeue": squeue, "scancel": scancel, "srun": srun, "sinfo": sinfo,
         "scontrol": scontrol}

if __name__ == "__main__":
    STATE.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) > 2 and sys.argv[1] == "_run":
        _run(sys.argv[2])
        sys.exit(0)
    sys.exit(TOOLS[Path(sys.argv[0]).name](sys.argv[1:]) or 0)
