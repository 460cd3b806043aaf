"""Plan of the CKA stages: per-segment Gram extraction, tiles, assembled matrices.

Extraction is per training run (shared by every experiment and estimator that
uses that run), so changing a CKA setting never re-extracts. A CKA artifact's
id holds the estimator, accumulation, block size and the grid *definition*.
Tiles cover blocks of `block` consecutive grid positions (named as in
repdyn.tiling.names, which says why a longer run keeps every finished tile).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar

from repdyn.config import ConfigError, grids
from repdyn.plan.core import RESULTS, Plan, RunArtifact
from repdyn.plan.parts import SegmentParts
from repdyn.storage import ids
from repdyn.tiling.names import Tile, block_epochs, tile_name


@dataclass(frozen=True)
class ExtractArtifact(SegmentParts):
    """Per-epoch Grams of the probe set at every analysed layer, one store per training segment."""

    STAGE: ClassVar[str] = "extract"


@dataclass(frozen=True)
class CkaArtifact:
    """One CKA matrix family: rows from one extraction, columns from the same (self) or another (cross-run)."""

    id: str
    spec: dict[str, Any]
    stage: str  # "cka" (symmetric, tiles I <= J) or "cka_cross" (rectangular, all tiles)
    rows: ExtractArtifact
    cols: ExtractArtifact
    grid_rows: dict[str, Any]  # grid definitions (not truncated)
    grid_cols: dict[str, Any]
    block: int

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / self.stage / self.id

    @property
    def symmetric(self) -> bool:
        return self.stage == "cka"

    def epochs(self, rows_length: int, cols_length: int) -> tuple[list[int], list[int]]:
        return grids.epochs(self.grid_rows, rows_length), grids.epochs(self.grid_cols, cols_length)

    def tiles(self, rows_length: int, cols_length: int) -> list[Tile]:
        rows, cols = self.epochs(rows_length, cols_length)
        out = []
        for a, b in grids.blocks(len(rows), self.block):
            for c, d in grids.blocks(len(cols), self.block):
                if not self.symmetric or a <= c:
                    out.append((rows[a], rows[b - 1], cols[c], cols[d - 1]))
        return out

    def tile_epochs(self, tile: Tile) -> tuple[list[int], list[int]]:
        a, b, c, d = tile
        return block_epochs(self.grid_rows, a, b), block_epochs(self.grid_cols, c, d)

    def is_diagonal(self, tile: Tile) -> bool:
        return self.symmetric and tile[:2] == tile[2:]

    def tile_dir(self, tile: Tile) -> PurePosixPath:
        return self.dir / "tiles" / tile_name(tile)

    def tile_parts(self, tile: Tile) -> tuple[list[str], list[str]]:
        """Extraction parts holding the epochs of the tile's rows, and of its columns."""
        rows, cols = self.tile_epochs(tile)
        return self.rows.dirs_for(rows), self.cols.dirs_for(cols)

    def layer_pairs_dir(self, epoch: int) -> PurePosixPath:
        """Layers x layers CKA at one grid epoch (repdyn.cka.layer_pairs); self-CKA artifacts only."""
        return self.dir / "layers" / f"e{epoch:06d}"

    def assembled_dir(self, rows_length: int, cols_length: int) -> PurePosixPath:
        name = f"e{rows_length:06d}" if self.symmetric else f"e{rows_length:06d}x{cols_length:06d}"
        return self.dir / name

    @staticmethod
    def lengths_of(name: str) -> tuple[int, int]:
        """Inverse of assembled_dir's name."""
        body = name[1:]
        if "x" in body:
            r, c = body.split("x")
            return int(r), int(c)
        return int(body), int(body)


def extract_spec(run: RunArtifact, cka: dict[str, Any], pairs_id: str) -> dict[str, Any]:
    """The pairs' id is an input: every part also forwards the dataset's two-point pairs (twopoint.zarr)."""
    settings = {
        "raw_max_features": cka["raw_max_features"],
        "full_gram": cka["estimator"] == "full_biased",
        "tf32": cka["tf32"],
    }
    return ids.artifact_spec("extract", settings, {"run": run.id, "pairs": pairs_id})


def cka_spec(
    stage: str, cka: dict[str, Any], rows: ExtractArtifact, cols: ExtractArtifact, grid_rows: Any, grid_cols: Any
) -> dict[str, Any]:
    settings = {
        "estimator": cka["estimator"],
        "accumulate": cka["accumulate"],
        "block": cka["block"],
        "grid_rows": grid_rows,
    }
    inputs = {"rows": rows.id}
    if stage == "cka_cross":
        settings["grid_cols"] = grid_cols
        inputs["cols"] = cols.id
    return ids.artifact_spec(stage, settings, inputs)


def attach(plan: Plan) -> Plan:
    """Add extraction and CKA artifacts (self and cross-run) to a plan of data and training."""
    needs: dict[str, tuple[dict, RunArtifact, set[int]]] = {}

    def need(exp, cka: dict[str, Any]) -> str:
        spec = extract_spec(exp.run, cka, exp.pairs.id)
        extract_id = ids.spec_id(spec)
        needs.setdefault(extract_id, (spec, exp.run, set()))[2].update(exp.grids["cka"])
        return extract_id

    wanted = []  # (experiment plan, stage, other experiment or None, row extract id, col extract id)
    for exp in plan.experiments:
        settings = exp.experiment.section("cka")
        _check_layer_pairs(exp, settings["layer_pairs_at"])
        rows_id = need(exp, settings)
        wanted.append((exp, "cka", None, rows_id, rows_id))
        for other_name in settings["compare_with"]:
            other = _partner(plan, exp, other_name)
            cols_id = need(other, settings)
            wanted.append((exp, "cka_cross", other, rows_id, cols_id))

    extracts = {
        i: ExtractArtifact(id=i, spec=spec, run=run, epochs=tuple(sorted(epochs)))
        for i, (spec, run, epochs) in needs.items()
    }
    ckas: dict[str, CkaArtifact] = {}
    per_exp: dict[str, dict[str, Any]] = {exp.name: {"cka": None, "cka_cross": []} for exp in plan.experiments}
    for exp, stage, other, rows_id, cols_id in wanted:
        settings = exp.experiment.section("cka")
        grid_rows = exp.experiment.section("grids")["cka"]
        grid_cols = other.experiment.section("grids")["cka"] if other else grid_rows
        spec = cka_spec(stage, settings, extracts[rows_id], extracts[cols_id], grid_rows, grid_cols)
        art = ckas.setdefault(
            ids.spec_id(spec),
            CkaArtifact(
                id=ids.spec_id(spec),
                spec=spec,
                stage=stage,
                rows=extracts[rows_id],
                cols=extracts[cols_id],
                grid_rows=grid_rows,
                grid_cols=grid_cols,
                block=settings["block"],
            ),
        )
        if stage == "cka":
            per_exp[exp.name]["cka"] = art
        else:
            per_exp[exp.name]["cka_cross"].append((other.name, art))

    experiments = tuple(
        dataclasses.replace(exp, cka=per_exp[exp.name]["cka"], cka_cross=tuple(per_exp[exp.name]["cka_cross"]))
        for exp in plan.experiments
    )
    return dataclasses.replace(plan, experiments=experiments, extracts=extracts, ckas=ckas)


def _check_layer_pairs(exp, epochs: list[int]) -> None:
    outside = [e for e in epochs if e not in exp.grids["cka"]]
    if outside:
        raise ConfigError(
            f"experiments[{exp.experiment.index}] ({exp.name}).cka.layer_pairs_at: epoch {outside[0]} "
            f"is not a CKA-grid epoch (the grid has {len(exp.grids['cka'])} epochs from "
            f"{exp.grids['cka'][0]} to {exp.grids['cka'][-1]})"
        )


def _partner(plan: Plan, exp, other_name: str):
    where = f"experiments[{exp.experiment.index}] ({exp.name}).cka.compare_with"
    try:
        other = plan.experiment(other_name)
    except KeyError:
        names = ", ".join(e.name for e in plan.experiments)
        raise ConfigError(f"{where}: no experiment named {other_name!r} (experiments: {names})") from None
    if other.data.id != exp.data.id:
        raise ConfigError(f"{where}: {other_name!r} uses other data (CKA needs the same probe set)")
    ours, theirs = exp.run.spec["settings"]["model"], other.run.spec["settings"]["model"]
    if (ours["arch"], ours.get("layers")) != (theirs["arch"], theirs.get("layers")):
        raise ConfigError(f"{where}: {other_name!r} has another architecture (its layers differ)")
    return other
