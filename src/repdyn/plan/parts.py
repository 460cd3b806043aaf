"""Artifacts made of one part per training segment (extraction, probes, plane predictions).

Each part holds the grid epochs of one training segment (epoch 0 from the init checkpoint) and is
one job and one directory, so a longer run adds parts and never touches finished ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar

from repdyn.plan.core import RESULTS, RunArtifact


@dataclass(frozen=True)
class SegmentParts:
    """Per-epoch results of one run, one part (job, directory) per training segment that has grid epochs."""

    STAGE: ClassVar[str] = ""

    id: str
    spec: dict[str, Any]
    run: RunArtifact
    epochs: tuple[int, ...]  # every epoch any experiment needs from this artifact

    @property
    def dir(self) -> PurePosixPath:
        return RESULTS / self.STAGE / self.id

    @functools.cached_property
    def parts(self) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
        """(start, end, epochs) per job: epoch 0 from the init checkpoint, then one per training segment."""
        out = []
        if 0 in self.epochs:
            out.append((0, 0, (0,)))
        for start, end in self.run.segments:
            inside = tuple(e for e in self.epochs if start < e <= end)
            if inside:
                out.append((start, end, inside))
        return tuple(out)

    def part_dir(self, start: int, end: int) -> PurePosixPath:
        return self.dir / f"{start:06d}-{end:06d}"

    def part_epochs(self, start: int, end: int) -> tuple[int, ...]:
        for s, e, epochs in self.parts:
            if (s, e) == (start, end):
                return epochs
        raise KeyError(f"{self.STAGE} {self.id} has no part {start:06d}-{end:06d}")

    def part_source(self, start: int, end: int) -> PurePosixPath:
        """The training output holding the checkpoints of this part."""
        return self.run.init_dir if (start, end) == (0, 0) else self.run.segment_dir(start, end)

    def dirs_for(self, epochs: tuple[int, ...] | list[int]) -> list[str]:
        wanted = set(epochs)
        return [str(self.part_dir(s, e)) for s, e, inside in self.parts if wanted.intersection(inside)]
