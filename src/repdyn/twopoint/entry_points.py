"""The two-point jobs as the workflow runs them: read the artifact's spec.json, then choose pairs or fit a run.

Each function is one command of `python -m repdyn` (repdyn.cli.twopoint parses the arguments).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import plan
from repdyn.config import grids
from repdyn.storage import spec_files as artifacts
from repdyn.tiling.assembly import write_result

FIGURES = ("h_ratio", "theory")
FORMATS = ("png", "pdf")


def choose(pairs_dir: Path, out: str) -> None:
    """choose_pairs: the stratified pairs of a dataset artifact, recorded in pairs.json."""
    from repdyn.data import DatasetArtifact
    from repdyn.twopoint.record import draw, write_pairs

    spec = artifacts.read_spec(pairs_dir, "pairs")
    data_id = spec["inputs"]["data"]
    dataset = DatasetArtifact.load(plan.RESULTS / "data" / data_id / "dataset.h5")
    settings = spec["settings"]
    record = draw(
        dataset.clean_labels.numpy(),
        dataset.train_labels.numpy(),
        dataset.flipped.numpy(),
        seed=settings["seed"],
        per_type=settings["pairs_per_type"],
    )
    write_pairs(out, record, {"pairs": pairs_dir.name, "data": data_id, "settings": settings})
    print(json.dumps({"pairs": out, "count": int(record.pairs.index.shape[0])}))


def _finite(value: Any) -> Any:
    """JSON without NaN: a non-finite number becomes null (recursively)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def fit(twopoint_dir: Path, parts: Sequence[str], shape: str, metrics: str, out: str) -> None:
    """twopoint_fit: every pair and layer fitted, the table per layer and pair type, the figures."""
    from repdyn.extract.twopoint_store import read_series
    from repdyn.figures.axes import visible_marks
    from repdyn.models.registry import run_layer_labels
    from repdyn.train import phase_marks, read_metrics, training_phases
    from repdyn.twopoint import analysis, figures

    spec = artifacts.read_spec(twopoint_dir, "twopoint")
    epochs = grids.epochs(spec["settings"]["grid"], plan.TwopointArtifact.length_of(shape))
    series = read_series(parts, epochs)
    phases = training_phases(read_metrics([metrics]))
    fits = analysis.fit_all(series, phases)
    table = analysis.fit_table(series, fits)
    layer = series.layers[-2] if len(series.layers) > 1 else series.layers[0]  # the last layer before the logits
    examples = analysis.representatives(series, fits, layer)
    extract_spec = artifacts.read_spec(plan.RESULTS / "extract" / spec["inputs"]["extract"], "extract")
    labels = run_layer_labels(artifacts.run_and_dataset(extract_spec["inputs"]["run"])[0]["settings"]["model"])
    marks = visible_marks(phase_marks(phases), list(series.epochs))
    doc = {
        "id": twopoint_dir.name,
        "inputs": spec["inputs"],
        "pairs": extract_spec["inputs"].get("pairs"),
        "epochs": series.epochs.tolist(),
        "layers": list(series.layers),
        "layer_labels": labels,
        "phases": {
            k: phases.get(k) for k in ("perfect_fit_epoch", "memorisation", "test_error_peak_epoch", "instabilities")
        },
        "boundaries": fits["boundaries"],
        "late_start": fits["late_start"],
        "late_rule": fits["late_rule"],
        "shuffles": analysis.SHUFFLES,
        "theory_layer": layer,
        "table": table,
        "representatives": {
            k: {"pair": v["pair"], "index": v["index"], "driven_error": v["driven_error"]} for k, v in examples.items()
        },
    }

    def write(tmp: Path) -> None:
        curves = analysis.ratio_curves(series)
        title = f"two-point {twopoint_dir.name} {shape}"
        for fmt in FORMATS:
            figures.plot_ratios(
                curves,
                series.epochs,
                series.layers,
                labels,
                marks,
                tmp / f"h_ratio.{fmt}",
                f"{title}: median H/H(0) per pair type",
            )
            figures.plot_theory(
                examples,
                series.epochs,
                labels.get(layer, layer),
                marks,
                tmp / f"theory.{fmt}",
                f"{title}: measured vs driven theory ({labels.get(layer, layer)})",
            )
        (tmp / plan.twopoint.FITS_FILE).write_text(json.dumps(_finite(doc), indent=1, sort_keys=True) + "\n")

    write_result(out, write, _finite({"rows": len(table), "late_start": fits["late_start"]}))
    print(json.dumps({"twopoint": out, "rows": len(table)}))
