"""One way to add a command: its kind (a user's command or a job the workflow runs) is part of it.

A job command is named after its rule, with hyphens for underscores (rule extract_segment: `repdyn
extract-segment`). A few rules' shell lines name their command by an alias, which stays: changing a rule's
shell text would make Snakemake rerun every finished job of that rule (docs/cli.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

USER = "user"
JOB = "job"


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
    kind: str = JOB,
    alias: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with its one-line help (shown in `repdyn --help` under its kind); `alias`: the name a rule's
    shell line uses, accepted as well and not listed."""
    description = help
    if alias is not None:
        description += f"\n\nAlso runs as `repdyn {alias}`, the name its rule's shell line uses."
    p = sub.add_parser(
        name,
        aliases=[alias] if alias else [],
        help=help,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=func, kind=kind)
    return p


def aliases(sub: argparse._SubParsersAction) -> dict[str, str]:
    """{alias: command} of the subcommands."""
    primary = {id(sub.choices[action.dest]): action.dest for action in sub._choices_actions}
    return {name: primary[id(p)] for name, p in sub.choices.items() if primary[id(p)] != name}


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads", type=positive_int, default=1, help="CPU threads for torch and BLAS (the rule's threads)"
    )


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
