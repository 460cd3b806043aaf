"""`repdyn --help`: user commands apart from job commands, --version, help text on every argument."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from repdyn import __version__
from repdyn.cli import parser
from repdyn.cli.command import JOB, USER, positive_int


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repdyn", *args], capture_output=True, text=True)


def test_help_lists_user_commands_apart_from_job_commands():
    out = run("--help").stdout
    user, jobs = out.split("user commands:")[1].split("job commands")
    assert "validate" in user and "plan" in user and "train-segment" not in user
    for name in ("prepare-data", "train-segment", "extract", "cka-tile", "drs-assemble", "report-index"):
        assert f"  {name} " in jobs
    assert "validate" not in jobs


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"repdyn {__version__}"


def test_every_command_and_argument_has_help():
    ap = parser()
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 16
    kinds = {p.get_default("kind") for p in sub.choices.values()}
    assert kinds == {USER, JOB}
    missing = [f"{name} {action.dest}" for name, p in sub.choices.items() for action in p._actions
               if not action.help]
    assert missing == []


def test_positive_integer_arguments_are_checked():
    assert positive_int("3") == 3
    for bad in ("0", "-2", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)
    proc = run("probe", "results/probe/x", "--source", "s", "--epochs", "1", "--out", "o", "--memory-budget-mb", "0")
    assert proc.returncode == 2 and "--memory-budget-mb" in proc.stderr
