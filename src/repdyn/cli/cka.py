"""CLI commands of the CKA stages: extract, cka-tile, cka-assemble (called by workflow/rules/cka.smk)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repdyn import artifacts, plan, runtime


def cmd_extract(args: argparse.Namespace) -> int:
    from repdyn.cka.extract_job import extract_part

    runtime.set_threads(args.threads)
    extract_dir = Path(args.extract_dir)
    spec = artifacts.read_spec(extract_dir, "extract")
    run_spec, dataset = artifacts.run_and_dataset(spec["inputs"]["run"])
    epochs = [int(e) for e in args.epochs.split(",") if e]
    checkpoints = {e: Path(args.source) / "checkpoints" / f"e{e:06d}.pt" for e in epochs}
    missing = [str(p) for p in checkpoints.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints missing (retention deleted them, or the grid changed?): {missing}")
    extract_part(run_spec["settings"], dataset, checkpoints, args.out, spec["settings"],
                 {"extract": extract_dir.name, "run": spec["inputs"]["run"]}, device=runtime.device())
    return 0


def _cka_context(cka_dir: Path) -> tuple[dict, str]:
    spec = artifacts.read_spec(cka_dir, None)
    if spec["stage"] not in ("cka", "cka_cross"):
        raise ValueError(f"{cka_dir} is a {spec['stage']!r} artifact, not a CKA one")
    return spec, spec["stage"]


def _grids(spec: dict) -> tuple:
    settings = spec["settings"]
    return settings["grid_rows"], settings.get("grid_cols", settings["grid_rows"])


def cmd_cka_tile(args: argparse.Namespace) -> int:
    from repdyn.cka.tile_job import run_tile
    from repdyn.plan.cka import block_epochs, parse_tile

    runtime.set_threads(args.threads)
    cka_dir = Path(args.cka_dir)
    spec, stage = _cka_context(cka_dir)
    grid_rows, grid_cols = _grids(spec)
    a, b, c, d = parse_tile(args.tile)
    row_epochs, col_epochs = block_epochs(grid_rows, a, b), block_epochs(grid_cols, c, d)
    diagonal = stage == "cka" and (a, b) == (c, d)
    run_tile(args.out, args.rows, args.cols, row_epochs, col_epochs, spec["settings"], diagonal,
             {"cka": cka_dir.name, "tile": args.tile, "estimator": spec["settings"]["estimator"]})
    return 0


def cmd_cka_assemble(args: argparse.Namespace) -> int:
    import numpy as np

    from repdyn import atomic, grids
    from repdyn.analysis import mean_offdiag
    from repdyn.cka.figures import cka_figures
    from repdyn.cka.tile_job import assemble, write_assembled
    from repdyn.train import phase_marks, read_metrics, training_phases

    cka_dir = Path(args.cka_dir)
    spec, stage = _cka_context(cka_dir)
    grid_rows, grid_cols = _grids(spec)
    rows_length, cols_length = plan.CkaArtifact.lengths_of(args.shape)
    row_epochs, col_epochs = grids.epochs(grid_rows, rows_length), grids.epochs(grid_cols, cols_length)
    matrices, tile_attrs = assemble(args.tiles, row_epochs, col_epochs, symmetric=stage == "cka")
    rows = read_metrics([args.metrics]) if args.metrics else None
    attrs = {"stage": stage, "id": cka_dir.name, "estimator": spec["settings"]["estimator"],
             "accumulate": spec["settings"]["accumulate"], "experiments": args.title,
             "layers": list(matrices), "inputs": spec["inputs"]}
    with atomic.atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        write_assembled(tmp, matrices, row_epochs, col_epochs, attrs)
        marks = None
        if rows is not None and stage == "cka":
            marks = phase_marks(training_phases(rows))
        cka_figures(tmp, matrices, row_epochs, col_epochs, title=args.title, estimator=spec["settings"]["estimator"],
                    metrics_rows=rows if stage == "cka" else None, marks=marks)
        atomic.write_json(tmp / "summary.json", {
            layer: {"min": float(_nanmin(m)),
                    "mean_offdiag": mean_offdiag(m) if stage == "cka" else float(np.nanmean(m))}
            for layer, m in matrices.items()})
    print(json.dumps({"assembled": args.out, "layers": list(matrices)}))
    return 0


def _nanmin(m):
    import numpy as np

    return np.nanmin(m) if np.isfinite(m).any() else float("nan")



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="probe-set Grams of every layer at the given epochs of one training output")
    p.add_argument("extract_dir")
    p.add_argument("--source", required=True, help="training output directory holding checkpoints/")
    p.add_argument("--epochs", required=True, help="comma-separated epochs")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("cka-tile", help="one block of the CKA matrices of all layers")
    p.add_argument("cka_dir")
    p.add_argument("--tile", required=True, help="<first>-<last>_<first>-<last> epochs of the row and column blocks")
    p.add_argument("--rows", nargs="+", required=True, help="extraction parts holding the row epochs")
    p.add_argument("--cols", nargs="+", required=True, help="extraction parts holding the column epochs")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_cka_tile)

    p = sub.add_parser("cka-assemble", help="whole CKA matrices from tiles, Zarr store and heatmaps")
    p.add_argument("cka_dir")
    p.add_argument("tiles", nargs="+")
    p.add_argument("--shape", required=True, help="e<rows length> or e<rows>x<cols>, as in the output name")
    p.add_argument("--metrics", default=None, help="metrics table of the rows' run, for the error-curve panel")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_cka_assemble)
