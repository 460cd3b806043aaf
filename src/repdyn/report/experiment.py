"""One experiment's report: a directory with index.html, its figures, report.json and summary.tsv.

Layout of reports/experiments/<name>/:
  index.html        the page (repdyn.report.experiment_page; opens offline; links to the Zarr stores)
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repdyn.analysis.events import smoothed_test_error
from repdyn.figures import plot_blocks_panel, plot_curves, plot_error_curves
from repdyn.figures.axes import visible_marks
from repdyn.models.registry import run_layer_labels
from repdyn.storage import atomic
from repdyn.train import phase_marks, read_metrics, training_phases

from . import twopoint
from .analysis import LayerMeasures, cross_run_diagonal, finite_or_none, measure
from .experiment_page import experiment_page
from .findings import experiment_measures
from .readers import ExperimentInputs, SimilarityResult, read_cka, read_drs, read_phases
from .regions import draw_regions
from .summary import summary_rows, write_tsv

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
        self.summary = summary_rows(
            inputs.name,
            self.layers,
            self.labels,
            self.phases,
            self.final_test_error,
            self.cka_measures,
            self.drs_measures,
        )
        self.findings = experiment_measures(self.cka, self.drs, self.phases, self.rows)
        self.regions: list[dict[str, Any]] = []  # decision-region figures drawn (plane, anchors, epochs)

    def label(self, layer: str) -> str:
        return self.labels.get(layer, layer)

    # ------------------------------------------------------------------ figures
    def _similarity_figures(
        self, fig_dir: Path, result: SimilarityResult, measures: Mapping[str, LayerMeasures], key: str
    ) -> None:
        epochs = [int(e) for e in result.row_epochs]
        marks = visible_marks(phase_marks(self.phases), epochs)
        _copy_figures(result.directory, "panel", fig_dir, f"{key}_panel")
        if key == "drs":
            _copy_figures(result.directory, "probe_errors", fig_dir, "drs_probe_errors")
            if self.inputs.preds and self.inputs.planes is not None:
                self.regions = draw_regions(
                    fig_dir,
                    self.inputs.preds,
                    self.inputs.planes,
                    epochs,
                    self.phases,
                    result.layers,
                    self.labels,
                    self.inputs.name,
                    FORMATS,
                )
        matrices = {self.label(layer): result.matrices[layer] for layer in result.layers}
        transitions = {self.label(layer): list(measures[layer].blocks.transitions) for layer in result.layers}
        curves = {
            self.label(layer): (list(measures[layer].init.epochs), list(measures[layer].init.values))
            for layer in result.layers
            if measures[layer].init is not None
        }
        first = epochs[0]
        points = {
            self.label(layer): [(m.init.min_epoch, "min")]
            + ([(m.init.turn_up_epoch, "up")] if m.init.turn_up_epoch is not None else [])
            for layer, m in measures.items()
            if m.init is not None
        }
        for fmt in FORMATS:
            plot_blocks_panel(
                matrices,
                epochs,
                transitions,
                fig_dir / f"{key}_blocks.{fmt}",
                title=f"{self.inputs.name}: {result.kind} with detected similarity blocks",
                label=result.kind,
                marks=marks,
            )
            if not curves:  # one grid epoch, or row 0 undefined in every layer: no curve to draw
                continue
            plot_curves(
                curves,
                fig_dir / f"{key}_init.{fmt}",
                title=f"{self.inputs.name}: {result.kind} to epoch {first} (initialisation)"
                if first == 0
                else f"{self.inputs.name}: {result.kind} to epoch {first}",
                ylabel=f"{result.kind} to epoch {first}",
                marks=marks,
                points=points,
            )

    def write(self, out_dir: str | Path) -> dict[str, Any]:
        """Write the report directory atomically; return report.json's content."""
        out_dir = Path(out_dir)
        with atomic.atomic_path(out_dir) as tmp:
            fig_dir = tmp / "figures"
            fig_dir.mkdir(parents=True)
            metric_epochs = sorted(int(r["epoch"]) for r in self.rows)
            for fmt in FORMATS:
                plot_error_curves(
                    self.rows,
                    fig_dir / f"errors.{fmt}",
                    title=f"{self.inputs.name}: error",
                    marks=visible_marks(phase_marks(self.phases), metric_epochs),
                    smoothed_test=smoothed_test_error(self.rows),
                )
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
                    plot_curves(
                        {self.label(layer): c for layer, c in curves.items()},
                        fig_dir / f"cross_{other}.{fmt}",
                        title=f"CKA between {self.inputs.name} and {other} at equal epochs",
                        ylabel="cross-run CKA",
                    )
            doc = self.as_dict()
            atomic.write_json(tmp / "report.json", doc)
            write_tsv(tmp / "summary.tsv", self.summary)
            atomic.write_text(tmp / "index.html", experiment_page(self, out_dir))
        return doc

    # ------------------------------------------------------------------ report.json
    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.inputs.name,
            "epochs": self.epochs,
            "ids": self.ids,
            "settings": {stage: spec["settings"] for stage, spec in self.specs.items()},
            "layers": self.layers,
            "labels": {layer: self.label(layer) for layer in self.layers},
            "phases": self.phases,
            "final_test_error": self.final_test_error,
            "stores": {stage: str(store) for stage, store in self.stores.items()},
            "cka": {layer: m.as_dict() for layer, m in self.cka_measures.items()} if self.cka_measures else None,
            "drs": {layer: m.as_dict() for layer, m in self.drs_measures.items()} if self.drs_measures else None,
            "cross": {
                other: {
                    layer: {"epochs": e, "values": [finite_or_none(v) for v in vals]}
                    for layer, (e, vals) in curves.items()
                }
                for other, curves in self.cross_curves.items()
            },
            "summary": self.summary,
            "regions": self.regions,
            "twopoint": self.twopoint["table"] if self.twopoint else None,
            "layer_pairs": {
                str(e): {"layers": v["layers"], "cka": [[finite_or_none(x) for x in row] for row in v["cka"]]}
                for e, v in self.layer_pairs.items()
            },
            "findings": self.findings,
        }


def read_layer_pairs_dirs(dirs: Sequence[Path]) -> dict[int, dict[str, Any]]:
    """{epoch: layers, cka matrix (lists), figure path} of each layer-pairs directory, by epoch."""
    from repdyn.cka.layer_pairs import LAYER_PAIRS_FIGURE, LAYER_PAIRS_STORE, read_layer_pairs

    out = {}
    for directory in dirs:
        matrix, layers, attrs = read_layer_pairs(Path(directory) / LAYER_PAIRS_STORE)
        out[int(attrs["epoch"])] = {
            "layers": layers,
            "cka": matrix.tolist(),
            "figure": Path(directory) / LAYER_PAIRS_FIGURE,
        }
    return dict(sorted(out.items()))
