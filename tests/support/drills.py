"""Run surgery for the kill-and-resume drills (local and on SLURM) and the workflow tests: a rewound copy of a
finished run, the files a drill must leave untouched, and its matrices against the reference run's."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path, PurePosixPath

import numpy as np

from repdyn import config, plan
from repdyn.cka import open_cka
from repdyn.drs import open_drs
from repdyn.storage.atomic import TMP_PREFIX


def tiny_experiment(work: Path):
    return plan.build(config.load(work / "config.yaml")).experiment("tiny")


def rewind(reference: Path, work: Path, pending: dict[str, list[PurePosixPath]]) -> dict[str, list[Path]]:
    """Copy the finished reference (results and Snakemake's metadata, not its logs: a drill watches for new
    ones) and remove the `pending` outputs, rule -> outputs: exactly their jobs are left to run."""
    shutil.copytree(
        reference,
        work,
        symlinks=True,
        ignore=lambda d, names: {"logs", "benchmarks"} & set(names) if Path(d) == reference else set(),
    )
    removed = {rule: [work / p for p in outputs] for rule, outputs in pending.items()}
    for outputs in removed.values():
        for path in outputs:
            shutil.rmtree(path)
    return removed


def cka_chain(exp) -> dict[str, list[PurePosixPath]]:
    """Rule -> outputs of an experiment's CKA chain from the extractions on: every extraction part, every tile
    and the assembled matrices. A rewound copy lacks a whole chain: Snakemake does not rebuild a missing
    intermediate whose consumers exist."""
    cka, length = exp.cka, exp.epochs
    return {
        "extract_segment": [cka.rows.part_dir(s, e) for s, e, _ in cka.rows.parts],
        "cka_tile": [cka.tile_dir(t) for t in cka.tiles(length, length)],
        "cka_assemble": [cka.assembled_dir(length, length)],
    }


def marked_incomplete(work: Path) -> set[Path]:
    """Outputs of jobs Snakemake started and did not see finish: .snakemake/incomplete/<urlsafe b64 of the
    path>, split into components of at most 255 characters, all but the last prefixed with "@" (9.27.1)."""
    root = work / ".snakemake" / "incomplete"
    out = set()
    for marker in root.rglob("*") if root.is_dir() else ():
        if marker.is_file() and marker.name != "migration_underway":
            encoded = "".join(part.removeprefix("@") for part in marker.relative_to(root).parts)
            out.add(work / base64.urlsafe_b64decode(encoded).decode())
    return out


def finished_files(work: Path, unfinished: list[Path]) -> dict[Path, int]:
    """mtime_ns of every file under results/ except inside `unfinished` outputs and temporary siblings."""
    skip = tuple(str(p) + os.sep for p in unfinished)
    return {
        p: p.stat().st_mtime_ns
        for p in (work / "results").rglob("*")
        if p.is_file()
        and not str(p).startswith(skip)
        and not any(part.startswith(TMP_PREFIX) for part in p.relative_to(work).parts)
    }


def mtimes_now(files: dict[Path, int]) -> dict[Path, int | None]:
    return {p: p.stat().st_mtime_ns if p.exists() else None for p in files}


def assert_same_cka(work: Path, reference: Path) -> None:
    exp = tiny_experiment(reference)
    assembled = exp.cka.assembled_dir(exp.epochs, exp.epochs)
    resumed, uninterrupted = open_cka(work / assembled), open_cka(reference / assembled)
    assert resumed.layers == uninterrupted.layers
    assert list(resumed.row_epochs) == list(uninterrupted.row_epochs) == [0, 1, 2, 3, 4]
    for layer in uninterrupted.layers:
        assert np.array_equal(resumed[layer], uninterrupted[layer]), layer


def assert_same_drs(work: Path, reference: Path) -> None:
    exp = tiny_experiment(reference)
    assembled = exp.drs.assembled_dir(exp.epochs)
    resumed, uninterrupted = open_drs(work / assembled), open_drs(reference / assembled)
    assert resumed.layers == uninterrupted.layers
    assert list(resumed.epochs) == list(uninterrupted.epochs) == [0, 2, 4]
    for layer in uninterrupted.layers:
        assert np.array_equal(resumed.counts[layer], uninterrupted.counts[layer]), layer
        assert np.array_equal(resumed[layer], uninterrupted[layer]), layer
