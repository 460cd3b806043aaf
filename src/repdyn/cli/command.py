"""One way to add a command: its kind (a user's command or a job the workflow runs) is part of it."""

from __future__ import annotations

import argparse
from collections.abc import Callable

USER = "user"
JOB = "job"


def add_command(sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], help: str,
                kind: str = JOB) -> argparse.ArgumentParser:
    """A subcommand with its one-line help (shown in `repdyn --help` under its kind)."""
    p = sub.add_parser(name, help=help, description=help)
    p.set_defaults(func=func, kind=kind)
    return p


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads for torch and BLAS (the rule's threads)")


def add_out(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--out", required=True, help=f"{what} to write (created whole, or not at all)")


def add_tile_arguments(p: argparse.ArgumentParser, parts: str) -> None:
    """--tile, --rows and --cols of a tile job (CKA or DRS), whose epochs lie in `parts`, and its output."""
    p.add_argument("--tile", required=True, help="<first>-<last>_<first>-<last> epochs of the row and column blocks")
    p.add_argument("--rows", nargs="+", required=True, help=f"{parts} holding the row epochs")
    p.add_argument("--cols", nargs="+", required=True, help=f"{parts} holding the column epochs")
    add_out(p, "the tile directory")
    add_threads(p)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    from repdyn.config.integers import require_int

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    try:
        return require_int("value", value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
