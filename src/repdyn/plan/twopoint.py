"""Plan of the two-point stages: the pairs of a dataset, and the fits of a run's pair observables.

- pairs (data id + pairs_per_type, seed): one fixed, recorded set of stratified training-set pairs per dataset
  artifact (repdyn.twopoint.pairs), shared by every run on it. Its id enters the extraction's id, since every
  extraction part forwards these pairs beside the probe set (twopoint.zarr beside grams.zarr); data and
  training ids never see it.
- twopoint (extract id + CKA grid definition): the fits of H, Y and W_CE per pair and layer over the grid's
  epochs through a length (repdyn.twopoint.analysis), one directory per length like an assembled matrix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from repdyn.config import grids
from repdyn.plan.core import RESULTS, DataArtifact, Plan
from repdyn.storage import ids

PAIRS_FILE = "pairs.json"
FITS_FILE = "twopoint.json"
PAIRS_ID_KEYS = ("pairs_per_type", "seed")
PAIR_TYPE_COUNT = 4  # len(repdyn.twopoint.pairs.PAIR_TYPES), kept torch-free here for the cost model


@dataclass(frozen=True)
class PairsArtifact:
    """The stratified training-set pairs of one dataset artifact (indices, type, clean and trained-on labels)."""

    id: str
    spec: dict[str, Any]
    data: DataArtifact

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "pairs" / self.id

    @property
    def file(self) -> PurePosixPath:
        return self.dir / PAIRS_FILE

    @property
    def max_examples(self) -> int:
        """The most distinct training images its pairs can name (two per pair; fewer when pairs share one)."""
        return 2 * PAIR_TYPE_COUNT * int(self.spec["settings"]["pairs_per_type"])


@dataclass(frozen=True)
class TwopointArtifact:
    """Two-point fits of one extraction's pair observables over one CKA grid definition."""

    id: str
    spec: dict[str, Any]
    extract: Any  # repdyn.plan.cka.ExtractArtifact
    grid: Any  # the grid definition (not truncated)

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / "twopoint" / self.id

    def epochs(self, length: int) -> list[int]:
        return grids.epochs(self.grid, length)

    def parts(self, length: int) -> list[str]:
        """Extraction parts holding the grid's epochs through `length`."""
        return self.extract.dirs_for(self.epochs(length))

    def result_dir(self, length: int) -> PurePosixPath:
        return self.dir / f"e{length:06d}"

    @staticmethod
    def length_of(name: str) -> int:
        """Inverse of result_dir's name."""
        if not (name.startswith("e") and name[1:].isdigit()):
            raise ValueError(f"{name!r} is not a two-point result directory name (e<6 digits>)")
        return int(name[1:])


def pairs_spec(data: DataArtifact, twopoint: dict[str, Any]) -> dict[str, Any]:
    return ids.artifact_spec("pairs", {k: twopoint[k] for k in PAIRS_ID_KEYS}, {"data": data.id})


def twopoint_spec(extract_id: str, grid: Any) -> dict[str, Any]:
    return ids.artifact_spec("twopoint", {"grid": grid}, {"extract": extract_id})


def attach_pairs(plan: Plan) -> Plan:
    """Add the pair sets (one per dataset artifact and pair settings) to a plan of data and training."""
    pairs: dict[str, PairsArtifact] = {}
    experiments = []
    for exp in plan.experiments:
        spec = pairs_spec(exp.data, exp.experiment.section("twopoint"))
        art = pairs.setdefault(ids.spec_id(spec), PairsArtifact(id=ids.spec_id(spec), spec=spec, data=exp.data))
        experiments.append(dataclasses.replace(exp, pairs=art))
    return dataclasses.replace(plan, experiments=tuple(experiments), pairs=pairs)


def attach(plan: Plan) -> Plan:
    """Add the two-point fits of every experiment (after extraction is planned: they read its parts)."""
    twopoints: dict[str, TwopointArtifact] = {}
    experiments = []
    for exp in plan.experiments:
        grid = exp.experiment.section("grids")["cka"]
        spec = twopoint_spec(exp.cka.rows.id, grid)
        art = twopoints.setdefault(
            ids.spec_id(spec), TwopointArtifact(id=ids.spec_id(spec), spec=spec, extract=exp.cka.rows, grid=grid)
        )
        experiments.append(dataclasses.replace(exp, twopoint=art))
    return dataclasses.replace(plan, experiments=tuple(experiments), twopoints=twopoints)
