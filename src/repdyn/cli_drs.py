"""CLI commands of the DRS stages: make-planes, probe, planes-eval, drs-tile, drs-assemble
(called by workflow/rules/drs.smk).

Settings come from the artifacts' spec.json; the only options that are not paths or epochs are the ones
kept out of every id on purpose (the feature memory budget, the plane-evaluation batch size).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repdyn import artifacts, plan, runtime


def _checkpoints(source: str, epochs_text: str) -> dict[int, Path]:
    epochs = [int(e) for e in epochs_text.split(",") if e]
    if not epochs:
        raise ValueError("--epochs lists no epoch")
    checkpoints = {e: Path(source) / "checkpoints" / f"e{e:06d}.pt" for e in epochs}
    missing = [str(p) for p in checkpoints.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints missing (retention deleted them, or the grid changed?): {missing}")
    return checkpoints


def cmd_make_planes(args: argparse.Namespace) -> int:
    from repdyn.drs_jobs.planes_job import make_planes

    planes_dir = Path(args.planes_dir)
    spec = artifacts.read_spec(planes_dir, "planes")
    data_id = spec["inputs"]["data"]
    make_planes(plan.RESULTS / "data" / data_id / "dataset.h5", args.out, spec["settings"],
                {"planes": planes_dir.name, "data": data_id})
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from repdyn.drs_jobs.probe_job import probe_part

    runtime.set_threads(args.threads)
    probe_dir = Path(args.probe_dir)
    spec = artifacts.read_spec(probe_dir, "probe")
    run_spec, dataset = artifacts.run_and_dataset(spec["inputs"]["run"])
    probe_part(run_spec["settings"], dataset, _checkpoints(args.source, args.epochs), args.out, spec["settings"],
               {"probe": probe_dir.name, "run": spec["inputs"]["run"]},
               memory_budget_bytes=args.memory_budget_mb * 2**20, device=runtime.device())
    return 0


def cmd_planes_eval(args: argparse.Namespace) -> int:
    from repdyn.drs_jobs.preds_job import preds_part

    runtime.set_threads(args.threads)
    preds_dir = Path(args.preds_dir)
    spec = artifacts.read_spec(preds_dir, "preds")
    probe_spec = artifacts.read_spec(plan.RESULTS / "probe" / spec["inputs"]["probe"], "probe")
    run_spec, dataset = artifacts.run_and_dataset(probe_spec["inputs"]["run"])
    preds_part(run_spec["settings"], dataset, _checkpoints(args.source, args.epochs), args.probes, args.planes,
               args.out, {"preds": preds_dir.name, **spec["inputs"]}, batch_size=args.batch_size,
               device=runtime.device(), precision=spec["settings"].get("precision", "float32"))
    return 0


def _device() -> str:
    from repdyn.devices import resolve_device

    return str(resolve_device(runtime.device()))


def cmd_drs_tile(args: argparse.Namespace) -> int:
    from repdyn.drs_jobs.tile_job import run_tile
    from repdyn.plan.cka import block_epochs, parse_tile

    runtime.set_threads(args.threads)
    drs_dir = Path(args.drs_dir)
    grid = artifacts.read_spec(drs_dir, "drs")["settings"]["grid"]
    a, b, c, d = parse_tile(args.tile)
    run_tile(args.out, args.rows, args.cols, block_epochs(grid, a, b), block_epochs(grid, c, d), (a, b) == (c, d),
             {"drs": drs_dir.name, "tile": args.tile}, device=_device())
    return 0


def cmd_drs_assemble(args: argparse.Namespace) -> int:
    import math

    from repdyn import atomic, grids
    from repdyn.analysis import mean_offdiag
    from repdyn.drs_jobs.figures import drs_figures
    from repdyn.drs_jobs.store import ProbeParts
    from repdyn.drs_jobs.tile_job import assemble, write_assembled
    from repdyn.train import phase_marks, read_metrics, training_phases

    drs_dir = Path(args.drs_dir)
    spec = artifacts.read_spec(drs_dir, "drs")
    epochs = grids.epochs(spec["settings"]["grid"], plan.DrsArtifact.length_of(args.shape))
    counts, points = assemble(args.tiles, epochs)
    probes = ProbeParts(args.probes)
    if probes.layers != list(counts):
        raise ValueError(f"probe layers {probes.layers} differ from the tiles' layers {list(counts)}")
    train_err, test_err = probes.errors(epochs)
    labels = dict(probes.parts[0].group.attrs["layer_labels"])
    rows = read_metrics([args.metrics])
    marks = phase_marks(training_phases(rows))
    matrices = {layer: c / points for layer, c in counts.items()}
    attrs = {"stage": "drs", "id": drs_dir.name, "experiments": args.title, "layer_labels": labels,
             "num_classes": probes.parts[0].num_classes, "inputs": spec["inputs"], "settings": spec["settings"]}
    with atomic.atomic_path(args.out) as tmp:
        tmp.mkdir(parents=True)
        write_assembled(tmp, counts, points, epochs, train_err, test_err, attrs)
        drs_figures(tmp, matrices, epochs, title=args.title, metrics_rows=rows, probe_test_err=test_err,
                    layer_labels=labels, marks=marks)
        atomic.write_json(tmp / "summary.json", {
            layer: {"min": float(m.min()), "mean_offdiag": None if math.isnan(mean := mean_offdiag(m)) else mean,
                    "final_probe_test_err": float(test_err[-1, i])}
            for i, (layer, m) in enumerate(matrices.items())})
    print(json.dumps({"assembled": args.out, "layers": list(matrices), "points": points}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-planes", help="the fixed dbViz plane set of a dataset artifact")
    p.add_argument("planes_dir")
    p.add_argument("--out", required=True, help="the planes.zarr store to write")
    p.set_defaults(func=cmd_make_planes)

    p = sub.add_parser("probe", help="linear probes of every layer at the given epochs of one training output")
    p.add_argument("probe_dir")
    p.add_argument("--source", required=True, help="training output directory holding checkpoints/")
    p.add_argument("--epochs", required=True, help="comma-separated epochs")
    p.add_argument("--out", required=True)
    p.add_argument("--memory-budget-mb", type=int, default=4096,
                   help="features beyond this size are streamed from scratch files (TMPDIR)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("planes-eval", help="probe predictions on every plane point at the given epochs")
    p.add_argument("preds_dir")
    p.add_argument("--probes", required=True, help="probe part holding these epochs")
    p.add_argument("--planes", required=True, help="planes.zarr store")
    p.add_argument("--source", required=True, help="training output directory holding checkpoints/")
    p.add_argument("--epochs", required=True, help="comma-separated epochs")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=int, default=1024, help="plane points per forward pass")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_planes_eval)

    p = sub.add_parser("drs-tile", help="agreement counts of one block of the DRS matrices of all layers")
    p.add_argument("drs_dir")
    p.add_argument("--tile", required=True, help="<first>-<last>_<first>-<last> epochs of the row and column blocks")
    p.add_argument("--rows", nargs="+", required=True, help="predictions parts holding the row epochs")
    p.add_argument("--cols", nargs="+", required=True, help="predictions parts holding the column epochs")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_drs_tile)

    p = sub.add_parser("drs-assemble", help="whole DRS matrices from tiles, Zarr store, heatmaps, probe error curves")
    p.add_argument("drs_dir")
    p.add_argument("tiles", nargs="+")
    p.add_argument("--shape", required=True, help="e<length>, as in the output name")
    p.add_argument("--probes", nargs="+", required=True, help="probe parts holding the grid epochs")
    p.add_argument("--metrics", required=True, help="metrics table of the run through this length")
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_drs_assemble)
