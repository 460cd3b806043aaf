"""Job commands of the DRS stages: make-planes, probe-segment, planes-eval, drs-tile, drs-assemble
(called by workflow/rules/drs.smk)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import add_command, add_out, add_threads, add_tile_arguments, positive_int
from repdyn.machine import settings as runtime


def cmd_make_planes(args: argparse.Namespace) -> int:
    from repdyn.drs import entry_points

    entry_points.make_planes(Path(args.planes_dir), args.out)
    return 0


def cmd_probe_segment(args: argparse.Namespace) -> int:
    from repdyn.drs import entry_points

    runtime.set_threads(args.threads)
    entry_points.probe(
        Path(args.probe_dir), args.source, args.epochs, args.out, args.memory_budget_mb, runtime.device()
    )
    return 0


def cmd_planes_eval(args: argparse.Namespace) -> int:
    from repdyn.drs import entry_points

    runtime.set_threads(args.threads)
    entry_points.planes_eval(
        Path(args.preds_dir),
        args.probes,
        args.planes,
        args.source,
        args.epochs,
        args.out,
        args.batch_size,
        runtime.device(),
    )
    return 0


def cmd_drs_tile(args: argparse.Namespace) -> int:
    from repdyn.drs import entry_points

    runtime.set_threads(args.threads)
    entry_points.tile(Path(args.drs_dir), args.tile, args.rows, args.cols, args.out, runtime.device())
    return 0


def cmd_drs_assemble(args: argparse.Namespace) -> int:
    from repdyn.drs import entry_points

    entry_points.assemble(Path(args.drs_dir), args.tiles, args.shape, args.probes, args.metrics, args.title, args.out)
    return 0


def _part_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="training output directory holding checkpoints/")
    p.add_argument("--epochs", required=True, help="comma-separated epochs")
    add_out(p, "the part directory")


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "make-planes", cmd_make_planes, "the fixed dbViz plane set of a dataset artifact")
    p.add_argument("planes_dir", help="the plane-set artifact directory results/planes/<id>")
    add_out(p, "the planes.zarr store")

    p = add_command(
        sub,
        "probe-segment",
        cmd_probe_segment,
        "linear probes of every layer at the given epochs of one training output",
        alias="probe",
    )
    p.add_argument("probe_dir", help="the probe artifact directory results/probe/<id>")
    _part_arguments(p)
    p.add_argument(
        "--memory-budget-mb",
        type=positive_int,
        default=4096,
        help="features beyond this size are streamed from scratch files (TMPDIR)",
    )
    add_threads(p)

    p = add_command(sub, "planes-eval", cmd_planes_eval, "probe predictions on every plane point at the given epochs")
    p.add_argument("preds_dir", help="the predictions artifact directory results/preds/<id>")
    p.add_argument("--probes", required=True, help="probe part holding these epochs")
    p.add_argument("--planes", required=True, help="planes.zarr store")
    _part_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=1024, help="plane points per forward pass")
    add_threads(p)

    p = add_command(sub, "drs-tile", cmd_drs_tile, "agreement counts of one block of the DRS matrices of all layers")
    p.add_argument("drs_dir", help="the DRS artifact directory results/drs/<id>")
    add_tile_arguments(p, "predictions parts")

    p = add_command(
        sub, "drs-assemble", cmd_drs_assemble, "whole DRS matrices from tiles, Zarr store, heatmaps, probe error curves"
    )
    p.add_argument("drs_dir", help="the DRS artifact directory results/drs/<id>")
    p.add_argument("tiles", nargs="+", help="every tile directory of the matrix")
    p.add_argument("--shape", required=True, help="e<length>, as in the output name")
    p.add_argument("--probes", nargs="+", required=True, help="probe parts holding the grid epochs")
    p.add_argument("--metrics", required=True, help="metrics table of the run through this length")
    p.add_argument("--title", default="", help="figure title: the experiments these results belong to")
    add_out(p, "the assembled directory")
