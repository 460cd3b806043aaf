"""Checksum manifests (repdyn.storage.checksums), the input check of jobs (repdyn.storage.integrity) and `repdyn
verify`,
on small artifacts written through repdyn.storage.atomic. The workflow-level checks (every store kind of a real run,
the jobs that consume them) are in tests/workflow/test_verify.py."""

from __future__ import annotations

import json
import zlib

import pytest

from repdyn.cli import main
from repdyn.storage import atomic, checksums, integrity

PART = "results/extract/0123456789ab/000000-000002"


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch, tmp_path):
    """Each test starts in its own directory with no path remembered as checked."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(integrity, "_checked", set())


def write_part(path=PART) -> None:
    """A directory output holding a nested atomic store and file, as an extraction job writes it."""
    with atomic.atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        atomic.write_json(tmp / "summary.json", {"a": 1})
        with atomic.atomic_path(tmp / "grams.zarr") as store:
            (store / "c").mkdir(parents=True)
            (store / "c" / "0").write_bytes(bytes(range(256)) * 40)
            (store / "zarr.json").write_text("{}")


def flip_byte(path, offset: int = 100) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_a_directory_output_lists_every_file_below_it_and_nested_outputs_record_nothing(tmp_path):
    write_part()
    listed = json.loads((tmp_path / PART / checksums.MANIFEST).read_text())["files"]
    assert sorted(listed) == ["grams.zarr/c/0", "grams.zarr/zarr.json", "summary.json"]
    data = (tmp_path / PART / "grams.zarr/c/0").read_bytes()
    assert listed["grams.zarr/c/0"] == [len(data), f"{zlib.crc32(data):08x}"]
    assert not list((tmp_path / PART).rglob(f"*{checksums.SIDECAR_SUFFIX}"))
    assert [p.name for p in (tmp_path / PART).rglob(checksums.MANIFEST)] == [checksums.MANIFEST]


def test_a_file_output_gets_a_sidecar_and_a_failing_writer_leaves_no_new_one(tmp_path):
    atomic.write_text("results/index.json", "{}\n")
    sidecar = tmp_path / "results/index.json.checksums.json"
    assert json.loads(sidecar.read_text())["files"] == {"index.json": [3, f"{zlib.crc32(b'{}' + bytes([10])):08x}"]}
    with pytest.raises(RuntimeError), atomic.atomic_path("results/other.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["index.json", "index.json.checksums.json"]


@pytest.mark.parametrize(
    "damage, what",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-7]), "truncated, 10233 of 10240 bytes"),
        (flip_byte, "checksum mismatch"),
        (lambda p: p.unlink(), "missing"),
    ],
)
def test_check_names_the_damaged_file(tmp_path, damage, what):
    write_part()
    damage(tmp_path / PART / "grams.zarr/c/0")
    problems = checksums.check_artifact(checksums.find_artifact(PART))
    assert [(p.file, p.what) for p in problems] == [("grams.zarr/c/0", what)]


def test_check_reports_unlisted_files_but_not_the_snakemake_timestamp(tmp_path):
    write_part()
    (tmp_path / PART / ".snakemake_timestamp").touch()
    assert checksums.check_artifact(checksums.find_artifact(PART)) == []
    (tmp_path / PART / "grams.zarr/c/1").write_bytes(b"a chunk nobody wrote")  # zarr would read it as data
    assert [(p.file, p.what) for p in checksums.check_artifact(checksums.find_artifact(PART))] == [
        ("grams.zarr/c/1", "not in the manifest")
    ]


def test_require_fails_with_one_line_naming_the_artifact_and_the_cure(tmp_path):
    write_part()
    integrity.require(PART)
    integrity._checked.clear()
    (tmp_path / PART / "grams.zarr/c/0").write_bytes(b"short")
    with pytest.raises(integrity.CorruptInput) as err:
        integrity.require(tmp_path / PART / "grams.zarr")
    assert str(err.value) == (
        f"input {PART} is damaged (grams.zarr/c/0: truncated, 5 of 10240 bytes); "
        f"rebuild it: rm -r {PART} && snakemake {PART}"
    )


def test_require_checks_only_the_part_it_is_asked_for(tmp_path):
    segment = "results/train/0123456789ab/segments/000000-000002"
    with atomic.atomic_path(segment) as tmp:
        (tmp / "checkpoints").mkdir(parents=True)
        for epoch in (1, 2):
            (tmp / "checkpoints" / f"e00000{epoch}.pt").write_bytes(bytes(1000) + bytes([epoch]))
    flip_byte(tmp_path / segment / "checkpoints/e000002.pt", 10)
    integrity.require(f"{segment}/checkpoints/e000001.pt")
    with pytest.raises(integrity.CorruptInput, match=r"checkpoints/e000002\.pt: checksum mismatch"):
        integrity.require(f"{segment}/checkpoints/e000002.pt")


def test_require_passes_unrecorded_inputs_and_names_the_rule_output_of_a_missing_one(tmp_path):
    (tmp_path / "old.h5").write_bytes(b"written before manifests")
    integrity.require("old.h5")
    with pytest.raises(integrity.MissingInput) as err:
        integrity.require(f"{PART}/grams.zarr")
    assert str(err.value) == f"input {PART}/grams.zarr is missing; build it: snakemake {PART}"
    integrity.require("elsewhere/none.h5")  # outside the layout: the reader's own error names its producer


def test_verify_passes_clean_artifacts_and_reports_damage_with_the_rebuild_command(tmp_path, capsys):
    write_part()
    atomic.write_text("results/data/0123456789ab/dataset.h5", "images")
    (tmp_path / "results/extract/0123456789ab" / f"{atomic.TMP_PREFIX}000002-000004.abcdefgh").mkdir()
    assert main(["verify"]) == 0
    out = capsys.readouterr()
    assert "2 artifacts, 4 files" in out.err and "0 damaged" in out.err and "1 temporaries" in out.err
    assert "repdyn verify: 4/4 files" in out.err  # the progress line

    flip_byte(tmp_path / "results/data/0123456789ab/dataset.h5", 2)
    assert main(["verify", "results"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "results/data/0123456789ab/dataset.h5: dataset.h5: checksum mismatch",
        "rebuild: rm -rf results/data/0123456789ab/dataset.h5 && snakemake results/data/0123456789ab/dataset.h5",
    ]
    assert main(["verify", "--quick", "results"]) == 0  # same size: only the checksum sees it


def test_record_gives_old_artifacts_manifests_and_leaves_other_files_unrecorded(tmp_path, capsys):
    old = tmp_path / PART / "grams.zarr"
    old.mkdir(parents=True)
    (old / "zarr.json").write_text("{}")
    (tmp_path / "results/data/0123456789ab").mkdir(parents=True)
    (tmp_path / "results/data/0123456789ab/dataset.h5").write_bytes(b"images")
    (tmp_path / "results/notes.txt").write_text("mine")
    assert main(["verify"]) == 1
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # three files in no manifest
    assert main(["verify", "--record"]) == 0
    assert (tmp_path / PART / checksums.MANIFEST).is_file()
    assert (tmp_path / "results/data/0123456789ab/dataset.h5.checksums.json").is_file()
    assert main(["verify"]) == 1
    assert capsys.readouterr().out.strip().splitlines() == [
        "results/notes.txt: in no manifest (written before checksums were recorded? `repdyn verify --record` adds them)"
    ]
    (tmp_path / "results/notes.txt").unlink()
    assert main(["verify"]) == 0


def test_a_killed_sidecar_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    (tmp_path / "results").mkdir()
    leftover = tmp_path / "results" / f"{atomic.TMP_PREFIX}index.json.checksums.json.abcd1234"
    leftover.write_text('{"format": "repdyn-chec')
    atomic.write_text("results/index.json", "{}\n")
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["index.json", "index.json.checksums.json"]
