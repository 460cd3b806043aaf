"""User command `verify`: check artifacts against the checksums recorded when they were written
(repdyn.storage.verify)."""

from __future__ import annotations

import argparse
import os

from repdyn.cli.command import USER, add_command, positive_int


def cmd_verify(args: argparse.Namespace) -> int:
    from repdyn.storage import verify

    return verify.run(args.paths, record_missing=args.record, quick=args.quick, jobs=args.jobs)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "verify", cmd_verify, "check artifacts against the checksums recorded when they were written", kind=USER
    )
    p.add_argument("paths", nargs="*", help="artifacts or directories holding them (default: results reports)")
    p.add_argument("--quick", action="store_true", help="compare names and sizes only (reads no file)")
    p.add_argument("--jobs", type=positive_int, default=min(8, os.cpu_count() or 1), help="files hashed at once")
    p.add_argument(
        "--record",
        action="store_true",
        help="write manifests for artifacts that have none (trusting their present content)",
    )
