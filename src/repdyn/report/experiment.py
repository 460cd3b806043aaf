"""One experiment's report: a directory with index.html, its figures, report.json and summary.tsv.

Layout of reports/experiments/<name>/:
  index.html        the page (opens offline; links to the Zarr stores under results/)
  figures/          PNG + PDF of every figure on the page
  report.json       everything the page states, machine-readable (read by the index page)
  summary.tsv       this experiment's rows of the summary table

Figures: the error curves; per similarity (CKA, DRS) the paper-style layer panel (copied from the
assembled result, so report and results never disagree), the same heatmaps with the detected block
boundaries, and each layer's similarity to initialisation; the DRS probe error curves and decision regions
(repdyn.report.regions); per cross-run comparison, each layer's CKA between the two runs at equal epochs;
the two-point section (repdyn.report.twopoint).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from repdyn.storage import atomic
from repdyn.analysis.events import smoothed_test_error
from repdyn.figures import plot_blocks_panel, plot_curves, plot_error_curves
from repdyn.models.registry import run_layer_labels
from repdyn.figures.axes import visible_marks
from repdyn.train import phase_marks, read_metrics, training_phases

from . import html as h
from .cards import headline, layer_table
from .analysis import LayerMeasures, cross_run_diagonal, finite_or_none, measure, spans_text, transitions_text
from .readers import ExperimentInputs, SimilarityResult, read_cka, read_drs, read_phases
from .findings import experiment_measures
from .regions import draw_regions
from . import twopoint
from .summary import cell, summary_rows, write_tsv

FORMATS = ("png", "pdf")
def _copy_figures(src_dir: Path, stem: str, dest: Path, name: str) -> None:
    for fmt in FORMATS:
        src = src_dir / f"{stem}.{fmt}"
        if not src.is_file():
            raise FileNotFoundError(f"{src}: missing figure of the assembled result (rerun its assemble job)")
        shutil.copyfile(src, dest / f"{name}.{fmt}")


class ExperimentReport:
    """Reads one experiment's results, measures them and writes its report directory."""

    def __init__(self, inputs: ExperimentInputs, *, penalty: float | None = None, tolerance: float = 0.02) -> None:
        self.inputs = inputs
        self.specs = inputs.specs()
        self.ids = inputs.ids()
        self.labels = run_layer_labels(self.specs["train"]["settings"]["model"])
        self.rows = read_metrics([inputs.metrics])
        read_phases(inputs.phases)  # checked; the events are read again from the metrics with the current rules
        self.phases = training_phases(self.rows)
        self.epochs = int(max(r["epoch"] for r in self.rows))
        self.cka = read_cka(inputs.cka) if inputs.cka else None
        self.drs = read_drs(inputs.drs) if inputs.drs else None
        self.cross = {other: read_cka(path) for other, path in inputs.cross.items()}
        self.twopoint = twopoint.read_twopoint(inputs.twopoint) if inputs.twopoint else None
        self.layer_pairs = read_layer_pairs_dirs(inputs.layer_pairs)
        self.cka_measures = measure(self.cka, penalty, tolerance) if self.cka else None
        self.drs_measures = measure(self.drs, penalty, tolerance) if self.drs else None
        self.tolerance = tolerance
        self.cross_curves = {other: cross_run_diagonal(r) for other, r in self.cross.items()}
        # stage (as in self.ids) -> Zarr store of every similarity result shown
        self.stores = {key: r.store for key, r in (("cka", self.cka), ("drs", self.drs)) if r is not None}
        self.stores.update({f"cka vs {other}": r.store for other, r in self.cross.items()})
        if inputs.twopoint:
            self.stores["twopoint"] = inputs.twopoint / twopoint.FITS_FILE
        layers = (self.cka or self.drs).layers if (self.cka or self.drs) else list(self.labels)
        self.layers = list(layers)
        final = [r for r in self.rows if int(r["epoch"]) == self.epochs]
        final_err = final[0]["test_err"] if final else None
        self.final_test_error = final_err if final_err is not None and math.isfinite(final_err) else None
        self.summary = summary_rows(inputs.name, self.layers, self.labels, self.phases, self.final_test_error,
                                    self.cka_measures, self.drs_measures)
        self.findings = experiment_measures(self.cka, self.drs, self.phases, self.rows)
        self.regions: list[dict[str, Any]] = []  # decision-region figures drawn (plane, anchors, epochs)

    def label(self, layer: str) -> str:
        return self.labels.get(layer, layer)

    # ------------------------------------------------------------------ figures
    def _similarity_figures(self, fig_dir: Path, result: SimilarityResult, measures: Mapping[str, LayerMeasures],
                            key: str) -> None:
        epochs = [int(e) for e in result.row_epochs]
        marks = visible_marks(phase_marks(self.phases), epochs)
        _copy_figures(result.directory, "panel", fig_dir, f"{key}_panel")
        if key == "drs":
            _copy_figures(result.directory, "probe_errors", fig_dir, "drs_probe_errors")
            if self.inputs.preds and self.inputs.planes is not None:
                self.regions = draw_regions(fig_dir, self.inputs.preds, self.inputs.planes, epochs, self.phases,
                                            result.layers, self.labels, self.inputs.name, FORMATS)
        matrices = {self.label(layer): result.matrices[layer] for layer in result.layers}
        transitions = {self.label(layer): list(measures[layer].blocks.transitions) for layer in result.layers}
        curves = {self.label(layer): (list(measures[layer].init.epochs), list(measures[layer].init.values))
                  for layer in result.layers if measures[layer].init is not None}
        first = epochs[0]
        points = {self.label(layer): [(m.init.min_epoch, "min")] + ([(m.init.turn_up_epoch, "up")]
                                                                     if m.init.turn_up_epoch is not None else [])
                  for layer, m in measures.items() if m.init is not None}
        for fmt in FORMATS:
            plot_blocks_panel(matrices, epochs, transitions, fig_dir / f"{key}_blocks.{fmt}",
                              title=f"{self.inputs.name}: {result.kind} with detected similarity blocks",
                              label=result.kind, marks=marks)
            if not curves:  # one grid epoch, or row 0 undefined in every layer: no curve to draw
                continue
            plot_curves(curves, fig_dir / f"{key}_init.{fmt}",
                        title=f"{self.inputs.name}: {result.kind} to epoch {first} (initialisation)" if first == 0
                        else f"{self.inputs.name}: {result.kind} to epoch {first}",
                        ylabel=f"{result.kind} to epoch {first}", marks=marks, points=points)

    def write(self, out_dir: str | Path) -> dict[str, Any]:
        """Write the report directory atomically; return report.json's content."""
        out_dir = Path(out_dir)
        with atomic.atomic_path(out_dir) as tmp:
            fig_dir = tmp / "figures"
            fig_dir.mkdir(parents=True)
            metric_epochs = sorted(int(r["epoch"]) for r in self.rows)
            for fmt in FORMATS:
                plot_error_curves(self.rows, fig_dir / f"errors.{fmt}", title=f"{self.inputs.name}: error",
                                  marks=visible_marks(phase_marks(self.phases), metric_epochs),
                                  smoothed_test=smoothed_test_error(self.rows))
            if self.cka:
                self._similarity_figures(fig_dir, self.cka, self.cka_measures, "cka")
            if self.drs:
                self._similarity_figures(fig_dir, self.drs, self.drs_measures, "drs")
            if self.twopoint:
                twopoint.copy_figures(self.inputs.twopoint, fig_dir, FORMATS)
            for epoch, entry in self.layer_pairs.items():
                shutil.copyfile(entry["figure"], fig_dir / f"layer_pairs_e{epoch}.png")
            for other, curves in self.cross_curves.items():
                _copy_figures(self.cross[other].directory, "panel", fig_dir, f"cross_{other}_panel")
                for fmt in FORMATS:
                    plot_curves({self.label(layer): c for layer, c in curves.items()},
                                fig_dir / f"cross_{other}.{fmt}",
                                title=f"CKA between {self.inputs.name} and {other} at equal epochs",
                                ylabel="cross-run CKA")
            doc = self.as_dict()
            atomic.write_json(tmp / "report.json", doc)
            write_tsv(tmp / "summary.tsv", self.summary)
            atomic.write_text(tmp / "index.html", self.page(out_dir))
        return doc

    # ------------------------------------------------------------------ report.json
    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.inputs.name, "epochs": self.epochs, "ids": self.ids,
            "settings": {stage: spec["settings"] for stage, spec in self.specs.items()},
            "layers": self.layers, "labels": {layer: self.label(layer) for layer in self.layers},
            "phases": self.phases, "final_test_error": self.final_test_error,
            "stores": {stage: str(store) for stage, store in self.stores.items()},
            "cka": {layer: m.as_dict() for layer, m in self.cka_measures.items()} if self.cka_measures else None,
            "drs": {layer: m.as_dict() for layer, m in self.drs_measures.items()} if self.drs_measures else None,
            "cross": {other: {layer: {"epochs": e, "values": [finite_or_none(v) for v in vals]}
                              for layer, (e, vals) in curves.items()}
                      for other, curves in self.cross_curves.items()},
            "summary": self.summary,
            "regions": self.regions,
            "twopoint": self.twopoint["table"] if self.twopoint else None,
            "layer_pairs": {str(e): {"layers": v["layers"],
                                     "cka": [[finite_or_none(x) for x in row] for row in v["cka"]]}
                            for e, v in self.layer_pairs.items()},
            "findings": self.findings,
        }

    # ------------------------------------------------------------------ page
    def page(self, out_dir: Path) -> str:
        """Contents; the training events; CKA and DRS; findings; cross-run and two-point results; the per-layer
        table; ids, hashes and settings last."""
        name = self.inputs.name
        doc = self.as_dict()
        sections: list[tuple[str, str, list[str]]] = [("events", "Training events", self._events())]
        for key, result, measures in (("cka", self.cka, self.cka_measures), ("drs", self.drs, self.drs_measures)):
            if result is not None:
                sections.append((key, result.kind, self._similarity_section(key, result, measures, out_dir)))
        found = findings_section(doc)
        if found:
            sections.append(("findings", "Findings", found))
        for other in self.cross_curves:
            sections.append((f"cross-{other}", f"Cross-run CKA against {other}", [
                h.heading(f"Cross-run CKA against {other}", anchor=f"cross-{other}"),
                h.paragraph(f"CKA between this run and {other} (an independently trained network) on the "
                            "probe set; the panel shows every epoch pair, the curves the equal-epoch diagonal."),
                h.figure(f"figures/cross_{other}.png", "Cross-run CKA at equal epochs, per layer.",
                         alt=f"cross-run CKA curves vs {other}", pdf=f"figures/cross_{other}.pdf"),
                h.figure(f"figures/cross_{other}_panel.png", "Cross-run CKA heatmaps (rows: this run).",
                         alt=f"cross-run CKA panel vs {other}", pdf=f"figures/cross_{other}_panel.pdf")]))
        if self.layer_pairs:
            sections.append(("layer-pairs", "Layer x layer CKA", [
                h.heading("Layer x layer CKA", anchor="layer-pairs"),
                h.paragraph("CKA between every two analysed layers at one epoch (cka.layer_pairs_at), from the same "
                            "probe-set Grams as the epoch x epoch matrices."),
                *(h.figure(f"figures/layer_pairs_e{e}.png", f"Layer x layer CKA at epoch {e}.",
                           alt=f"layer x layer CKA at epoch {e}") for e in self.layer_pairs)]))
        if self.twopoint:
            sections.append(("twopoint", "Two-point dynamics",
                             twopoint.section(self.twopoint, self.inputs.twopoint, out_dir)))
        sections.append(("summary", "Per layer", [
            h.heading("Per layer", anchor="summary"), layer_table(self.summary),
            h.paragraph("Every column, events included, in summary.tsv; column meanings on the index page.",
                        css="note")]))
        sections.append(("artifacts", "Artifacts, ids and settings", [self._overview(out_dir)]))
        body = [h.paragraph(headline(doc)), h.toc([(a, t) for a, t, _ in sections])]
        for _, _, parts in sections:
            body += parts
        return h.page(f"repdyn report: {name}", body,
                      nav=[("all experiments", "../../index.html"), ("summary.tsv", "summary.tsv"),
                           ("report.json", "report.json")])

    def _events(self) -> list[str]:
        return [h.heading("Training events", anchor="events"), self._phases_table(),
                h.figure("figures/errors.png", "Train error on the training labels and on the clean labels, test "
                         "error and the smoothed test error the events are read from (broad line); dashed lines: "
                         "perfect fitting and the double-descent peak; grey bands: instabilities.",
                         alt="error curves", pdf="figures/errors.pdf")]

    def _overview(self, out_dir: Path) -> str:
        paths = {"data": self.inputs.data_dir, "train": self.inputs.run_dir, **self.stores}
        rows = [[h.esc(stage), f"<code>{h.esc(ident)}</code>",
                 h.link(str(paths[stage]), h.relative(paths[stage], out_dir))] for stage, ident in self.ids.items()]
        settings = [h.settings_block(f"{stage} settings (spec.json)", spec["settings"])
                    for stage, spec in self.specs.items()]
        return "\n".join([h.heading("Artifacts, ids and settings", anchor="artifacts"),
                          h.paragraph(f"{self.epochs} epochs; ids are content hashes of the settings below "
                                      "(results/<stage>/<id>/spec.json)."),
                          h.table(["stage", "id", "path"], rows, raw=True), *settings])

    def _phases_table(self) -> str:
        p = self.phases
        dd = p.get("double_descent") or {}
        memorisation = p.get("memorisation")
        return "\n".join([
            h.table(["perfect-fitting epoch", "instabilities (epochs)", "memorisation (epochs)",
                     "first test-error minimum", "double-descent peak", "final test error"],
                    [[cell(p.get("perfect_fit_epoch")) or "never", spans_text(p.get("instabilities")),
                      f"{memorisation[0]}–{memorisation[1]}" if memorisation else "none",
                      f"{cell(dd.get('minimum_value'))} at {dd['minimum_epoch']}" if dd else "—",
                      f"{cell(dd.get('peak_value'))} at {dd['peak_epoch']}" if dd else "none",
                      cell(self.final_test_error)]]),
            h.paragraph("Rules (repdyn.analysis.events, docs/readouts.md): perfect fitting is the first epoch with "
                        "zero training error on the training labels; an instability is a span after it where that "
                        "error exceeds 1 % or the training loss 100 times its lowest value since the fit (and 0.01; "
                        "grey bands in every figure); memorisation runs from the first minimum of the smoothed test "
                        "error to perfect fitting; the double-descent peak is the largest rise of the smoothed test "
                        "error before the fit, reported when it clears the 95th percentile of the largest rise of "
                        "pure noise (noise estimated before the fit; at least 0.01) and the error falls back after "
                        "it by at least half the rise. A significant rise that does not fall back is overfitting. "
                        f"Largest rise: {self._rise_text()}. Values: smoothed test error as a fraction.",
                        css="note")])

    def _rise_text(self) -> str:
        rise = self.phases.get("largest_rise")
        if not rise:
            return "none measured (no fit)"
        kind = {"double_descent": "double descent", "overfitting": "overfitting, no second descent"}.get(
            rise["kind"], "not significant")
        return (f"{cell(rise['rise'])} from epoch {rise['minimum_epoch']} to {rise['peak_epoch']}, margin "
                f"{cell(rise['margin'])}, p = {cell(rise['p_value'])} ({kind})")

    def _regions_section(self) -> list[str]:
        if not self.regions:
            return []
        out = [h.heading("Decision regions", level=3),
               h.paragraph("The probes' predicted class at every point of a plane through three training images "
                           "(markers: the anchors x0 ○, x1 □, x2 △, filled with the colour of their training "
                           "label), per layer, at the first grid epoch, the perfect-fitting epoch, the test-error "
                           "peak and the last grid epoch (the nearest grid epochs). DRS between two epochs is the "
                           "fraction of such points, over all planes, where the colours agree.", css="note")]
        for r in self.regions:
            stem = f"figures/drs_regions_plane{r['plane']}"
            out.append(h.figure(f"{stem}.png", f"Plane {r['plane']}: anchors are training images "
                                f"{', '.join(map(str, r['anchors']))} (labels {', '.join(map(str, r['anchor_labels']))}).",
                                alt=f"decision regions on plane {r['plane']}", pdf=f"{stem}.pdf"))
        return out

    def _similarity_section(self, key: str, result: SimilarityResult, measures: Mapping[str, LayerMeasures],
                            out_dir: Path) -> list[str]:
        kind = result.kind
        spans = self.phases.get("instabilities")
        blocks = [[self.label(layer), len(m.blocks.ranges), transitions_text(m.blocks.transitions, spans),
                   ", ".join(f"{v:.1f}" for v in m.blocks.strengths) or "—",
                   "; ".join(f"{a}–{b} ({cell(w) or 'n/a'})" for (a, b), w in zip(m.blocks.ranges, m.blocks.within)),
                   cell(m.blocks.between), transitions_text(m.plain.transitions, spans), cell(m.mean_offdiag),
                   cell(m.blocks.penalty)]
                  for layer, m in measures.items()]
        init = [[self.label(layer), m.init.min_epoch, cell(m.init.min_value),
                 "none" if m.init.turn_up_epoch is None else m.init.turn_up_epoch, cell(m.init.end_value),
                 cell(m.init.rebound)] if m.init else [self.label(layer), "undefined (row 0 is NaN)", "", "", "", ""]
                for layer, m in measures.items()]
        out = [h.heading(f"{kind}", anchor=key),
               h.paragraph(f"Matrices: {h.relative(result.store, out_dir)} (Zarr; open with repdyn.cka.open_cka / "
                           "repdyn.drs.open_drs or zarr.open)."),
               h.figure(f"figures/{key}_panel.png", f"{kind} between every pair of grid epochs, per layer, beside "
                        "the error curves; one colour scale for all layers.", alt=f"{kind} panel",
                        pdf=f"figures/{key}_panel.pdf")]
        if key == "drs":
            out.append(h.figure("figures/drs_probe_errors.png", "Probe test error per layer (dotted) and the "
                                "network's test error.", alt="probe errors", pdf="figures/drs_probe_errors.pdf"))
            out += self._regions_section()
        out += [h.heading(f"{kind} similarity blocks", level=3),
                h.figure(f"figures/{key}_blocks.png", "White lines: boundaries of the detected similarity blocks.",
                         alt=f"{kind} blocks", pdf=f"figures/{key}_blocks.pdf"),
                h.paragraph("Blocks are stretches of steady drift on the log-epoch axis (repdyn.analysis.blocks, "
                            "docs/readouts.md): within a block the similarity of two epochs depends only on how far "
                            "apart they are in log time, at the block's own pace; a transition is where the pace "
                            "changes (fast change, then frozen), a plateau begins or ends, or the representation "
                            "jumps. Steady drift at any pace is one block at any length and grid. The price of a cut "
                            "is set from the matrix's own noise (report.block_penalty overrides it); each transition's "
                            "strength says how many times its price it pays. A transition that falls inside an "
                            "instability is marked so: it follows the optimisation spike, not a training phase. The "
                            "plain segmentation (piecewise-constant similarity, no drift null) is shown beside it.",
                            css="note"),
                h.table(["layer", "blocks", "transitions (epochs)", "strength (x price)",
                         "blocks: epochs (mean within)", "mean between", "transitions without the drift null", f"mean off-diagonal {kind}", "penalty"], blocks),
                h.heading(f"{kind} to initialisation", level=3),
                h.figure(f"figures/{key}_init.png", f"Row 0 of each matrix: {kind} of every epoch's representation "
                         "to the first grid epoch's.", alt=f"{kind} to initialisation", pdf=f"figures/{key}_init.pdf")
                if any(m.init for m in measures.values()) else
                h.paragraph("No curve: the grid has one epoch, or the first epoch's similarity is undefined."),
                h.paragraph(f"Turns back up: the first epoch after the minimum more than {cell(self.tolerance)} above "
                            "it (report.init_tolerance).", css="note"),
                h.table(["layer", "minimum at epoch", "minimum", "turns back up at epoch", "at the end",
                         "rebound (end − min)"], init)]
        return out


def findings_section(doc: Mapping[str, Any]) -> list[str]:
    """This run's inputs to the paper's findings; the findings themselves compare runs (the index page)."""
    layers = (doc.get("findings") or {}).get("layers") or {}
    if not layers:
        return []
    rows = []
    for layer in doc["layers"]:
        m = layers.get(layer) or {}
        back = m.get("return_to_init") or {}
        rows.append([doc["labels"].get(layer, layer), cell(m.get("change")),
                     cell(back.get("rise")), cell(back.get("drift"))])
    return [h.heading("Inputs to the findings", anchor="findings"),
            h.paragraph("The paper's findings are contrasts between runs (label noise against its noise-0 twin, "
                        "across seeds): see the findings table of the index page. This run's numbers: the change of "
                        "representation (1 - log-time weighted mean off-diagonal CKA) and, after perfect fitting, "
                        "the CKA to epoch 0 gained and the CKA to the early-stopping epoch "
                        f"({cell((doc.get('findings') or {}).get('best_epoch')) or 'none'}) gained.", css="note"),
            h.table(["layer", "change", "CKA to epoch 0 after the fit", "CKA to early stopping after the fit"], rows)]


def read_layer_pairs_dirs(dirs: Sequence[Path]) -> dict[int, dict[str, Any]]:
    """{epoch: layers, cka matrix (lists), figure path} of each layer-pairs directory, by epoch."""
    from repdyn.cka.layer_pairs import LAYER_PAIRS_FIGURE, LAYER_PAIRS_STORE, read_layer_pairs

    out = {}
    for directory in dirs:
        matrix, layers, attrs = read_layer_pairs(Path(directory) / LAYER_PAIRS_STORE)
        out[int(attrs["epoch"])] = {"layers": layers, "cka": matrix.tolist(),
                                    "figure": Path(directory) / LAYER_PAIRS_FIGURE}
    return dict(sorted(out.items()))
