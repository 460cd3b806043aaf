"""Job commands of the two-point stages: choose-pairs, twopoint-fit (called by workflow/rules/twopoint.smk)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import add_command, add_out


def cmd_choose_pairs(args: argparse.Namespace) -> int:
    from repdyn.twopoint import entry_points

    entry_points.choose(Path(args.pairs_dir), args.out)
    return 0


def cmd_twopoint_fit(args: argparse.Namespace) -> int:
    from repdyn.twopoint import entry_points

    entry_points.fit(Path(args.twopoint_dir), args.parts, args.shape, args.metrics, args.out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "choose-pairs", cmd_choose_pairs, "the stratified training-set pairs of a dataset artifact")
    p.add_argument("pairs_dir", help="the pairs artifact directory results/pairs/<id>")
    add_out(p, "pairs.json")

    p = add_command(
        sub,
        "twopoint-fit",
        cmd_twopoint_fit,
        "two-point fits of a run's pairs per layer and pair type",
        alias="twopoint",
    )
    p.add_argument("twopoint_dir", help="the two-point artifact directory results/twopoint/<id>")
    p.add_argument("parts", nargs="+", help="the extraction parts holding the grid's epochs (their twopoint.zarr)")
    p.add_argument("--shape", required=True, help="e<length>, as in the output name")
    p.add_argument("--metrics", required=True, help="metrics table of the run through that length (training events)")
    add_out(p, "the result directory")
