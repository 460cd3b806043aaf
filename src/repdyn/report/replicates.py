"""Seed replicates: experiments that differ only in `train.seed`, each readout as mean and spread across seeds.

Why: a readout that changes with the seed says nothing about the network. Experiments whose data
and training settings (and length) are equal except for `train.seed` form a replicate group; for each
readout of the summary table the index reports every seed's value, their mean, standard deviation
and range, and for similarity-block transitions whether all seeds agree.

Transition agreement: every seed's transitions of one layer and similarity are pooled and sorted;
walking up the epochs, a transition joins the current cluster when it lies within the tolerance of
the cluster's first epoch, max(TOLERANCE_EPOCHS, TOLERANCE_FRACTION x epoch) (2 epochs or 10 %), and
its seed is not in the cluster yet; otherwise it opens a new cluster. A cluster is agreed when every
seed of the group has a transition in it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEED_KEY = "train.train.seed"
TOLERANCE_EPOCHS = 2
TOLERANCE_FRACTION = 0.1
#: summary columns reported as mean and spread: (column, per-layer?)
READOUTS: tuple[tuple[str, bool], ...] = (
    ("perfect_fit_epoch", False),
    ("memorisation_start", False),
    ("test_error_min", False),
    ("test_error_peak_epoch", False),
    ("test_error_peak", False),
    ("final_test_error", False),
    ("cka_blocks", True),
    ("drs_blocks", True),
    ("mean_offdiag_cka", True),
    ("mean_offdiag_drs", True),
    ("cka_to_init_end", True),
)
COLUMNS = ("group", "readout", "layer", "per_seed", "n", "mean", "sd", "min", "max", "agreed")


@dataclass(frozen=True)
class TransitionCluster:
    """Transitions of different seeds within the tolerance of each other; None where a seed has none."""

    epochs: tuple[int | None, ...]
    agreed: bool


def tolerance(epoch: int) -> float:
    """How far apart two seeds' transitions may lie and still be the same transition."""
    return max(TOLERANCE_EPOCHS, TOLERANCE_FRACTION * epoch)


def match_transitions(per_seed: Sequence[Sequence[int]]) -> list[TransitionCluster]:
    """Clusters of the seeds' transitions (rule in the module docstring), in epoch order."""
    pooled = sorted((int(e), seed) for seed, epochs in enumerate(per_seed) for e in epochs)
    clusters: list[dict[int, int]] = []
    for epoch, seed in pooled:
        current = clusters[-1] if clusters else None
        if (
            current is not None
            and seed not in current
            and epoch - min(current.values()) <= tolerance(min(current.values()))
        ):
            current[seed] = epoch
        else:
            clusters.append({seed: epoch})
    return [
        TransitionCluster(tuple(c.get(seed) for seed in range(len(per_seed))), len(c) == len(per_seed))
        for c in clusters
    ]


def spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """n, mean, sample standard deviation (None for one value), min and max of the defined values."""
    defined = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not defined:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {
        "n": len(defined),
        "mean": statistics.fmean(defined),
        "sd": statistics.stdev(defined) if len(defined) > 1 else None,
        "min": min(defined),
        "max": max(defined),
    }


def replicate_groups(reports: Sequence[Mapping[str, Any]], flat_settings) -> list[list[Mapping[str, Any]]]:
    """Groups of two or more reports whose settings (flattened by `flat_settings`) and length differ only in
    train.seed, each sorted by seed; in the order of their first member."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for report in reports:
        settings = {k: v for k, v in flat_settings(report).items() if k != SEED_KEY}
        groups[json.dumps([settings, report.get("epochs")], sort_keys=True, default=str)].append(report)
    out = []
    for members in groups.values():
        if len({flat_settings(r).get(SEED_KEY) for r in members}) >= 2:
            out.append(sorted(members, key=lambda r: flat_settings(r).get(SEED_KEY)))
    return out


def replicate_rows(group: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per readout (and layer) of a replicate group, plus one per transition cluster."""
    name = " / ".join(r["name"] for r in group)
    by_layer = [{row["layer"]: row for row in r["summary"]} for r in group]
    layers = [layer for layer in (group[0]["layers"]) if all(layer in rows for rows in by_layer)]
    rows = []
    instability_counts = [len(r["summary"][0].get("instabilities") or []) if r["summary"] else None for r in group]
    rows.append(_row(name, "instabilities (count)", "", instability_counts))
    for column, per_layer in READOUTS:
        for layer in layers if per_layer else layers[:1]:
            rows.append(
                _row(name, column, layer if per_layer else "", [rows_[layer].get(column) for rows_ in by_layer])
            )
    for kind in ("cka", "drs"):
        for layer in layers:
            transitions = [rows_[layer].get(f"{kind}_transitions") for rows_ in by_layer]
            if any(t is None for t in transitions):
                continue
            for cluster in match_transitions(transitions):
                row = _row(name, f"{kind}_transition", layer, list(cluster.epochs))
                row["agreed"] = cluster.agreed
                rows.append(row)
    return rows


def _row(group: str, readout: str, layer: str, values: Sequence[Any]) -> dict[str, Any]:
    return {
        "group": group,
        "readout": readout,
        "layer": layer,
        "per_seed": list(values),
        **spread(values),
        "agreed": None,
    }


def format_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The replicate table as TSV: per_seed ';'-separated (empty where a seed has no value)."""

    def text(value: Any) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return ""
        if isinstance(value, list):
            return ";".join(text(v) for v in value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return "\n".join(["\t".join(COLUMNS)] + ["\t".join(text(r[c]) for c in COLUMNS) for r in rows]) + "\n"
