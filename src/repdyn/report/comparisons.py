"""Figures that compare experiments, in reports/compare/ (PNG + PDF; listed in repdyn.report.index).

Per layer analysed by two or more experiments: its CKA and DRS matrix in every experiment on one colour scale,
and its CKA to initialisation; the width study (first-layer CKA to initialisation at the end against model
width, per group of experiments that differ only in width); cross-run CKA at equal epochs. Matrices are read
from the Zarr stores one layer at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from repdyn.figures import plot_curves, plot_layer_comparison, plot_width_study
from repdyn.figures.axes import visible_marks
from repdyn.storage import zarr_labels
from repdyn.storage.integrity import require
from repdyn.train.metrics import phase_marks

from .experiment import FORMATS
from .experiment_settings import flat_settings

WIDTH_KEY = "train.model.width"


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
                plot_layer_comparison(
                    matrices, out_dir / f"{stem}.{fmt}", layer=labels.get(layer, layer), label=title, marks=marks
                )
            figures.append(
                (
                    stem,
                    f"{title}: {labels.get(layer, layer)} across experiments",
                    f"The {labels.get(layer, layer)} ({layer}) {title} matrix of every experiment, one colour "
                    "scale; dashed lines: each experiment's perfect fitting and test-error peak.",
                )
            )
    for layer in _layers_in_common(reports, "cka"):
        curves = {
            r["name"]: (r["cka"][layer]["init"]["epochs"], r["cka"][layer]["init"]["values"])
            for r in reports
            if r.get("cka") and (r["cka"].get(layer) or {}).get("init")
        }
        if not curves:
            continue
        stem = f"cka_init_{layer.replace('/', '_')}"
        for fmt in FORMATS:
            plot_curves(
                curves,
                out_dir / f"{stem}.{fmt}",
                title=f"{labels.get(layer, layer)}: CKA to initialisation",
                ylabel="CKA to the first grid epoch",
            )
        figures.append(
            (
                stem,
                f"CKA to initialisation: {labels.get(layer, layer)}",
                "Row 0 of the layer's CKA matrix in every experiment.",
            )
        )
    points = width_groups(reports)
    if points:
        for fmt in FORMATS:
            plot_width_study(
                points,
                out_dir / f"width_study.{fmt}",
                title="first-layer CKA between initialisation and the end of training",
            )
        figures.append(
            (
                "width_study",
                "Width study",
                "First-layer CKA between the first and the last grid epoch "
                "against the model width; one line per group of experiments that differ only in width.",
            )
        )
    cross: dict[str, dict[str, tuple[list[int], list[float]]]] = defaultdict(dict)
    for r in reports:
        for other, layers in (r.get("cross") or {}).items():
            for layer, c in layers.items():
                cross[layer][f"{r['name']} vs {other}"] = (
                    c["epochs"],
                    [np.nan if v is None else v for v in c["values"]],
                )
    for layer, curves in cross.items():
        stem = f"cross_{layer.replace('/', '_')}"
        for fmt in FORMATS:
            plot_curves(
                curves,
                out_dir / f"{stem}.{fmt}",
                title=f"{labels.get(layer, layer)}: cross-run CKA",
                ylabel="CKA between the two runs at equal epochs",
            )
        figures.append(
            (
                stem,
                f"Cross-run CKA: {labels.get(layer, layer)}",
                "CKA between independently initialised runs at equal epochs (cka.compare_with).",
            )
        )
    return figures
