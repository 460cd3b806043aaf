"""Job command of the extraction stage: extract-segment (called by workflow/rules/cka.smk as `extract`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import add_command, add_out, add_threads
from repdyn.machine import settings as runtime


def cmd_extract_segment(args: argparse.Namespace) -> int:
    from repdyn.extract import entry_points

    runtime.set_threads(args.threads)
    entry_points.extract(Path(args.extract_dir), args.source, args.epochs, args.out, device=runtime.device())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "extract-segment",
        cmd_extract_segment,
        "probe-set Grams of every layer at the given epochs of one training output",
        alias="extract",
    )
    p.add_argument("extract_dir", help="the extraction artifact directory results/extract/<id>")
    p.add_argument("--source", required=True, help="training output directory holding checkpoints/")
    p.add_argument("--epochs", required=True, help="comma-separated epochs")
    add_out(p, "the part directory")
    add_threads(p)
