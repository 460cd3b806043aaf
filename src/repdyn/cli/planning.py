"""Commands `validate` and `plan`: a config's experiments and ids, and its cost before (or while) it runs."""

from __future__ import annotations

import argparse
import json

from repdyn.cli.command import USER, add_command


def _plan(args: argparse.Namespace):
    from repdyn import config, plan
    from repdyn.config import overrides

    sources = args.configs or ["config.yaml"]
    loaded = config.load(sources, overrides.from_assignments(args.set))
    with config.naming_sources(sources, bool(args.set)):
        return plan.build(loaded)


def validate_summary(p, sources: list[str]) -> str:
    """A few lines: the config is valid, its experiments with their length, grids and run ids."""
    exps = p.experiments
    lines = [
        f"{', '.join(sources)}: valid, {len(exps)} experiment{'s' * (len(exps) != 1)} "
        f"(device {p.config.device}, {p.config.threads} thread{'s' * (p.config.threads != 1)} per job)"
    ]
    width = max(len(e.name) for e in exps)
    for e in exps:
        grids = "  ".join(
            _grid_summary(kind, epochs, e.experiment.section("grids")[kind], e.epochs)
            for kind, epochs in e.grids.items()
        )
        lines.append(f"  {e.name:<{width}}  {e.epochs:>5} epochs  {grids}  run {e.run.id}")
    lines.append("ids and paths of every artifact: repdyn validate --json; cost: repdyn plan")
    return "\n".join(lines)


def _grid_summary(kind: str, epochs: tuple[int, ...], spec, length: int) -> str:
    """`cka 37 epochs`, and how many grid points lie after the last epoch (kept for a longer run)."""
    from repdyn.config import grids

    later = len(grids.beyond(spec, length))
    return f"{kind} {len(epochs)} epochs" + (f" (+{later} after epoch {length})" if later else "")


def cmd_validate(args: argparse.Namespace) -> int:
    p = _plan(args)
    print(json.dumps(p.index(), indent=2) if args.json else validate_summary(p, args.configs or ["config.yaml"]))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from repdyn.cost.report import plan_report

    print(plan_report(_plan(args), args.experiment, args.json, root=args.directory))
    return 0


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("configs", nargs="*", help="YAML files, later ones merged on top (default: config.yaml)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one setting, typed as in YAML (e.g. defaults.train.epochs=60); repeatable",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "validate", cmd_validate, "check config file(s): a short summary of the experiments", kind=USER
    )
    _config_arguments(p)
    p.add_argument("--json", action="store_true", help="print the experiments' artifact ids and paths as JSON")

    p = add_command(
        sub,
        "plan",
        cmd_plan,
        "jobs, disk and hours of a config: what exists and what remains (nothing runs)",
        kind=USER,
    )
    _config_arguments(p)
    p.add_argument("--experiment", default=None, help="only this experiment's row")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-C", "--directory", default=".", help="the work directory whose results count as done")
