"""The report index: all experiments, the summary table, and figures that compare experiments.

Layout (next to reports/experiments/<name>/):
  reports/index.html    links to every experiment's page, the summary table, the comparison figures
  reports/summary.tsv   the summary table of all experiments (repdyn.report.summary.COLUMNS)
  reports/compare/      comparison figures (PNG + PDF):
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
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import zarr

from repdyn.storage import atomic

from repdyn.storage import zarr_labels
from repdyn.storage.integrity import require
from repdyn.figures import plot_curves, plot_layer_comparison, plot_width_study
from repdyn.figures.axes import visible_marks
from repdyn.train.metrics import phase_marks

from . import html as h
from .cards import card
from .experiment import FORMATS
from . import findings as paper_findings
from .replicates import format_tsv as replicates_tsv
from .replicates import replicate_groups, replicate_rows
from .summary import cell, write_tsv

WIDTH_KEY = "train.model.width"
COLUMN_NOTES = {
    "perfect_fit_epoch": "first epoch with zero training error on the training (noisy) labels",
    "instabilities": "spans after perfect fitting where the training error exceeded 1 % or the training loss "
                     "jumped 100-fold (grey bands in the figures)",
    "memorisation_start": "first minimum of the smoothed test error; memorisation_end: perfect fitting",
    "test_error_peak_epoch": "epoch of the epoch-wise double-descent peak of the smoothed test error, inside "
                             "memorisation, significant against noise and followed by a second descent (empty: no peak)",
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


def flat_settings(report: Mapping[str, Any]) -> dict[str, Any]:
    """'<stage>.<section>.<key>' -> value for the data and training settings and the length (what tells
    experiments apart)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = json.dumps(value, sort_keys=True) if isinstance(value, list) else value

    for stage in ("data", "train"):
        walk(stage, report["settings"].get(stage, {}))
    out["train.epochs"] = report["epochs"]  # not in the run's settings: experiments may share a run at two lengths
    return out


def width_groups(reports: Sequence[Mapping[str, Any]]) -> list[tuple[str, float, float]]:
    """(group label, width, first-layer CKA to init at the end) for groups with two or more widths."""
    settings = [flat_settings(r) for r in reports]
    varying = sorted({k for s in settings for k in s if k != WIDTH_KEY and len({str(x.get(k)) for x in settings}) > 1})
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    for report, s in zip(reports, settings):
        width = s.get(WIDTH_KEY)
        value = report["summary"][0]["first_layer_cka_to_init_end"] if report["summary"] else None
        if width is None or value is None:
            continue
        key = tuple((k, s.get(k)) for k in varying)
        if float(width) not in {w for w, _ in groups[key]}:  # an experiment with the same settings adds nothing
            groups[key].append((float(width), float(value)))
    points = []
    for key, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len(members) < 2:
            continue
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in key) or "all experiments"
        points += [(label, w, v) for w, v in members]
    return points


def read_layer(store: str, kind: str, layer: str) -> tuple[np.ndarray, list[int]]:
    """One layer's matrix and epochs from an assembled CKA or DRS store."""
    require(store)
    group = zarr.open_group(store, mode="r", use_consolidated=False)
    return zarr_labels.layer_matrix(group, kind, layer), [int(e) for e in group["row_epoch"][...]]


def _layers_in_common(reports: Sequence[Mapping[str, Any]], kind: str) -> list[str]:
    """Layers that two or more experiments analysed with `kind`, in the first experiment's order."""
    count: dict[str, int] = defaultdict(int)
    order: list[str] = []
    for r in reports:
        if r.get(kind):
            for layer in r["layers"]:
                count[layer] += 1
                if layer not in order:
                    order.append(layer)
    return [layer for layer in order if count[layer] >= 2]


def comparison_figures(reports: Sequence[Mapping[str, Any]], out_dir: Path) -> list[tuple[str, str, str]]:
    """Write the comparison figures into out_dir; return (file stem, title, caption) of each, in page order."""
    figures = []
    labels = {layer: label for r in reports for layer, label in r["labels"].items()}
    for kind, title in (("cka", "CKA"), ("drs", "DRS")):
        for layer in _layers_in_common(reports, kind):
            matrices, marks = {}, {}
            for r in reports:
                if r.get(kind) and layer in r["layers"]:
                    matrices[r["name"]] = read_layer(r["stores"][kind], kind, layer)
                    marks[r["name"]] = visible_marks(phase_marks(r["phases"]), matrices[r["name"]][1])
            stem = f"{kind}_{layer.replace('/', '_')}"
            for fmt in FORMATS:
                plot_layer_comparison(matrices, out_dir / f"{stem}.{fmt}", layer=labels.get(layer, layer),
                                      label=title, marks=marks)
            figures.append((stem, f"{title}: {labels.get(layer, layer)} across experiments",
                            f"The {labels.get(layer, layer)} ({layer}) {title} matrix of every experiment, one colour "
                            "scale; dashed lines: each experiment's perfect fitting and test-error peak."))
    for layer in _layers_in_common(reports, "cka"):
        curves = {r["name"]: (r["cka"][layer]["init"]["epochs"], r["cka"][layer]["init"]["values"])
                  for r in reports if r.get("cka") and (r["cka"].get(layer) or {}).get("init")}
        if not curves:
            continue
        stem = f"cka_init_{layer.replace('/', '_')}"
        for fmt in FORMATS:
            plot_curves(curves, out_dir / f"{stem}.{fmt}", title=f"{labels.get(layer, layer)}: CKA to initialisation",
                        ylabel="CKA to the first grid epoch")
        figures.append((stem, f"CKA to initialisation: {labels.get(layer, layer)}",
                        "Row 0 of the layer's CKA matrix in every experiment."))
    points = width_groups(reports)
    if points:
        for fmt in FORMATS:
            plot_width_study(points, out_dir / f"width_study.{fmt}",
                             title="first-layer CKA between initialisation and the end of training")
        figures.append(("width_study", "Width study", "First-layer CKA between the first and the last grid epoch "
                        "against the model width; one line per group of experiments that differ only in width."))
    cross: dict[str, dict[str, tuple[list[int], list[float]]]] = defaultdict(dict)
    for r in reports:
        for other, layers in (r.get("cross") or {}).items():
            for layer, c in layers.items():
                cross[layer][f"{r['name']} vs {other}"] = (c["epochs"], [np.nan if v is None else v
                                                                          for v in c["values"]])
    for layer, curves in cross.items():
        stem = f"cross_{layer.replace('/', '_')}"
        for fmt in FORMATS:
            plot_curves(curves, out_dir / f"{stem}.{fmt}", title=f"{labels.get(layer, layer)}: cross-run CKA",
                        ylabel="CKA between the two runs at equal epochs")
        figures.append((stem, f"Cross-run CKA: {labels.get(layer, layer)}", "CKA between independently initialised "
                        "runs at equal epochs (cka.compare_with)."))
    return figures


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
    out = [h.heading("Findings", anchor="findings"),
           h.paragraph(f"The paper's findings as contrasts: label noise against the same run without it, seed by "
                       f"seed. A verdict from one seed pair is a measurement, not a replication. Also as "
                       f"{findings_name}; the rules: docs/findings.md."),
           h.table(["finding", "verdict", "comparison", "values", "experiments"],
                   [[r["finding"], r["verdict"], r["comparison"], r["values"], r["experiments"]] for r in verdicts])]
    if per_layer:
        out += [h.heading("Per layer", level=3),
                h.table(["finding", "layer", "values"], [[r["finding"], r["layer"], r["values"]] for r in per_layer])]
    return out


def index_page(reports: Sequence[Mapping[str, Any]], figures: Sequence[tuple[str, str, str]], *, page_dir: Path,
               compare_dir: Path, summary_name: str, findings: Sequence[Mapping[str, Any]] = (),
               findings_name: str = "findings.tsv") -> str:
    """Findings first, then one card per experiment, seed replicates, comparisons; column notes last."""
    compare_rel = h.relative(compare_dir, page_dir)
    sections = [("experiments", "Experiments"), ("replicates", "Seed replicates"), ("comparisons", "Comparisons"),
                ("columns", "Summary table")]
    body = [*findings_section(findings, findings_name),
            h.toc(sections),
            h.heading("Experiments", anchor="experiments"),
            h.paragraph(f"{len(reports)} experiment{'s' * (len(reports) != 1)}, every one run in this directory: each "
                        "name and panel links to its page. Per layer: the similarity blocks, the epochs where a new "
                        "block begins, the CKA between the first and the last grid epoch and the mean similarity "
                        "between different epochs.", css="note"),
            '<div class="cards">', *(card(r, page_dir) for r in reports), "</div>",
            *replicates_section(reports, compare_rel),
            h.heading("Comparisons", anchor="comparisons")]
    if not figures:
        body.append(h.paragraph("Comparisons need two or more experiments that analyse the same layers."))
    for stem, title, caption in figures:
        body += [h.heading(title, level=3),
                 h.figure(f"{compare_rel}/{stem}.png", caption, alt=title, pdf=f"{compare_rel}/{stem}.pdf")]
    body += [h.heading("Summary table", anchor="columns"),
             h.paragraph(f"Every readout per experiment and layer is in {summary_name} (one row per experiment and "
                         "layer); its columns:"),
             "<ul>" + "".join(f"<li><code>{h.esc(k)}</code>: {h.esc(v)}</li>" for k, v in COLUMN_NOTES.items())
             + "</ul>"]
    return h.page("repdyn reports", body, nav=[("findings.tsv", findings_name), ("summary.tsv", summary_name)])


def build_index(report_dirs: Sequence[str | Path], *, html_path: str | Path, summary_path: str | Path,
                compare_dir: str | Path, findings_path: str | Path) -> None:
    """Write the summary and findings TSVs, the comparison figures and the index page (each atomically; the page
    last)."""
    reports = load_reports(report_dirs)
    html_path, compare_dir = Path(html_path), Path(compare_dir)
    write_tsv(summary_path, [row for r in reports for row in r["summary"]])
    found = compute_findings(reports)
    paper_findings.write_tsv(findings_path, found)
    with atomic.atomic_path(compare_dir) as tmp:
        tmp.mkdir(parents=True)
        figures = comparison_figures(reports, tmp)
        groups = replicate_groups(reports, flat_settings)
        if groups:
            atomic.write_text(tmp / "replicates.tsv", replicates_tsv([row for g in groups for row in replicate_rows(g)]))
    page = index_page(reports, figures, page_dir=html_path.parent, compare_dir=compare_dir,
                      summary_name=h.relative(summary_path, html_path.parent), findings=found,
                      findings_name=h.relative(findings_path, html_path.parent))
    atomic.write_text(html_path, page)


def replicates_section(reports: Sequence[Mapping[str, Any]], compare_rel: str) -> list[str]:
    """Seed replicates (repdyn.report.replicates): each readout as mean and spread, agreed transitions, findings."""
    groups = replicate_groups(reports, flat_settings)
    out = [h.heading("Seed replicates", anchor="replicates")]
    if not groups:
        return out + [h.paragraph("No experiments that differ only in train.seed: every readout on this page comes "
                                  "from one run (configs/ holds a three-seed replicate of the default).")]
    out.append(h.paragraph(f"Experiments that differ only in train.seed; also as {compare_rel}/replicates.tsv. "
                           "A transition is agreed when every seed has one within max(2 epochs, 10 %) of it."))
    for group in groups:
        rows = replicate_rows(group)
        out += [h.heading(" / ".join(r["name"] for r in group), level=3),
                h.table(["readout", "layer", "per seed", "mean", "sd", "range", "agreed"],
                        [[r["readout"], r["layer"], ", ".join(cell(v) or "—" for v in r["per_seed"]), cell(r["mean"]),
                          cell(r["sd"]), f"{cell(r['min'])}–{cell(r['max'])}" if r["n"] else "",
                          {True: "all seeds", False: "no", None: ""}[r["agreed"]]] for r in rows])]
    return out
