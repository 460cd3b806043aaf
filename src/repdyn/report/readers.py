"""The readers of what one experiment's report shows: artifact directories, their specs, metrics and matrices.

The report job gets only paths (from the Snakemake rule), and every reader here fails with an error that
names the missing file, so a report never renders from a half-finished results tree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.storage import integrity
from repdyn.storage import spec_files as artifacts


@dataclass(frozen=True)
class ExperimentInputs:
    """Paths of one experiment's results (relative to the working directory, as Snakemake gives them)."""

    name: str
    data_dir: Path
    run_dir: Path
    metrics: Path
    phases: Path
    cka: Path | None = None  # assembled CKA directory results/cka/<id>/e<E>
    drs: Path | None = None  # assembled DRS directory results/drs/<id>/e<E>
    cross: Mapping[str, Path] = field(default_factory=dict)  # other experiment -> assembled cross-run CKA directory
    preds: tuple[Path, ...] = ()  # the DRS predictions parts (decision-region figures)
    planes: Path | None = None  # the plane set's store planes.zarr (decision-region figures)
    twopoint: Path | None = None  # two-point result directory results/twopoint/<id>/e<E>
    layer_pairs: tuple[Path, ...] = ()  # layers x layers CKA directories results/cka/<id>/layers/e<epoch>

    def __post_init__(self) -> None:
        for label, path in (
            ("data", self.data_dir),
            ("run", self.run_dir),
            ("metrics", self.metrics),
            ("phases", self.phases),
            ("cka", self.cka),
            ("drs", self.drs),
            ("planes", self.planes),
            ("twopoint", self.twopoint),
            *(("preds", p) for p in self.preds),
            *(("layer_pairs", p) for p in self.layer_pairs),
            *self.cross.items(),
        ):
            if path is not None and not Path(path).exists():
                raise FileNotFoundError(f"report of {self.name!r}: {label} input {path} does not exist")

    def specs(self) -> dict[str, dict[str, Any]]:
        """stage -> spec.json of every artifact the report shows (checked against its directory id)."""
        out = {"data": artifacts.read_spec(self.data_dir, "data"), "train": artifacts.read_spec(self.run_dir, "train")}
        if self.cka is not None:
            out["cka"] = artifacts.read_spec(Path(self.cka).parent, "cka")
        if self.drs is not None:
            out["drs"] = artifacts.read_spec(Path(self.drs).parent, "drs")
        if self.twopoint is not None:
            out["twopoint"] = artifacts.read_spec(Path(self.twopoint).parent, "twopoint")
        return out

    def ids(self) -> dict[str, str]:
        """stage -> artifact id (the directory names)."""
        out = {"data": Path(self.data_dir).name, "train": Path(self.run_dir).name}
        if self.cka is not None:
            out["cka"] = Path(self.cka).parent.name
        if self.drs is not None:
            out["drs"] = Path(self.drs).parent.name
        if self.twopoint is not None:
            out["twopoint"] = Path(self.twopoint).parent.name
        for other, path in self.cross.items():
            out[f"cka vs {other}"] = Path(path).parent.name
        return out


@dataclass(frozen=True)
class SimilarityResult:
    """One assembled similarity result (CKA or DRS) as numpy arrays."""

    kind: str  # "CKA" or "DRS"
    layers: list[str]
    matrices: dict[str, np.ndarray]
    row_epochs: np.ndarray
    col_epochs: np.ndarray
    store: Path  # the Zarr store, for links
    directory: Path  # the assembled directory (figures)
    probe_test_err: np.ndarray | None = None  # DRS only: (E, L) test error of each layer's probe


def read_phases(path: str | os.PathLike) -> dict[str, Any]:
    """The perfect-fit epoch and test-error peak written by `repdyn run-metrics`."""
    integrity.require(path)
    doc = json.loads(Path(path).read_text())
    missing = {"perfect_fit_epoch", "test_error_peak_epoch", "test_error_peak"} - set(doc)
    if missing:
        raise ValueError(f"{path}: lacks key(s) {', '.join(sorted(missing))}")
    return doc


def read_cka(directory: str | os.PathLike) -> SimilarityResult:
    from repdyn.cka import open_cka
    from repdyn.cka.store import CKA_STORE

    result = open_cka(directory)
    return SimilarityResult(
        "CKA",
        result.layers,
        result.matrices,
        np.asarray(result.row_epochs),
        np.asarray(result.col_epochs),
        Path(directory) / CKA_STORE,
        Path(directory),
    )


def read_drs(directory: str | os.PathLike) -> SimilarityResult:
    from repdyn.drs.store import DRS_STORE, open_drs

    result = open_drs(directory)
    epochs = np.asarray(result.epochs)
    return SimilarityResult(
        "DRS",
        list(result.layers),
        result.matrices,
        epochs,
        epochs,
        Path(directory) / DRS_STORE,
        Path(directory),
        np.asarray(result.probe_test_err),
    )
