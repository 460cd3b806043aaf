"""Job commands of the CKA stages: cka-tile, cka-assemble, cka-layer-pairs (called by workflow/rules/cka.smk)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import add_command, add_out, add_tile_arguments
from repdyn.machine import settings as runtime


def cmd_cka_tile(args: argparse.Namespace) -> int:
    from repdyn.cka import entry_points

    runtime.set_threads(args.threads)
    entry_points.tile(Path(args.cka_dir), args.tile, args.rows, args.cols, args.out)
    return 0


def cmd_cka_assemble(args: argparse.Namespace) -> int:
    from repdyn.cka import entry_points

    entry_points.assemble(Path(args.cka_dir), args.tiles, args.shape, args.metrics, args.title, args.out)
    return 0


def cmd_cka_layer_pairs(args: argparse.Namespace) -> int:
    from repdyn.cka.layer_pairs import run_layer_pairs

    run_layer_pairs(Path(args.cka_dir), args.epoch, args.parts, args.out)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "cka-tile", cmd_cka_tile, "one block of the CKA matrices of all layers")
    p.add_argument("cka_dir", help="the CKA artifact directory results/cka/<id> (or results/cka_cross/<id>)")
    add_tile_arguments(p, "extraction parts")

    p = add_command(sub, "cka-assemble", cmd_cka_assemble, "whole CKA matrices from tiles, Zarr store and heatmaps")
    p.add_argument("cka_dir", help="the CKA artifact directory results/cka/<id> (or results/cka_cross/<id>)")
    p.add_argument("tiles", nargs="+", help="every tile directory of the matrix")
    p.add_argument("--shape", required=True, help="e<rows length> or e<rows>x<cols>, as in the output name")
    p.add_argument("--metrics", default=None, help="metrics table of the rows' run, for the error-curve panel")
    p.add_argument("--title", default="", help="figure title: the experiments these results belong to")
    add_out(p, "the assembled directory")

    p = add_command(
        sub, "cka-layer-pairs", cmd_cka_layer_pairs, "layers x layers CKA at one grid epoch, from the Grams"
    )
    p.add_argument("cka_dir", help="the CKA artifact directory results/cka/<id> (its estimator and accumulation)")
    p.add_argument("--epoch", type=int, required=True, help="the grid epoch")
    p.add_argument("--parts", nargs="+", required=True, help="the extraction part(s) holding the epoch")
    add_out(p, "the layer-pairs directory")
