"""The report index: all experiments, the summary table, and figures that compare experiments.

Layout (next to reports/experiments/<name>/):
  reports/index.html    links to every experiment's page, the summary table, the comparison figures
  reports/summary.tsv   the summary table of all experiments (repdyn.report.summary.COLUMNS)
  reports/compare/      comparison figures (PNG + PDF; repdyn.report.comparisons):
    cka_<layer>, drs_<layer>        the layer's heatmap in every experiment, one colour scale
    cka_init_<layer>                the layer's CKA to initialisation in every experiment
    width_study                     first-layer CKA to initialisation at the end against model width, one line
                                    per group of experiments that differ only in width (the paper's width study)
    cross_<layer>                   cross-run CKA at equal epochs for every compared pair of runs

The index reads each experiment's report.json and, one layer at a time, the matrices from the Zarr
stores it names, so memory stays at one layer of every experiment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repdyn.storage import atomic
from repdyn.storage.integrity import require

from . import findings as paper_findings
from . import findings_tsv
from . import html as h
from .cards import card
from .comparisons import comparison_figures
from .experiment_settings import flat_settings
from .replicates import format_tsv as replicates_tsv
from .replicates import replicate_groups, replicate_rows
from .summary import cell, write_tsv

COLUMN_NOTES = {
    "perfect_fit_epoch": "first epoch with zero training error on the training (noisy) labels",
    "instabilities": "spans after perfect fitting where the training error exceeded 1 % or the training loss "
    "jumped 100-fold (grey bands in the figures)",
    "memorisation_start": "first minimum of the smoothed test error; memorisation_end: perfect fitting",
    "test_error_peak_epoch": "epoch of the epoch-wise double-descent peak of the smoothed test error, inside "
    "memorisation, significant against noise and followed by a second descent "
    "(empty: no peak)",
    "cka_transitions": "epochs where a new CKA similarity block begins",
    "mean_offdiag_cka": "mean CKA between different grid epochs",
    "cka_to_init_end": "this layer's CKA between the first and the last grid epoch",
    "first_layer_cka_to_init_end": "the same for the first analysed layer (the width study)",
}


def load_reports(report_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """report.json of every experiment, in the given order (FileNotFoundError names a missing one)."""
    out = []
    for d in report_dirs:
        path = Path(d) / "report.json"
        require(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no report.json (did the experiment's report job finish?)")
        doc = json.loads(path.read_text())
        doc["dir"] = str(Path(d))
        out.append(doc)
    if not out:
        raise ValueError("no experiment reports given")
    return out


def compute_findings(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The findings table over every experiment of the index (repdyn.report.findings)."""
    from repdyn.analysis.alignment import alignment_chance
    from repdyn.analysis.descent import double_descent

    return paper_findings.findings_table(reports, flat_settings, double_descent, alignment_chance)


def findings_section(rows: Sequence[Mapping[str, Any]], findings_name: str) -> list[str]:
    """The findings table: verdict rows (layer "all") first, then the per-layer numbers behind them."""
    verdicts = [r for r in rows if r["layer"] == "all"]
    per_layer = [r for r in rows if r["layer"] != "all"]
    if not rows:
        return []
    out = [
        h.heading("Findings", anchor="findings"),
        h.paragraph(
            f"The paper's findings as contrasts: label noise against the same run without it, seed by "
            f"seed. A verdict from one seed pair is a measurement, not a replication. Also as "
            f"{findings_name}; the rules: docs/findings.md."
        ),
        h.table(
            ["finding", "verdict", "comparison", "values", "experiments"],
            [[r["finding"], r["verdict"], r["comparison"], r["values"], r["experiments"]] for r in verdicts],
        ),
    ]
    if per_layer:
        out += [
            h.heading("Per layer", level=3),
            h.table(["finding", "layer", "values"], [[r["finding"], r["layer"], r["values"]] for r in per_layer]),
        ]
    return out


def index_page(
    reports: Sequence[Mapping[str, Any]],
    figures: Sequence[tuple[str, str, str]],
    *,
    page_dir: Path,
    compare_dir: Path,
    summary_name: str,
    findings: Sequence[Mapping[str, Any]] = (),
    findings_name: str = "findings.tsv",
) -> str:
    """Findings first, then one card per experiment, seed replicates, comparisons; column notes last."""
    compare_rel = h.relative(compare_dir, page_dir)
    sections = [
        ("experiments", "Experiments"),
        ("replicates", "Seed replicates"),
        ("comparisons", "Comparisons"),
        ("columns", "Summary table"),
    ]
    body = [
        *findings_section(findings, findings_name),
        h.toc(sections),
        h.heading("Experiments", anchor="experiments"),
        h.paragraph(
            f"{len(reports)} experiment{'s' * (len(reports) != 1)}, every one run in this directory: each "
            "name and panel links to its page. Per layer: the similarity blocks, the epochs where a new "
            "block begins, the CKA between the first and the last grid epoch and the mean similarity "
            "between different epochs.",
            css="note",
        ),
        '<div class="cards">',
        *(card(r, page_dir) for r in reports),
        "</div>",
        *replicates_section(reports, compare_rel),
        h.heading("Comparisons", anchor="comparisons"),
    ]
    if not figures:
        body.append(h.paragraph("Comparisons need two or more experiments that analyse the same layers."))
    for stem, title, caption in figures:
        body += [
            h.heading(title, level=3),
            h.figure(f"{compare_rel}/{stem}.png", caption, alt=title, pdf=f"{compare_rel}/{stem}.pdf"),
        ]
    body += [
        h.heading("Summary table", anchor="columns"),
        h.paragraph(
            f"Every readout per experiment and layer is in {summary_name} (one row per experiment and "
            "layer); its columns:"
        ),
        "<ul>" + "".join(f"<li><code>{h.esc(k)}</code>: {h.esc(v)}</li>" for k, v in COLUMN_NOTES.items()) + "</ul>",
    ]
    return h.page("repdyn reports", body, nav=[("findings.tsv", findings_name), ("summary.tsv", summary_name)])


def build_index(
    report_dirs: Sequence[str | Path],
    *,
    html_path: str | Path,
    summary_path: str | Path,
    compare_dir: str | Path,
    findings_path: str | Path,
) -> None:
    """Write the summary and findings TSVs, the comparison figures and the index page (each atomically; the page
    last)."""
    reports = load_reports(report_dirs)
    html_path, compare_dir = Path(html_path), Path(compare_dir)
    write_tsv(summary_path, [row for r in reports for row in r["summary"]])
    found = compute_findings(reports)
    findings_tsv.write_tsv(findings_path, found)
    with atomic.atomic_path(compare_dir) as tmp:
        tmp.mkdir(parents=True)
        figures = comparison_figures(reports, tmp)
        groups = replicate_groups(reports, flat_settings)
        if groups:
            rows = [row for g in groups for row in replicate_rows(g)]
            atomic.write_text(tmp / "replicates.tsv", replicates_tsv(rows))
    page = index_page(
        reports,
        figures,
        page_dir=html_path.parent,
        compare_dir=compare_dir,
        summary_name=h.relative(summary_path, html_path.parent),
        findings=found,
        findings_name=h.relative(findings_path, html_path.parent),
    )
    atomic.write_text(html_path, page)


def replicates_section(reports: Sequence[Mapping[str, Any]], compare_rel: str) -> list[str]:
    """Seed replicates (repdyn.report.replicates): each readout as mean and spread, agreed transitions, findings."""
    groups = replicate_groups(reports, flat_settings)
    out = [h.heading("Seed replicates", anchor="replicates")]
    if not groups:
        return out + [
            h.paragraph(
                "No experiments that differ only in train.seed: every readout on this page comes "
                "from one run (configs/ holds a three-seed replicate of the default)."
            )
        ]
    out.append(
        h.paragraph(
            f"Experiments that differ only in train.seed; also as {compare_rel}/replicates.tsv. "
            "A transition is agreed when every seed has one within max(2 epochs, 10 %) of it."
        )
    )
    for group in groups:
        rows = replicate_rows(group)
        out += [
            h.heading(" / ".join(r["name"] for r in group), level=3),
            h.table(
                ["readout", "layer", "per seed", "mean", "sd", "range", "agreed"],
                [
                    [
                        r["readout"],
                        r["layer"],
                        ", ".join(cell(v) or "—" for v in r["per_seed"]),
                        cell(r["mean"]),
                        cell(r["sd"]),
                        f"{cell(r['min'])}–{cell(r['max'])}" if r["n"] else "",
                        {True: "all seeds", False: "no", None: ""}[r["agreed"]],
                    ]
                    for r in rows
                ],
            ),
        ]
    return out
