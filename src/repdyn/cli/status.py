"""Command `status`: what is done for every experiment run in this directory, and where its results are."""

from __future__ import annotations

import argparse
from pathlib import Path

from repdyn.cli.command import USER, add_command

MARKS = {"done": "done", "missing": "—", "off": "off"}


def cmd_status(args: argparse.Namespace) -> int:
    from repdyn.results import experiment as results

    known = results.experiments(args.directory)
    if not known:
        print(f"no results in {args.directory}/results yet: `snakemake --cores 2` runs config.yaml")
        return 0
    if args.experiment:
        exp = results.open_experiment(args.experiment, args.directory)
        print(f"{exp.name}: {exp.entry['train']['epochs']} epochs")
        for stage, path in exp.paths.items():
            print(f"  {stage:<9}{MARKS['done' if (Path(args.directory) / path).exists() else 'missing']:<8}{path}")
        print(f'Python: repdyn.open_experiment("{exp.name}")  (.cka, .drs, .events, .metrics, .paths)')
        return 0
    stages = ("metrics", "cka", "drs", "twopoint", "report")
    width = max(len("experiment"), *(len(n) for n in known))
    print((f"{'experiment':<{width}}  {'epochs':>6}  " + "  ".join(f"{s:<8}" for s in stages)).rstrip())
    for name, entry in known.items():
        state = results.progress(entry, name, args.directory)
        print(
            (
                f"{name:<{width}}  {entry['train']['epochs']:>6}  " + "  ".join(f"{MARKS[state[s]]:<8}" for s in stages)
            ).rstrip()
        )
    print(
        "done: finished; —: not yet; off: not computed by its config.  "
        "`repdyn status --experiment NAME` lists its paths; reports/index.html shows them all."
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "status", cmd_status, "what is done for every experiment run here, and where its results are", kind=USER
    )
    p.add_argument("--experiment", default=None, help="one experiment's result paths")
    p.add_argument("-C", "--directory", default=".", help="the work directory (default: the current one)")
