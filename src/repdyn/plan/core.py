"""The plan's types: the Plan, each experiment's part of it, and the data and training artifacts with their
paths (repdyn.plan.runs plans the data and training stages; see repdyn.plan for the whole picture).

Torch-free and file-system-free on purpose: the Snakefile calls this at parse
time, and Snakemake parses the Snakefile again inside every cluster job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from repdyn.config import Config, Experiment, grids

RESULTS = PurePosixPath("results")
REPORTS = PurePosixPath("reports")  # views of the results, named by experiment (not content-addressed)
INDEX = RESULTS / "index.json"
REPORT_INDEX = REPORTS / "index.html"


@dataclass(frozen=True)
class DataArtifact:
    id: str
    spec: dict[str, Any]
    machine: dict[str, Any]  # root, download: needed to build it here, not part of the id

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "data" / self.id

    @property
    def h5(self) -> PurePosixPath:
        return self.dir / "dataset.h5"


@dataclass(frozen=True)
class RunArtifact:
    """One training run; several experiments may share it (same data, model, recipe, seed)."""

    id: str
    spec: dict[str, Any]
    data_id: str
    epochs: int  # the longest length any experiment asks for
    segment_epochs: int
    checkpoint_epochs: tuple[int, ...]
    machine: dict[str, Any] = field(default_factory=dict)  # an imported run's paths (repdyn.imports.files)

    @property
    def imported(self) -> bool:
        return self.spec["settings"]["model"]["arch"] == "external"

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "train" / self.id

    @property
    def init_dir(self) -> PurePosixPath:
        return self.dir / "init"

    @functools.cached_property
    def segments(self) -> tuple[tuple[int, int], ...]:
        return tuple(grids.segments(self.epochs, self.segment_epochs))

    def segment_dir(self, start: int, end: int) -> PurePosixPath:
        return self.dir / "segments" / f"{start:06d}-{end:06d}"

    def state_source(self, epoch: int) -> PurePosixPath:
        """The directory whose state.pt holds the resume state at a segment boundary."""
        if epoch == 0:
            return self.init_dir
        for start, end in self.segments:
            if end == epoch:
                return self.segment_dir(start, end)
        raise KeyError(f"epoch {epoch} is not a segment boundary of run {self.id}")

    def segment_checkpoints(self, start: int, end: int) -> list[int]:
        return [e for e in self.checkpoint_epochs if start < e <= end]

    def checkpoint_path(self, epoch: int) -> PurePosixPath:
        if epoch == 0:
            return self.init_dir / "checkpoints" / "e000000.pt"
        for start, end in self.segments:
            if start < epoch <= end:
                if epoch not in self.checkpoint_epochs:
                    raise KeyError(f"epoch {epoch} is not a checkpointed epoch of run {self.id}")
                return self.segment_dir(start, end) / "checkpoints" / f"e{epoch:06d}.pt"
        raise KeyError(f"epoch {epoch} is outside run {self.id} (0..{self.epochs})")

    def segments_through(self, epoch: int) -> list[tuple[int, int]]:
        return [(s, e) for s, e in self.segments if s < epoch]

    def metrics_path(self, epochs: int) -> PurePosixPath:
        return self.dir / "metrics" / f"e{epochs:06d}.tsv"

    def phases_path(self, epochs: int) -> PurePosixPath:
        return self.dir / "metrics" / f"e{epochs:06d}.phases.json"


@dataclass(frozen=True)
class ExperimentPlan:
    name: str
    experiment: Experiment
    data: DataArtifact
    run: RunArtifact
    epochs: int
    grids: dict[str, tuple[int, ...]]
    cka: Any = None  # repdyn.plan.cka.CkaArtifact, filled by repdyn.plan.build
    cka_cross: tuple[tuple[str, Any], ...] = ()  # (other experiment, CkaArtifact)
    drs: Any = None  # repdyn.plan.drs.DrsArtifact, filled by repdyn.plan.build
    pairs: Any = None  # repdyn.plan.twopoint.PairsArtifact, filled by repdyn.plan.build
    twopoint: Any = None  # repdyn.plan.twopoint.TwopointArtifact, filled by repdyn.plan.build

    @property
    def metrics(self) -> PurePosixPath:
        return self.run.metrics_path(self.epochs)

    @property
    def phases(self) -> PurePosixPath:
        return self.run.phases_path(self.epochs)

    @property
    def layer_pairs_dirs(self) -> list[PurePosixPath]:
        """The layers x layers CKA directories of the epochs in cka.layer_pairs_at."""
        if self.cka is None:
            return []
        return [self.cka.layer_pairs_dir(e) for e in self.experiment.section("cka")["layer_pairs_at"]]

    @property
    def report_dir(self) -> PurePosixPath:
        return REPORTS / "experiments" / self.name


@dataclass(frozen=True)
class Plan:
    config: Config
    experiments: tuple[ExperimentPlan, ...]
    data: dict[str, DataArtifact]
    runs: dict[str, RunArtifact]
    extracts: dict[str, Any] = field(default_factory=dict)  # id -> ExtractArtifact
    ckas: dict[str, Any] = field(default_factory=dict)  # id -> CkaArtifact (self and cross-run)
    planes: dict[str, Any] = field(default_factory=dict)  # id -> repdyn.plan.drs.PlanesArtifact
    probes: dict[str, Any] = field(default_factory=dict)  # id -> ProbeArtifact
    preds: dict[str, Any] = field(default_factory=dict)  # id -> PredsArtifact
    drs: dict[str, Any] = field(default_factory=dict)  # id -> DrsArtifact
    pairs: dict[str, Any] = field(default_factory=dict)  # id -> repdyn.plan.twopoint.PairsArtifact
    twopoints: dict[str, Any] = field(default_factory=dict)  # id -> TwopointArtifact

    def run_targets(self) -> list[str]:
        """Final files of the training stages for every experiment."""
        out: list[str] = []
        for exp in self.experiments:
            out += [str(exp.metrics), str(exp.phases)]
        return sorted(set(out))

    def cka_targets(self) -> list[str]:
        """Assembled CKA directories (matrices and heatmaps) of every experiment, and their tiles.

        Tiles are targets themselves so that deleting one (to recompute it) reruns that tile and the
        assembly; Snakemake would otherwise accept a missing intermediate file.
        """
        out = []
        for exp in self.experiments:
            pairs = [(exp.cka, exp.epochs)] if exp.cka is not None else []
            pairs += [(art, self.experiment(other).epochs) for other, art in exp.cka_cross]
            for art, cols_length in pairs:
                out.append(str(art.assembled_dir(exp.epochs, cols_length)))
                out += [str(art.tile_dir(t)) for t in art.tiles(exp.epochs, cols_length)]
            out += [str(d) for d in exp.layer_pairs_dirs]
        return sorted(set(out))

    def drs_targets(self) -> list[str]:
        """Assembled DRS directories (matrices, heatmaps, probe error curves) of every experiment, and their
        tiles (targets themselves, like the CKA tiles, so that a deleted tile is recomputed)."""
        out = []
        for exp in self.experiments:
            if exp.drs is not None:
                out.append(str(exp.drs.assembled_dir(exp.epochs)))
                out += [str(exp.drs.tile_dir(t)) for t in exp.drs.tiles(exp.epochs)]
        return sorted(set(out))

    def twopoint_targets(self) -> list[str]:
        """The two-point fits of every experiment."""
        return sorted({str(exp.twopoint.result_dir(exp.epochs)) for exp in self.experiments if exp.twopoint})

    def report_targets(self) -> list[str]:
        """Every experiment's page (each a target, so that a deleted one is rebuilt, like the tiles)."""
        return [str(exp.report_dir) for exp in self.experiments]

    def experiment(self, name: str) -> ExperimentPlan:
        for exp in self.experiments:
            if exp.name == name:
                return exp
        raise KeyError(name)

    def spec(self, stage: str, artifact_id: str) -> dict[str, Any]:
        """The spec of any planned artifact (KeyError if the current config has none such)."""
        table = {
            "data": self.data,
            "train": self.runs,
            "extract": self.extracts,
            "planes": self.planes,
            "probe": self.probes,
            "preds": self.preds,
            "drs": self.drs,
            "pairs": self.pairs,
            "twopoint": self.twopoints,
        }.get(stage)
        if table is None:
            table = {i: a for i, a in self.ckas.items() if a.stage == stage}
        return table[artifact_id].spec

    def index(self) -> dict[str, Any]:
        """The readable map from experiment names to artifact ids and paths (results/index.json)."""
        return {
            "experiments": {
                exp.name: {
                    "data": {"id": exp.data.id, "path": str(exp.data.dir)},
                    "train": {"id": exp.run.id, "path": str(exp.run.dir), "epochs": exp.epochs},
                    "metrics": str(exp.metrics),
                    "phases": str(exp.phases),
                    "grids": {k: [v[0], v[-1], len(v)] for k, v in exp.grids.items()},
                    **(
                        {
                            "cka": {
                                "id": exp.cka.id,
                                "extract": exp.cka.rows.id,
                                "assembled": str(exp.cka.assembled_dir(exp.epochs, exp.epochs)),
                            }
                        }
                        if exp.cka is not None
                        else {}
                    ),
                    **(
                        {
                            "cka_cross": {
                                other: {
                                    "id": art.id,
                                    "assembled": str(art.assembled_dir(exp.epochs, self.experiment(other).epochs)),
                                }
                                for other, art in exp.cka_cross
                            }
                        }
                        if exp.cka_cross
                        else {}
                    ),
                    **(
                        {
                            "drs": {
                                "id": exp.drs.id,
                                "preds": exp.drs.preds.id,
                                "probe": exp.drs.preds.probe.id,
                                "planes": exp.drs.preds.planes.id,
                                "assembled": str(exp.drs.assembled_dir(exp.epochs)),
                            }
                        }
                        if exp.drs is not None
                        else {}
                    ),
                    **(
                        {
                            "twopoint": {
                                "id": exp.twopoint.id,
                                "pairs": exp.pairs.id,
                                "result": str(exp.twopoint.result_dir(exp.epochs)),
                            }
                        }
                        if exp.twopoint is not None
                        else {}
                    ),
                }
                for exp in self.experiments
            }
        }
