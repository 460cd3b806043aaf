"""`repdyn --help`: user commands apart from job commands, --version, help text on every argument."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest
from support import REPO
from support.configs import tiny_raw
from support.workflow import write_config

from repdyn import __version__
from repdyn.cli import parser
from repdyn.cli.command import JOB, USER, aliases, positive_int


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repdyn", *args], capture_output=True, text=True)


def test_help_lists_user_commands_apart_from_job_commands():
    out = run("--help").stdout
    user, jobs = out.split("commands for people:")[1].split("job commands")
    assert [line.split()[0] for line in user.strip().splitlines()] == ["validate", "plan", "status", "verify", "events"]
    for name in ("prepare-data", "train-segment", "extract-segment", "cka-tile", "drs-assemble", "report-index"):
        assert f"  {name} " in jobs
    assert "validate" not in jobs


RULE_FILES = REPO / "workflow" / "rules"


def rule_blocks() -> dict[str, str]:
    """Rule name -> the text of its block in workflow/rules/*.smk."""
    blocks = {}
    for path in sorted(RULE_FILES.glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2]))
    return blocks


def _subcommands() -> argparse._SubParsersAction:
    return next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))


def test_help_lists_every_job_command_by_its_rules_name_and_no_alias():
    jobs = run("--help").stdout.split("job commands")[1]
    listed = [line.split()[0] for line in jobs.splitlines()[1:] if line.startswith("  ")]
    shell_rules = [name for name, body in rule_blocks().items() if "    shell:" in body]
    assert sorted(listed) == sorted(name.replace("_", "-") for name in shell_rules)
    assert not set(listed) & set(aliases(_subcommands()))


def test_every_rules_shell_line_names_a_command_whose_primary_name_is_the_rules():
    known, alias_of = _subcommands().choices, aliases(_subcommands())
    named = {}
    for name, body in rule_blocks().items():
        for command in re.findall(r"python -m repdyn ([\w-]+)", body):
            assert command in known, f"rule {name} runs `repdyn {command}`, which is no command"
            named[name] = alias_of.get(command, command)
    assert named and all(command == name.replace("_", "-") for name, command in named.items()), named
    assert alias_of == {
        "extract": "extract-segment",
        "probe": "probe-segment",
        "metrics": "run-metrics",
        "twopoint": "twopoint-fit",
    }


def test_an_alias_runs_its_command():
    proc = run("probe", "results/probe/x", "--source", "s", "--epochs", "1", "--out", "o", "--memory-budget-mb", "0")
    assert proc.returncode == 2 and proc.stderr.startswith("usage: repdyn probe-segment")
    assert "Also runs as `repdyn metrics`" in run("run-metrics", "--help").stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"repdyn {__version__}"


def test_every_command_and_argument_has_help():
    ap = parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 16
    kinds = {p.get_default("kind") for p in sub.choices.values()}
    assert kinds == {USER, JOB}
    missing = [f"{name} {action.dest}" for name, p in sub.choices.items() for action in p._actions if not action.help]
    assert missing == []


def test_positive_integer_arguments_are_checked():
    assert positive_int("3") == 3
    for bad in ("0", "-2", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)
    proc = run(
        "probe-segment", "results/probe/x", "--source", "s", "--epochs", "1", "--out", "o", "--memory-budget-mb", "0"
    )
    assert proc.returncode == 2 and "--memory-budget-mb" in proc.stderr


def test_each_commands_usage_line_names_only_that_command():
    for name in ("validate", "plan", "status", "cka-tile"):
        first = run(name, "--help").stdout.splitlines()[0]
        assert first.startswith(f"usage: repdyn {name} [-h]"), first


def test_validate_prints_a_short_summary_and_the_index_with_json(tmp_path):
    cfg = str(write_config(tmp_path, tiny_raw()))
    proc = run("validate", cfg)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0] == f"{cfg}: valid, 1 experiment (device cpu, 1 thread per job)"
    assert len(lines) == 3 and lines[1].split()[:3] == ["tiny", "4", "epochs"]
    index = json.loads(run("validate", cfg, "--json").stdout)
    assert list(index["experiments"]) == ["tiny"] and index["experiments"]["tiny"]["train"]["epochs"] == 4
    longer = run("validate", cfg, "--set", "defaults.train.epochs=6").stdout
    assert longer.splitlines()[1].split()[:3] == ["tiny", "6", "epochs"]


def test_a_missing_config_file_is_one_line():
    proc = run("validate", "nope.yaml")
    assert proc.returncode == 2 and proc.stderr.strip() == "repdyn validate: error: config file not found: nope.yaml"


@pytest.mark.parametrize(
    "section, value, message",
    [
        ("data", None, "experiments[0] (tiny): required section missing: data (give it under defaults:"),
        ("train", 5, "defaults.train: 5 is not a mapping"),
    ],
)
def test_validate_names_a_bad_section_in_one_line_without_a_traceback(tmp_path, section, value, message):
    raw = tiny_raw()
    if value is None:
        del raw["defaults"][section]
    else:
        raw["defaults"][section] = value
    cfg = str(write_config(tmp_path, raw))
    proc = run("validate", cfg)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"repdyn validate: error: {cfg}: {message}")


def test_validate_counts_the_grid_points_past_the_end(tmp_path):
    """A ranges grid longer than the run is cut at train.epochs; the summary says how many points wait."""
    raw = tiny_raw()
    raw["defaults"]["grids"]["drs"] = {"ranges": [[0, 4, 2], [4, 40, 4]]}
    line = run("validate", str(write_config(tmp_path, raw))).stdout.splitlines()[1]
    assert "cka 5 epochs  drs 3 epochs (+9 after epoch 4)" in line
    raw["defaults"]["grids"]["drs"] = [0, 2, 8]
    proc = run("validate", str(write_config(tmp_path, raw)), "--set", "defaults.train.epochs=6")
    assert proc.returncode == 2 and proc.stderr.strip().endswith(
        "with overrides: experiments[0] (tiny).grids.drs: epoch 8 is past train.epochs = 6; list only trained "
        "epochs, or give ranges:, which stop at train.epochs"
    )
