"""The summary table: one row per experiment and layer, written as TSV and shown in the reports.

Columns (empty cell = undefined: the event never happened, or the analysis is off for this experiment):
  experiment, layer, label           the experiment name, the layer's module name and its readable name
  perfect_fit_epoch                  first epoch with zero training error on the (noisy) training labels
  instabilities                      spans after the first fit where training error or loss jumped ("37-43;50-52")
  memorisation_start, memorisation_end   the memorisation phase: first test-error minimum to perfect fitting
  test_error_min_epoch, test_error_min     the first minimum of the smoothed test error (when a peak follows)
  test_error_peak_epoch, test_error_peak   the epoch-wise double-descent peak (smoothed test error), inside
                                     memorisation, significant and followed by a second descent; empty otherwise
  (event rules: repdyn.analysis.events)
  final_test_error                   test error at the experiment's last epoch
  cka_blocks, cka_transitions        number of similarity blocks on the CKA matrix, and the epochs where
                                     a new block begins (';'-separated)
  drs_blocks, drs_transitions        the same on the DRS matrix
  mean_offdiag_cka, mean_offdiag_drs mean similarity between different grid epochs
  cka_to_init_end                    this layer's CKA between the first grid epoch and the last
  first_layer_cka_to_init_end        the same for the experiment's first analysed layer (the paper's width study)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from repdyn.storage import atomic

from .analysis import LayerMeasures

COLUMNS: tuple[str, ...] = (
    "experiment",
    "layer",
    "label",
    "perfect_fit_epoch",
    "instabilities",
    "memorisation_start",
    "memorisation_end",
    "test_error_min_epoch",
    "test_error_min",
    "test_error_peak_epoch",
    "test_error_peak",
    "final_test_error",
    "cka_blocks",
    "cka_transitions",
    "drs_blocks",
    "drs_transitions",
    "mean_offdiag_cka",
    "mean_offdiag_drs",
    "cka_to_init_end",
    "first_layer_cka_to_init_end",
)


def summary_rows(
    name: str,
    layers: Sequence[str],
    labels: Mapping[str, str],
    phases: Mapping[str, Any],
    final_test_error: float | None,
    cka: Mapping[str, LayerMeasures] | None,
    drs: Mapping[str, LayerMeasures] | None,
) -> list[dict[str, Any]]:
    """The rows of one experiment, in layer order."""
    first_init = cka[layers[0]].init if cka and layers and layers[0] in cka else None
    first = first_init.end_value if first_init else None
    memorisation = phases.get("memorisation") or (None, None)
    dd = phases.get("double_descent") or {}
    rows = []
    for layer in layers:
        c = cka.get(layer) if cka else None
        d = drs.get(layer) if drs else None
        rows.append(
            {
                "experiment": name,
                "layer": layer,
                "label": labels.get(layer, layer),
                "perfect_fit_epoch": phases.get("perfect_fit_epoch"),
                "instabilities": [f"{a}-{b}" for a, b in phases.get("instabilities") or []],
                "memorisation_start": memorisation[0],
                "memorisation_end": memorisation[1],
                "test_error_min_epoch": dd.get("minimum_epoch"),
                "test_error_min": dd.get("minimum_value"),
                "test_error_peak_epoch": phases.get("test_error_peak_epoch"),
                "test_error_peak": phases.get("test_error_peak"),
                "final_test_error": final_test_error,
                "cka_blocks": len(c.blocks.ranges) if c else None,
                "cka_transitions": list(c.blocks.transitions) if c else None,
                "drs_blocks": len(d.blocks.ranges) if d else None,
                "drs_transitions": list(d.blocks.transitions) if d else None,
                "mean_offdiag_cka": c.mean_offdiag if c else None,
                "mean_offdiag_drs": d.mean_offdiag if d else None,
                "cka_to_init_end": c.init.end_value if c and c.init else None,
                "first_layer_cka_to_init_end": first,
            }
        )
    return rows


def cell(value: Any) -> str:
    """A TSV/HTML cell: '' for undefined, 4 significant digits for fractions, ';'-joined lists."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def format_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Header and rows; ValueError names a row that lacks a column."""
    lines = ["\t".join(COLUMNS)]
    for row in rows:
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise ValueError(f"summary row {row.get('experiment')!r}/{row.get('layer')!r} lacks {', '.join(missing)}")
        lines.append("\t".join(cell(row[c]) for c in COLUMNS))
    return "\n".join(lines) + "\n"


def write_tsv(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    atomic.write_text(path, format_tsv(rows))
