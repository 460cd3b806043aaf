"""One experiment's results by name, and what is done for every experiment in a directory.

Why: results live under content ids (results/<stage>/<id>/...); a person thinks in experiment names.
results/index.json maps each name (of every config run here: repdyn.results.history) to its artifacts; this
module opens them as labelled xarray data and says which exist.

    import repdyn
    exp = repdyn.open_experiment("fmnist-noise20-rn18k4")
    exp.cka.cka.sel(layer="layer4")          # xarray: (row_epoch, col_epoch), coordinates and units
    exp.drs, exp.events, exp.metrics, exp.paths
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from repdyn.plan.core import INDEX, REPORTS
from repdyn.results import history

# stage -> (key in an index entry, path key inside it, what marks it finished, shown as)
STAGES: dict[str, tuple[str, str, str, str]] = {
    "metrics": ("metrics", "", "", "training metrics"),
    "cka": ("cka", "assembled", "cka.zarr", "CKA matrices"),
    "drs": ("drs", "assembled", "drs.zarr", "DRS matrices"),
    "twopoint": ("twopoint", "result", "twopoint.json", "two-point fits"),
}


def stage_path(entry: Mapping[str, Any], stage: str) -> Path | None:
    """Where an index entry's result of `stage` lives (its store or file), or None when not computed."""
    key, sub, inner, _ = STAGES[stage]
    value = entry.get(key)
    if value is None:
        return None
    base = Path(value[sub] if sub else value)
    return base / inner if inner else base


@dataclass
class ExperimentResults:
    """The results of one experiment, opened lazily: stores as xarray Datasets, events as a dict."""

    name: str
    entry: dict[str, Any] = field(repr=False)
    root: Path = Path(".")

    @property
    def paths(self) -> dict[str, Path]:
        """stage -> path (relative to the work directory) of every result the experiment has."""
        out = {"data": Path(self.entry["data"]["path"]), "train": Path(self.entry["train"]["path"])}
        out.update({s: p for s in STAGES if (p := stage_path(self.entry, s)) is not None})
        out["phases"] = Path(self.entry["phases"])
        out["report"] = REPORTS / "experiments" / self.name / "index.html"
        return out

    def _existing(self, stage: str) -> Path:
        path = self.root / self.paths[stage]
        if not path.exists():
            raise FileNotFoundError(f"experiment {self.name!r}: {path} does not exist yet (run snakemake)")
        return path

    @cached_property
    def cka(self):
        """The CKA matrices as an xarray Dataset: `cka` (layer, row_epoch, col_epoch), layer labels in `label`."""
        import xarray as xr

        return xr.open_zarr(self._existing("cka"), consolidated=False)

    @cached_property
    def drs(self):
        """The DRS matrices and probe errors as an xarray Dataset."""
        import xarray as xr

        return xr.open_zarr(self._existing("drs"), consolidated=False)

    @cached_property
    def metrics(self) -> list[dict[str, float]]:
        """The per-epoch metrics rows (train/test error and loss, ...)."""
        from repdyn.train.metrics import read_metrics

        return read_metrics([self._existing("metrics")])

    @cached_property
    def events(self) -> dict[str, Any]:
        """Training events: perfect fitting, instabilities, memorisation, the double-descent peak."""
        from repdyn.analysis.events import training_events

        return training_events(self.metrics).as_dict()

    @cached_property
    def twopoint(self) -> dict[str, Any]:
        """The two-point fit table (twopoint.json)."""
        return json.loads(self._existing("twopoint").read_text())


def experiments(root: str | Path = ".") -> dict[str, dict[str, Any]]:
    """Every experiment results/index.json records (of every config run in `root`)."""
    return history.recorded(Path(root) / INDEX)


def open_experiment(name: str, root: str | Path = ".") -> ExperimentResults:
    """One experiment's results by its name in the config (ValueError lists the known names)."""
    known = experiments(root)
    if name not in known:
        raise ValueError(
            f"no experiment {name!r} in {Path(root) / INDEX} (known: {', '.join(known) or 'none; run snakemake first'})"
        )
    return ExperimentResults(name, known[name], Path(root))


def progress(entry: Mapping[str, Any], name: str, root: str | Path = ".") -> dict[str, str]:
    """Per stage of one index entry: 'done', 'missing' or 'off' (not computed by its config)."""
    root = Path(root)
    out = {}
    for stage in STAGES:
        path = stage_path(entry, stage)
        out[stage] = "off" if path is None else ("done" if (root / path).exists() else "missing")
    out["report"] = "done" if (root / REPORTS / "experiments" / name / "report.json").is_file() else "missing"
    return out
