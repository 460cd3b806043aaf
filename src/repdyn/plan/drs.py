"""Plan of the DRS stages: plane sets, probes and plane predictions per training segment, tiles, matrices.

Four artifact kinds, each id holding exactly what determines its content, so that changing a DRS
setting reruns only the stages downstream of it and never training or CKA:

- planes (data id + P, R, rho_l, rho_r, triplet labels, seed): one plane set per dataset artifact,
  shared by every run on that dataset (DRS compares predictions at the same points).
- probe (run id + probe epochs, lr, batch size, labels, pooling, seed, + min_steps when not 0): one part
  per training segment holding that segment's DRS-grid epochs (epoch 0 from the init checkpoint), like
  extraction.
- preds (probe id + planes id, + precision when not float32): the probes' predicted classes on every
  plane point, parts like probe.
- drs (preds id + DRS grid definition + block): tiles named by the first and last epoch of each block
  (see repdyn.plan.cka for why that stays exact when training is extended), assembled per length.

Settings that say how to compute, not what (probe.memory_budget_mb, drs.eval_batch_size), are kept out
of every id; the rules hand them to the jobs as Snakemake resources, which never trigger a rerun.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar

from repdyn.config import grids
from repdyn.plan.core import RESULTS, DataArtifact, Plan, RunArtifact
from repdyn.plan.parts import SegmentParts
from repdyn.storage import ids
from repdyn.tiling.names import Tile, block_epochs, tile_name

PLANES_ID_KEYS = ("planes", "resolution", "range_l", "range_r", "triplet_labels", "seed")
PROBE_ID_KEYS = ("epochs", "lr", "batch_size", "labels", "pooling", "seed")
# Memory a probe job needs besides its feature cache: torch, the model, one batch of activations,
# the probes with their Adam state and the test-set cache (built after the training-set cache is freed).
PROBE_JOB_OVERHEAD_MB = 3072
PLANES_STORE_DIR = "planes.zarr"


@dataclass(frozen=True)
class PlanesArtifact:
    """P fixed planes (bases and grid coefficients, never points) of one dataset artifact."""

    id: str
    spec: dict[str, Any]
    data: DataArtifact

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "planes" / self.id

    @property
    def store(self) -> PurePosixPath:
        return self.dir / PLANES_STORE_DIR


@dataclass(frozen=True, kw_only=True)
class ProbeArtifact(SegmentParts):
    """Linear probes of every analysed layer at the DRS-grid epochs of one run."""

    STAGE: ClassVar[str] = "probe"
    memory_budget_mb: int  # the smallest budget of the experiments sharing it; not in the id

    @property
    def mem_mb(self) -> int:
        """What a probe job asks the scheduler for: the feature budget plus the job's own overhead."""
        return self.memory_budget_mb + PROBE_JOB_OVERHEAD_MB


@dataclass(frozen=True, kw_only=True)
class PredsArtifact(SegmentParts):
    """Predicted classes (uint8) of one probe artifact's probes on one plane set, parts like the probes'."""

    STAGE: ClassVar[str] = "preds"
    probe: ProbeArtifact
    planes: PlanesArtifact
    eval_batch_size: int  # the smallest of the experiments sharing it; not in the id

    def probe_part(self, start: int, end: int) -> PurePosixPath:
        """The probe part of the same segment (the probe artifact's epochs include this artifact's)."""
        self.part_epochs(start, end)
        return self.probe.part_dir(start, end)


@dataclass(frozen=True)
class DrsArtifact:
    """The epoch x epoch DRS matrices of all layers from one preds artifact on one grid definition."""

    id: str
    spec: dict[str, Any]
    preds: PredsArtifact
    grid: Any  # the grid definition (not truncated)
    block: int

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "drs" / self.id

    def epochs(self, length: int) -> list[int]:
        return grids.epochs(self.grid, length)

    def tiles(self, length: int) -> list[Tile]:
        """Tiles I <= J of the symmetric matrix through epoch `length`."""
        epochs = self.epochs(length)
        blocks = grids.blocks(len(epochs), self.block)
        return [(epochs[a], epochs[b - 1], epochs[c], epochs[d - 1]) for a, b in blocks for c, d in blocks if a <= c]

    def tile_epochs(self, tile: Tile) -> tuple[list[int], list[int]]:
        a, b, c, d = tile
        return block_epochs(self.grid, a, b), block_epochs(self.grid, c, d)

    def tile_dir(self, tile: Tile) -> PurePosixPath:
        return self.dir / "tiles" / tile_name(tile)

    def tile_parts(self, tile: Tile) -> tuple[list[str], list[str]]:
        """Preds parts holding the epochs of the tile's rows, and of its columns."""
        rows, cols = self.tile_epochs(tile)
        return self.preds.dirs_for(rows), self.preds.dirs_for(cols)

    def probe_parts(self, length: int) -> list[str]:
        """Probe parts holding the grid's epochs through `length` (their errors go into the figures)."""
        return self.preds.probe.dirs_for(self.epochs(length))

    def assembled_dir(self, length: int) -> PurePosixPath:
        return self.dir / f"e{length:06d}"

    @staticmethod
    def length_of(name: str) -> int:
        """Inverse of assembled_dir's name."""
        if not (name.startswith("e") and name[1:].isdigit()):
            raise ValueError(f"{name!r} is not an assembled DRS directory name (e<6 digits>)")
        return int(name[1:])


def planes_spec(data: DataArtifact, drs: dict[str, Any]) -> dict[str, Any]:
    return ids.artifact_spec("planes", {k: drs[k] for k in PLANES_ID_KEYS}, {"data": data.id})


def probe_spec(run: RunArtifact, probe: dict[str, Any]) -> dict[str, Any]:
    """min_steps 0 (epochs only) adds no setting: a config that leaves it at 0 keeps the ids its probes have."""
    settings = {k: probe[k] for k in PROBE_ID_KEYS}
    if probe["min_steps"]:
        settings["min_steps"] = probe["min_steps"]
    return ids.artifact_spec("probe", settings, {"run": run.id})


def preds_spec(probe_id: str, planes_id: str, precision: str = "float32") -> dict[str, Any]:
    """float32 (the default) adds no setting: a config that leaves it unset keeps its predictions' ids."""
    settings = {} if precision == "float32" else {"precision": precision}
    return ids.artifact_spec("preds", settings, {"probe": probe_id, "planes": planes_id})


def drs_spec(preds_id: str, grid: Any, block: int) -> dict[str, Any]:
    return ids.artifact_spec("drs", {"grid": grid, "block": block}, {"preds": preds_id})


def attach(plan: Plan) -> Plan:
    """Add plane sets, probes, plane predictions and DRS matrices to a plan of data and training.

    Experiments with the same settings share artifacts; a shared probe or predictions artifact covers
    the union of their DRS grids, and runs with the smallest memory budget / batch size among them.
    """
    planes: dict[str, PlanesArtifact] = {}
    probe_needs: dict[str, dict[str, Any]] = {}  # id -> spec, run, epochs, budgets
    preds_needs: dict[str, dict[str, Any]] = {}  # id -> spec, probe id, planes id, epochs, batch sizes
    wanted = []  # (experiment plan, preds id, drs settings)
    for exp in plan.experiments:
        drs, probe = exp.experiment.section("drs"), exp.experiment.section("probe")
        spec = planes_spec(exp.data, drs)
        planes_id = ids.spec_id(spec)
        planes.setdefault(planes_id, PlanesArtifact(id=planes_id, spec=spec, data=exp.data))

        spec = probe_spec(exp.run, probe)
        probe_id = ids.spec_id(spec)
        need = probe_needs.setdefault(probe_id, {"spec": spec, "run": exp.run, "epochs": set(), "budget": []})
        need["epochs"].update(exp.grids["drs"])
        need["budget"].append(probe["memory_budget_mb"])

        spec = preds_spec(probe_id, planes_id, drs["precision"])
        preds_id = ids.spec_id(spec)
        need = preds_needs.setdefault(
            preds_id, {"spec": spec, "probe": probe_id, "planes": planes_id, "epochs": set(), "batch": []}
        )
        need["epochs"].update(exp.grids["drs"])
        need["batch"].append(drs["eval_batch_size"])
        wanted.append((exp, preds_id, drs))

    probes = {
        i: ProbeArtifact(
            id=i, spec=n["spec"], run=n["run"], epochs=tuple(sorted(n["epochs"])), memory_budget_mb=min(n["budget"])
        )
        for i, n in probe_needs.items()
    }
    preds = {
        i: PredsArtifact(
            id=i,
            spec=n["spec"],
            run=probes[n["probe"]].run,
            epochs=tuple(sorted(n["epochs"])),
            probe=probes[n["probe"]],
            planes=planes[n["planes"]],
            eval_batch_size=min(n["batch"]),
        )
        for i, n in preds_needs.items()
    }
    drs_arts: dict[str, DrsArtifact] = {}
    per_exp: dict[str, DrsArtifact] = {}
    for exp, preds_id, drs in wanted:
        grid = exp.experiment.section("grids")["drs"]
        spec = drs_spec(preds_id, grid, drs["block"])
        drs_id = ids.spec_id(spec)
        per_exp[exp.name] = drs_arts.setdefault(
            drs_id, DrsArtifact(id=drs_id, spec=spec, preds=preds[preds_id], grid=grid, block=drs["block"])
        )

    experiments = tuple(dataclasses.replace(exp, drs=per_exp[exp.name]) for exp in plan.experiments)
    return dataclasses.replace(plan, experiments=experiments, planes=planes, probes=probes, preds=preds, drs=drs_arts)
