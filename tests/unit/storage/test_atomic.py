"""repdyn.storage.atomic: a finished-looking file appears only when its writer finished; a killed writer's leftovers
go."""

from __future__ import annotations

import pytest

from repdyn.storage import atomic, checksums


def test_a_failing_writer_leaves_the_destination_as_it_was(tmp_path):
    dest = tmp_path / "out.json"
    atomic.write_json(dest, {"a": 1})
    with pytest.raises(RuntimeError), atomic.atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert dest.read_text().strip().startswith("{") and '"a": 1' in dest.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.json.checksums.json"]
    assert checksums.check_artifact(checksums.find_artifact(dest)) == []  # the sidecar still describes it


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    dest = tmp_path / "e000060"
    stale_dir = tmp_path / f"{atomic.TMP_PREFIX}e000060.k3j_9x2a"  # a killed job's half-written store
    (stale_dir / "cka.zarr").mkdir(parents=True)
    stale_file = tmp_path / f"{atomic.TMP_PREFIX}e000060.abcdefgh"
    stale_file.write_text("half")
    others = [
        tmp_path / f"{atomic.TMP_PREFIX}e000060x000060.abcdefgh",  # another destination's temporaries
        tmp_path / f"{atomic.TMP_PREFIX}e000060.png.abcdefgh",
    ]
    for other in others:
        other.write_text("someone else's")
    with atomic.atomic_path(dest) as tmp:
        tmp.mkdir()
    assert dest.is_dir() and not stale_dir.exists() and not stale_file.exists()
    assert all(other.exists() for other in others)
