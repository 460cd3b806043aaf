"""Storage policy `storage.grams: after_tiles` (docs/storage.md): Snakemake deletes an extraction part once every
tile of the run that reads it exists, never before, and a later tile that needs it extracts it again.

No new end-to-end run: the drills' finished reference run (the drill_reference fixture: CKA at epochs 0..4, tiles
of 3 epochs, parts 0-0, 0-2, 2-4) is copied and its extraction and CKA outputs removed, so that exactly the
extraction, tiles and assembly run under the policy; its matrices are the bit-exact answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.workflow import job_counts, pipeline_targets, snakemake

from repdyn import config, plan
from repdyn.cka import open_cka

pytestmark = pytest.mark.slow


def copy_with_policy(reference: Path, work: Path, grams: str) -> Path:
    shutil.copytree(
        reference,
        work,
        symlinks=True,
        ignore=lambda d, names: {"logs", "benchmarks"} & set(names) if Path(d) == reference else set(),
    )
    cfg = work / "config.yaml"
    raw = yaml.safe_load(cfg.read_text())
    raw["storage"] = {"grams": grams}
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return cfg


def experiment(cfg: Path):
    return plan.build(config.load(cfg)).experiment("tiny")


def part_dirs(work: Path, exp) -> list[Path]:
    return [work / exp.cka.rows.part_dir(s, e) for s, e, _ in exp.cka.rows.parts]


def assert_same_cka(work: Path, reference: Path, exp) -> None:
    assembled = exp.cka.assembled_dir(exp.epochs, exp.epochs)
    got, want = open_cka(work / assembled), open_cka(reference / assembled)
    for layer in want.layers:
        assert np.array_equal(got[layer], want[layer]), layer


def test_grams_are_deleted_after_their_tiles_and_extracted_again_for_a_rerun_tile(drill_reference, tmp_path):
    work = tmp_path / "run"
    cfg = copy_with_policy(drill_reference, work, "after_tiles")
    exp = experiment(cfg)
    parts = part_dirs(work, exp)
    tiles = [work / exp.cka.tile_dir(t) for t in exp.cka.tiles(exp.epochs, exp.epochs)]
    assert len(parts) == 3 and len(tiles) == 3
    for path in parts + tiles + [work / exp.cka.assembled_dir(exp.epochs, exp.epochs)]:
        shutil.rmtree(path)  # the state of a run whose training is done and whose CKA is pending

    proc = snakemake(work, cfg, *pipeline_targets(cfg))
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts == {"extract_segment": 3, "cka_tile": 3, "cka_assemble": 1, "twopoint_fit": 1}, counts
    # every tile ran on its parts (none was deleted while a tile still needed it), then all parts went
    assert all(t.is_dir() for t in tiles)
    assert not any(p.exists() for p in parts)
    assert_same_cka(work, drill_reference, exp)
    assert "Removing temporary output" in proc.stdout + proc.stderr
    # the deleted Grams do not make anything rerun
    dry = snakemake(work, cfg, *pipeline_targets(cfg), "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # a deleted tile reruns: its parts are extracted again (from the kept checkpoints) and deleted again; the
    # other tiles that read a part extracted again rerun with it (Snakemake: their input is updated by a job),
    # bit-identically: recomputation, never a loss (docs/storage.md)
    all_tiles = exp.cka.tiles(exp.epochs, exp.epochs)
    rows, cols = exp.cka.tile_parts(all_tiles[1])  # rows 0-2 x columns 3-4: every part
    needed = set(rows + cols)
    sharing = [t for t in all_tiles if needed & set(sum(exp.cka.tile_parts(t), []))]
    rerun = work / exp.cka.tile_dir(all_tiles[1])
    shutil.rmtree(rerun)
    proc = snakemake(work, cfg, *pipeline_targets(cfg))
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts == {"extract_segment": len(needed), "cka_tile": len(sharing), "cka_assemble": 1, "twopoint_fit": 1}, (
        counts
    )
    assert rerun.is_dir() and not any(p.exists() for p in parts)
    assert_same_cka(work, drill_reference, exp)


def test_keep_deletes_nothing(drill_reference, tmp_path):
    work = tmp_path / "run"
    cfg = copy_with_policy(drill_reference, work, "keep")
    exp = experiment(cfg)
    tile = work / exp.cka.tile_dir(exp.cka.tiles(exp.epochs, exp.epochs)[0])
    shutil.rmtree(tile)
    snakemake(work, cfg, *pipeline_targets(cfg))
    assert tile.is_dir() and all(p.is_dir() for p in part_dirs(work, exp))
