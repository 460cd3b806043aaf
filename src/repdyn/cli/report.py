"""Job commands `report-experiment` and `report-index`: the HTML reports (repdyn.report)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repdyn.cli.command import USER, add_command


def _cross(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        other, sep, path = pair.partition("=")
        if not sep or not other or not path:
            raise ValueError(f"--cross {pair!r}: expected OTHER_EXPERIMENT=ASSEMBLED_DIR")
        out[other] = Path(path)
    return out


def cmd_report_experiment(args: argparse.Namespace) -> int:
    from repdyn.report import ExperimentInputs, ExperimentReport

    inputs = ExperimentInputs(
        name=args.name,
        data_dir=Path(args.data),
        run_dir=Path(args.run),
        metrics=Path(args.metrics),
        phases=Path(args.phases),
        cka=Path(args.cka) if args.cka else None,
        drs=Path(args.drs) if args.drs else None,
        cross=_cross(args.cross),
        preds=tuple(Path(p) for p in args.preds),
        planes=Path(args.planes) if args.planes else None,
        twopoint=Path(args.twopoint) if args.twopoint else None,
        layer_pairs=tuple(Path(p) for p in args.layer_pairs),
    )
    doc = ExperimentReport(inputs, penalty=args.penalty, tolerance=args.init_tolerance).write(args.out)
    print(json.dumps({"report": args.out, "layers": doc["layers"]}))
    return 0


def cmd_report_index(args: argparse.Namespace) -> int:
    from repdyn.report import build_index

    build_index(
        args.reports,
        html_path=args.html,
        summary_path=args.summary,
        compare_dir=args.compare,
        findings_path=args.findings,
    )
    print(json.dumps({"index": args.html, "experiments": len(args.reports)}))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from repdyn.analysis.events import training_events
    from repdyn.train.metrics import read_metrics

    print(json.dumps(training_events(read_metrics(args.metrics)).as_dict(), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "events",
        cmd_events,
        "training events of a metrics table (perfect fit, instabilities, memorisation, double descent) as JSON",
        kind=USER,
    )
    p.add_argument("metrics", help="a metrics table, e.g. results/train/<id>/metrics/e000060.tsv")

    p = add_command(
        sub, "report-experiment", cmd_report_experiment, "one experiment's HTML report, figures and summary rows"
    )
    p.add_argument("name", help="the experiment's name (config.yaml)")
    p.add_argument("--data", required=True, help="results/data/<id>")
    p.add_argument("--run", required=True, help="results/train/<id>")
    p.add_argument("--metrics", required=True, help="the run's metrics table through the experiment's length")
    p.add_argument("--phases", required=True, help="its phases.json (perfect fit, test-error peak)")
    p.add_argument("--cka", default=None, help="assembled CKA directory results/cka/<id>/e<E>")
    p.add_argument("--drs", default=None, help="assembled DRS directory results/drs/<id>/e<E>")
    p.add_argument("--cross", nargs="*", default=[], help="OTHER=results/cka_cross/<id>/e<E>x<E'> per cross-run result")
    p.add_argument(
        "--preds",
        nargs="*",
        default=[],
        help="DRS predictions parts results/preds/<id>/<start>-<end> (with --planes: the decision-region figures)",
    )
    p.add_argument("--planes", default=None, help="the plane set's store results/planes/<id>/planes.zarr")
    p.add_argument("--twopoint", default=None, help="two-point result directory results/twopoint/<id>/e<E>")
    p.add_argument(
        "--layer-pairs", nargs="*", default=[], help="layers x layers CKA directories results/cka/<id>/layers/e<epoch>"
    )
    p.add_argument("--penalty", type=float, default=None, help="block-detection penalty (default: automatic)")
    p.add_argument(
        "--init-tolerance",
        type=float,
        default=0.02,
        help="rise above its minimum at which the similarity-to-initialisation curve turns back up",
    )
    p.add_argument("--out", required=True, help="the report directory (created whole, or not at all)")

    p = add_command(
        sub, "report-index", cmd_report_index, "index page, summary table and comparison figures over experiments"
    )
    p.add_argument("reports", nargs="+", help="experiment report directories")
    p.add_argument("--html", required=True, help="the index page to write")
    p.add_argument("--summary", required=True, help="the summary table (TSV) to write")
    p.add_argument("--findings", required=True, help="the findings table (TSV) to write")
    p.add_argument("--compare", required=True, help="the directory of comparison figures to write")
