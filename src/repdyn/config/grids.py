"""Epoch grids: which epochs an analysis looks at (docs/algorithms.md §5).

Epoch e is the network after e completed epochs (0 = initialisation). A grid is
defined independently of the training length and truncated to it, so extending
training appends grid points and never renumbers the existing ones: tiles
addressed by absolute grid positions stay valid.
"""

from __future__ import annotations

from typing import Any

GridSpec = list[int] | dict[str, Any]


def check(spec: GridSpec) -> None:
    """Raise ValueError (without the key path; the caller adds it) if the spec is malformed."""
    if isinstance(spec, list):
        for pos in range(1, len(spec)):
            if spec[pos] <= spec[pos - 1]:
                raise ValueError(
                    f"explicit grid is not strictly increasing at position {pos} ({spec[pos]} after {spec[pos - 1]})"
                )
        return
    if "every" in spec:
        if spec["every"] < 1:
            raise ValueError(f"every: {spec['every']} must be >= 1")
        return
    for pos, (start, stop, step) in enumerate(spec["ranges"]):
        if step < 1:
            raise ValueError(f"ranges[{pos}]: step {step} must be >= 1")
        if stop < start:
            raise ValueError(f"ranges[{pos}]: stop {stop} is before start {start}")
        if pos and start < spec["ranges"][pos - 1][0]:
            raise ValueError(f"ranges[{pos}]: starts at {start}, before the previous range (grid not increasing)")


def epochs(spec: GridSpec, length: int) -> list[int]:
    """The grid's epochs within 0..length (inclusive), increasing, without duplicates."""
    check(spec)
    if isinstance(spec, list):
        points = set(spec)
        include_last = False
    elif "every" in spec:
        points = set(range(0, length + 1, spec["every"]))
        include_last = spec.get("include_last", True)
    else:
        points = set()
        for start, stop, step in spec["ranges"]:
            points.update(range(start, stop + 1, step))
        include_last = spec.get("include_last", False)
    if include_last:
        points.add(length)
    return sorted(e for e in points if 0 <= e <= length)


def segments(length: int, segment_epochs: int) -> list[tuple[int, int]]:
    """Training segments (start, end]: 0-S, S-2S, ..., the last one ending at `length`."""
    if length < 1 or segment_epochs < 1:
        raise ValueError(f"length {length} and segment_epochs {segment_epochs} must be >= 1")
    bounds = list(range(0, length, segment_epochs)) + [length]
    return list(zip(bounds[:-1], bounds[1:]))


def blocks(n_points: int, block: int) -> list[tuple[int, int]]:
    """Half-open position ranges [a, b) of size `block` covering 0..n_points (the last may be short)."""
    if block < 1:
        raise ValueError(f"block size {block} must be >= 1")
    return [(a, min(a + block, n_points)) for a in range(0, n_points, block)]
