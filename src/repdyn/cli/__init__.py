"""Command line: `python -m repdyn <command>`.

Commands for people (validate, plan, status, verify, events) look at a config and its results; job
commands are what the Snakemake rules run. Every job command takes artifact directories and reads its
settings from their spec.json, so the rules' shell text stays fixed (no settings in it) and a person
can rerun any job by hand with the same command.
This package only parses arguments and calls the package's functions.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from repdyn import __version__
from repdyn.cli import cka, drs, extract, planning, report, status, train, twopoint, verify
from repdyn.cli.command import JOB, USER
from repdyn.config import ConfigError

MODULES = (planning, status, verify, train, extract, cka, drs, twopoint, report)
HEADINGS = {USER: "commands for people", JOB: "job commands (run by the workflow; each can be rerun by hand)"}
# The order a person meets them in: check a config, see its cost, see what is done, check files, read events.
USER_ORDER = ("validate", "plan", "status", "verify", "events")


def _command_list(sub: argparse._SubParsersAction) -> str:
    """The commands (not their aliases) under their kind's heading, people's commands first, for `repdyn --help`."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    rank = {name: i for i, name in enumerate(USER_ORDER)}
    blocks = []
    for kind, heading in HEADINGS.items():
        names = sorted(
            (name for name in helps if sub.choices[name].get_default("kind") == kind),
            key=lambda name: rank.get(name, len(rank)),
        )
        blocks.append(heading + ":\n" + "\n".join(f"  {name:<18}{helps[name]}" for name in names))
    return "\n\n".join(blocks)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="repdyn",
        usage="repdyn [-h] [--version] COMMAND ...",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"repdyn {__version__}")
    # prog: each command's usage line reads `repdyn validate ...`, not the main usage followed by the name
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS, prog="repdyn")
    for module in MODULES:
        module.register(sub)
    ap.epilog = _command_list(sub) + "\n\n`repdyn COMMAND --help` describes a command's arguments."
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"repdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
