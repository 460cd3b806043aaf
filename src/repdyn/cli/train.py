"""Job commands of the data and training stages: prepare-data, init, train-segment, run-metrics
(called by workflow/rules/data.smk and train.smk)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import add_command, add_out, add_threads, positive_int
from repdyn.imports.files import is_imported
from repdyn.machine import settings as runtime
from repdyn.storage import spec_files as artifacts


def cmd_prepare_data(args: argparse.Namespace) -> int:
    from repdyn.data import prepare_dataset

    data_dir = Path(args.data_dir)
    spec = artifacts.read_spec(data_dir, "data")
    prepare_dataset({**spec["settings"], **runtime.data_source(data_dir.name)}, data_dir / "dataset.h5")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from repdyn.train import init_run

    runtime.set_threads(args.threads)
    spec, dataset = artifacts.run_and_dataset(Path(args.run_dir).name)
    if is_imported(spec["settings"]):
        _import(spec, dataset, args, 0, 0, [0])
        return 0
    init_run(spec["settings"], dataset, args.out, device=runtime.device())
    return 0


def cmd_train_segment(args: argparse.Namespace) -> int:
    from repdyn.train import train_segment

    runtime.set_threads(args.threads)
    spec, dataset = artifacts.run_and_dataset(Path(args.run_dir).name)
    checkpoints = [int(e) for e in args.checkpoints.split(",") if e]
    if is_imported(spec["settings"]):
        _import(spec, dataset, args, args.start, args.end, checkpoints)
        return 0
    train_segment(
        spec["settings"],
        dataset,
        Path(args.state) / "state.pt",
        args.end,
        checkpoints,
        args.out,
        device=runtime.device(),
        expected_start=args.start,
    )
    return 0


def _import(spec: dict, dataset: Path, args: argparse.Namespace, start: int, end: int, checkpoints: list[int]) -> None:
    """An imported run's init or segment job (repdyn.imports.run)."""
    from repdyn.imports.run import import_part

    source = runtime.run_source(Path(args.run_dir).name)
    import_part(spec["settings"], dataset, source, start, end, checkpoints, args.out, device=runtime.device())


def cmd_run_metrics(args: argparse.Namespace) -> int:
    from repdyn.storage import atomic
    from repdyn.train import read_metrics, training_phases
    from repdyn.train.metrics import write_metrics

    rows = [r for r in read_metrics([Path(d) / "metrics.tsv" for d in args.segment_dirs]) if r["epoch"] <= args.end]
    if not rows or rows[-1]["epoch"] != args.end:
        raise ValueError(f"metrics of {args.segment_dirs} do not reach epoch {args.end}")
    write_metrics(args.out, rows)
    atomic.write_json(args.phases, training_phases(rows))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "prepare-data", cmd_prepare_data, "build results/data/<id>/dataset.h5 from its spec.json")
    p.add_argument("data_dir", help="the dataset artifact directory results/data/<id>")

    p = add_command(sub, "init", cmd_init, "epoch-0 network and resume state of a training run")
    p.add_argument("run_dir", help="the training run's artifact directory results/train/<id>")
    add_out(p, "the init directory")
    add_threads(p)

    p = add_command(sub, "train-segment", cmd_train_segment, "train epochs (start, end] from the resume state at start")
    p.add_argument("run_dir", help="the training run's artifact directory results/train/<id>")
    p.add_argument("--start", type=int, required=True, help="first epoch of the segment minus one (resume state)")
    p.add_argument("--end", type=positive_int, required=True, help="last epoch of the segment")
    p.add_argument("--state", required=True, help="directory holding state.pt at epoch `start`")
    p.add_argument("--checkpoints", default="", help="comma-separated epochs to checkpoint")
    add_out(p, "the segment directory")
    add_threads(p)

    p = add_command(
        sub,
        "run-metrics",
        cmd_run_metrics,
        "concatenate per-segment metrics through an epoch; detect training phases",
        alias="metrics",
    )
    p.add_argument("segment_dirs", nargs="+", help="init and segment directories, in epoch order")
    p.add_argument("--end", type=int, required=True, help="last epoch of the table")
    p.add_argument("--out", required=True, help="the metrics table (TSV) to write")
    p.add_argument("--phases", required=True, help="the phases JSON (perfect fit, test-error peak) to write")
