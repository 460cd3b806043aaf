"""Epoch -> part lookup over the per-segment parts a tile or an assembly reads, and a part's checkpoints.

A part (Grams, probes, plane predictions) holds the grid epochs of one training segment; a tile's block
of epochs can span several parts. The parts of one artifact must agree about the analysed layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"


class EpochParts:
    """Epoch -> part lookup over several parts of one artifact (each part has `epochs`, `layers`, `path`)."""

    def __init__(self, parts: list[Any], what: str):
        if not parts:
            raise ValueError(f"no {what} parts given")
        self.parts = parts
        self.what = what
        self._where = {e: p for p in parts for e in p.epochs}
        layer_sets = {tuple(p.layers) for p in parts}
        if len(layer_sets) > 1:
            raise ValueError(f"{what} parts disagree about the layers: {sorted(layer_sets)}")

    @property
    def layers(self) -> list[str]:
        return self.parts[0].layers

    def part_of(self, epoch: int) -> Any:
        if epoch not in self._where:
            raise KeyError(f"epoch {epoch} is in none of the {self.what} parts {[str(p.path) for p in self.parts]}")
        return self._where[epoch]


def parse_epochs(text: str) -> list[int]:
    """The comma-separated epoch list a part job gets from its rule (never empty)."""
    epochs = [int(e) for e in text.split(",") if e]
    if not epochs:
        raise ValueError("--epochs lists no epoch")
    return epochs


def checkpoint_paths(source: str | Path, epochs: list[int]) -> dict[int, Path]:
    """Epoch -> checkpoint file in a training output directory; every one must exist."""
    checkpoints = {e: Path(source) / CHECKPOINTS / f"e{e:06d}.pt" for e in epochs}
    missing = [str(p) for p in checkpoints.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoints missing (retention deleted them, or the grid changed?): {missing}")
    return checkpoints
