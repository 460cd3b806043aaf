"""Corrupt inputs on a real run: every store kind the workflow writes is damaged in turn
(a chunk file truncated to half, or one byte flipped in its middle); `repdyn verify` must name the file, and
the job that consumes the store, run with the exact command Snakemake ran it with, must fail with one line
naming the artifact and the command that rebuilds it. One drill goes through Snakemake itself: a truncated
Gram chunk stops the next CKA tile, the printed cure rebuilds the part, and the rerun ends with the matrices
of the undamaged run.

All of it works on one run of the tiny experiment with its reports (the `run` fixture); the drills restore
every byte they damage, and the Snakemake drill works on a copy.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import REPO
from support.workflow import copy_run, job_counts, pipeline_targets, snakemake

from repdyn.cka import open_cka
from repdyn.cli import main
from repdyn.storage import checksums, integrity, verify

pytestmark = pytest.mark.slow

# store kind -> (the artifact, glob from the run directory; the store or file inside it; the rule that reads it)
KINDS = {
    "dataset.h5": ("results/data/*/dataset.h5", "", "extract_segment"),
    "pairs.json": ("results/pairs/*/pairs.json", "", "extract_segment"),
    "checkpoint": ("results/train/*/segments/000000-000002", "checkpoints/e000002.pt", "extract_segment"),
    "grams.zarr": ("results/extract/*/000000-000002", "grams.zarr", "cka_tile"),
    "twopoint.zarr": ("results/extract/*/000000-000002", "twopoint.zarr", "twopoint_fit"),
    "twopoint.json": ("results/twopoint/*/e000004", "twopoint.json", "report_experiment"),
    "cka tile.zarr": ("results/cka/*/tiles/000000-000001_000000-000001", "tile.zarr", "cka_assemble"),
    "cka.zarr": ("results/cka/*/e000004", "cka.zarr", "report_experiment"),
    "planes.zarr": ("results/planes/*/planes.zarr", "", "planes_eval"),
    "probes.zarr": ("results/probe/*/000000-000002", "probes.zarr", "planes_eval"),
    "preds.zarr": ("results/preds/*/000000-000002", "preds.zarr", "drs_tile"),
    "drs tile.zarr": ("results/drs/*/tiles/000000-000002_000000-000002", "tile.zarr", "drs_assemble"),
    "drs.zarr": ("results/drs/*/e000004", "drs.zarr", "report_experiment"),
}


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> Path:
    """One complete run of the tiny experiment, reports included: a copy of the session's tiny_run."""
    return copy_run(tiny_run, tmp_path_factory.mktemp("verify-run") / "w")


def repdyn(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "repdyn", *args], cwd=work, env=env, capture_output=True, text=True)


def one(work: Path, pattern: str) -> Path:
    found = sorted(work.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def chunk_of(store: Path) -> Path:
    """The largest chunk file of a Zarr store (the store itself when it is a plain file)."""
    if store.is_file():
        return store
    return max(
        (p for p in store.rglob("*") if p.is_file() and "c" in p.relative_to(store).parts),
        key=lambda p: p.stat().st_size,
    )


def job_command(work: Path, rule: str, names: Path | None) -> list[str]:
    """The shell command Snakemake ran for the first job of `rule` whose command names `names` (any job of the
    rule when None), from Snakemake's metadata, without its log redirection."""
    for record in sorted((work / ".snakemake" / "metadata").iterdir()):
        meta = json.loads(record.read_text())
        output = base64.urlsafe_b64decode(record.name).decode()
        command = meta.get("shellcmd") or ""
        if meta["rule"] == rule and (names is None or f" {names.relative_to(work)} " in f"{command} "):
            return shlex.split(command.split(" > logs/")[0]), output
    raise AssertionError(f"no {rule} job names {names}")


def damage(path: Path, how: str) -> str:
    """Damage a file; return what the manifest check must call it."""
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
        return f"truncated, {len(data) // 2} of {len(data)} bytes"
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    return "checksum mismatch"


def test_every_output_of_a_run_has_a_manifest_and_verifies(run):
    outputs = {base64.urlsafe_b64decode(p.name).decode() for p in (run / ".snakemake" / "metadata").iterdir()}
    recorded = {
        str(artifact.path.relative_to(run)) for artifact, _ in verify.find([run / "results", run / "reports"]).checks
    }
    assert (
        recorded == outputs and len(outputs) == 45
    )  # every output of the 42 jobs (run_metrics two, report_index four)
    proc = repdyn(run, "verify", "results", "reports")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "45 artifacts" in proc.stderr and "0 damaged, 0 files in no manifest" in proc.stderr


def test_record_finds_exactly_the_artifacts_the_run_wrote(run, tmp_path):
    """integrity.ARTIFACT_PATTERNS against the outputs: stripped of their manifests, a run's results get the
    same manifests back from `repdyn verify --record`."""
    copy = tmp_path / "copy"
    for name in ("results", "reports"):
        shutil.copytree(run / name, copy / name)
    manifests = {
        p.relative_to(copy): p.read_text()
        for p in copy.rglob("*")
        if p.name == checksums.MANIFEST or p.name.endswith(checksums.SIDECAR_SUFFIX)
    }
    for path in manifests:
        (copy / path).unlink()
    assert repdyn(copy, "verify").returncode == 1
    assert repdyn(copy, "verify", "--record").returncode == 0
    recorded = {
        p.relative_to(copy): p.read_text()
        for p in copy.rglob("*")
        if p.name == checksums.MANIFEST or p.name.endswith(checksums.SIDECAR_SUFFIX)
    }
    assert recorded == manifests


@pytest.mark.parametrize("how", ["truncate", "flip"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_damaged_store_is_named_by_verify_and_stops_its_consumer_with_one_line(
    run, tmp_path, monkeypatch, capsys, kind, how
):
    pattern, inside, rule = KINDS[kind]
    artifact = one(run, pattern)
    target = chunk_of(artifact / inside if inside else artifact)
    command, _ = job_command(run, rule, None if kind in ("dataset.h5", "pairs.json") else artifact)
    command[command.index("--out") + 1] = str(tmp_path / "out")  # never near the real output
    original = target.read_bytes()
    try:
        what = damage(target, how)
        rel, file = artifact.relative_to(run), target.relative_to(artifact.parent if artifact.is_file() else artifact)
        monkeypatch.chdir(run)
        assert main(["verify", "results"]) == 1
        assert f"{rel}: {file}: {what}" in capsys.readouterr().out.splitlines()

        job = subprocess.run(
            command, cwd=run, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")}
        )
        remove = "rm" if artifact.is_file() else "rm -r"
        expected = (
            f"repdyn {command[3]}: error: input {rel} is damaged ({file}: {what}); "
            f"rebuild it: {remove} {rel} && snakemake {rel}"
        )
        assert job.returncode == 2 and "Traceback" not in job.stderr, job.stderr[-3000:]
        assert job.stderr.strip().splitlines()[-1] == expected
        assert not (tmp_path / "out").exists()
    finally:
        target.write_bytes(original)
    assert checksums.check_artifact(checksums.find_artifact(artifact)) == []


def test_snakemake_stops_at_a_truncated_gram_chunk_and_the_printed_cure_rebuilds_it(run, tmp_path):
    """A truncated chunk of an extraction part, and the CKA tile that reads it next."""
    work = tmp_path / "work"
    shutil.copytree(run, work, symlinks=True, ignore=shutil.ignore_patterns("logs", "benchmarks", "reports"))
    cfg = work / "config.yaml"
    before = open_cka(one(work, "results/cka/*/e000004"))
    part = one(work, "results/extract/*/000002-000004")
    tile = one(work, "results/cka/*/tiles/000002-000003_000002-000003")
    damage(chunk_of(part / "grams.zarr"), "truncate")
    shutil.rmtree(tile)

    failed = snakemake(work, cfg, *pipeline_targets(cfg), check=False)
    assert failed.returncode != 0
    log = one(work, f"logs/cka_tile/*/{tile.name}.log").read_text().strip().splitlines()
    rel = part.relative_to(work)
    assert re.fullmatch(
        rf"repdyn cka-tile: error: input {rel} is damaged \(grams\.zarr/\S+: truncated, \d+ of \d+ "
        rf"bytes\); rebuild it: rm -r {rel} && snakemake {rel}",
        log[-1],
    ), log[-1]
    assert not any("Traceback" in line for line in log)

    cure = log[-1].split("rebuild it: ")[1]
    removal, rebuild = cure.split(" && ")
    shutil.rmtree(work / shlex.split(removal)[-1])
    snakemake(work, cfg, *shlex.split(rebuild)[1:])
    dry = snakemake(work, cfg, "-n", *pipeline_targets(cfg))
    assert job_counts(dry.stdout + dry.stderr) == {"cka_tile": 1, "cka_assemble": 1}  # the cure reruns nothing else
    snakemake(work, cfg, *pipeline_targets(cfg))
    after = open_cka(one(work, "results/cka/*/e000004"))
    for layer in before.layers:
        assert np.array_equal(after[layer], before[layer], equal_nan=True)
    assert repdyn(work, "verify", "results").returncode == 0
    assert integrity.is_artifact_path(rel)
