"""Command line: `python -m repdyn <command>`; what the Snakemake rules call.

Every command takes artifact directories and reads its settings from their
spec.json, so the rules' shell text stays fixed (no settings in it) and a
person can rerun any job by hand with the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from repdyn import artifacts, plan, runtime
from repdyn.config import ConfigError


def cmd_validate(args: argparse.Namespace) -> int:
    from repdyn import config

    cfg = config.load(args.configs or ["config.yaml"])
    p = plan.build(cfg)
    print(json.dumps(p.index(), indent=2))
    return 0


def cmd_prepare_data(args: argparse.Namespace) -> int:
    from repdyn.data import prepare_dataset

    data_dir = Path(args.data_dir)
    spec = artifacts.read_spec(data_dir, "data")
    settings = {**spec["settings"], **runtime.data_source(data_dir.name)}
    prepare_dataset(settings, data_dir / "dataset.h5")
    return 0


def _run_context(run_dir: Path) -> tuple[dict, Path]:
    spec, dataset = artifacts.run_and_dataset(run_dir.name)
    return spec["settings"], dataset


def cmd_init(args: argparse.Namespace) -> int:
    from repdyn.train import init_run

    runtime.set_threads(args.threads)
    run, dataset = _run_context(Path(args.run_dir))
    init_run(run, dataset, args.out, device=runtime.device())
    return 0


def cmd_train_segment(args: argparse.Namespace) -> int:
    from repdyn.train import train_segment

    runtime.set_threads(args.threads)
    run, dataset = _run_context(Path(args.run_dir))
    checkpoints = [int(e) for e in args.checkpoints.split(",") if e]
    state = Path(args.state) / "state.pt"
    train_segment(run, dataset, state, args.end, checkpoints, args.out, device=runtime.device(), expected_start=args.start)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from repdyn import atomic
    from repdyn.train import read_metrics, training_phases
    from repdyn.train.metrics import write_metrics

    rows = [r for r in read_metrics([Path(d) / "metrics.tsv" for d in args.segment_dirs]) if r["epoch"] <= args.end]
    if not rows or rows[-1]["epoch"] != args.end:
        raise ValueError(f"metrics of {args.segment_dirs} do not reach epoch {args.end}")
    write_metrics(args.out, rows)
    atomic.write_json(args.phases, training_phases(rows))
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="repdyn", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check config file(s) and print experiments with their artifact ids")
    p.add_argument("configs", nargs="*", help="YAML files, later ones merged on top (default: config.yaml)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("prepare-data", help="build results/data/<id>/dataset.h5 from its spec.json")
    p.add_argument("data_dir")
    p.set_defaults(func=cmd_prepare_data)

    p = sub.add_parser("init", help="epoch-0 network and resume state of a training run")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("train-segment", help="train epochs (start, end] from the resume state at start")
    p.add_argument("run_dir")
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--state", required=True, help="directory holding state.pt at epoch `start`")
    p.add_argument("--checkpoints", default="", help="comma-separated epochs to checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_train_segment)

    p = sub.add_parser("metrics", help="concatenate per-segment metrics through an epoch; detect training phases")
    p.add_argument("segment_dirs", nargs="+")
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--phases", required=True)
    p.set_defaults(func=cmd_metrics)

    from repdyn import cli_cka

    cli_cka.register(sub)

    from repdyn import cli_drs

    cli_drs.register(sub)

    from repdyn import cli_plan

    cli_plan.register(sub)

    from repdyn import cli_report

    cli_report.register(sub)

    from repdyn import verify

    verify.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"repdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2
