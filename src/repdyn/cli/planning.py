"""User commands `validate` and `plan`: a config's experiments and ids, and its cost before anything runs."""

from __future__ import annotations

import argparse
import json

from repdyn.cli.command import USER, add_command


def _plan(configs: list[str]):
    from repdyn import config, plan

    return plan.build(config.load(configs or ["config.yaml"]))


def cmd_validate(args: argparse.Namespace) -> int:
    print(json.dumps(_plan(args.configs).index(), indent=2))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from repdyn.overview import plan_report

    print(plan_report(_plan(args.configs), args.experiment, args.json))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "validate", cmd_validate, "check config file(s) and print experiments with their artifact ids",
                    kind=USER)
    p.add_argument("configs", nargs="*", help="YAML files, later ones merged on top (default: config.yaml)")

    p = add_command(sub, "plan", cmd_plan, "job counts per rule, disk per stage and GPU-hours of a config (nothing runs)",
                    kind=USER)
    p.add_argument("configs", nargs="*", help="YAML files, later ones merged on top (default: config.yaml)")
    p.add_argument("--experiment", default=None, help="only this experiment's summary")
    p.add_argument("--json", action="store_true", help="machine-readable output")
