"""The guard that fails a Snakemake run which ended without a requested output (repdyn.scheduling.targets)."""

from __future__ import annotations

import pytest

from repdyn.scheduling.targets import require_built, unbuilt


def test_unbuilt_names_missing_outputs_and_the_inputs_of_a_rule_without_outputs(tmp_path):
    made, absent, also_absent = tmp_path / "made", tmp_path / "absent", tmp_path / "also-absent"
    made.mkdir()
    targets = [([str(made), str(absent)], []), ([], [str(made), str(also_absent)])]
    assert unbuilt(targets) == [str(absent), str(also_absent)]


def test_require_built_passes_when_everything_exists(tmp_path):
    (tmp_path / "tile").mkdir()
    require_built([([str(tmp_path / "tile")], [str(tmp_path / "part")])])  # an input need not exist


def test_require_built_exits_with_one_line_naming_the_outputs_and_the_cure(tmp_path):
    paths = [str(tmp_path / f"tile{i}") for i in range(7)]
    with pytest.raises(SystemExit) as exc:
        require_built([(paths, [])])
    message = str(exc.value)
    assert "\n" not in message and "7 requested output(s)" in message
    assert paths[0] in message and paths[4] in message and paths[5] not in message and "and 2 more" in message
    assert "Run the same command again" in message
