"""Epoch grids: which epochs an analysis looks at (docs/algorithms.md §5).

Epoch e is the network after e completed epochs (0 = initialisation). A grid is
defined independently of the training length and truncated to it, so extending
training appends grid points and never renumbers the existing ones: tiles
addressed by absolute grid positions stay valid. Only `ranges` and `every` grids
are cut this way: an explicit list names each epoch, and `check` refuses one
past the training length.
"""

from __future__ import annotations

from typing import Any

GridSpec = list[int] | dict[str, Any]


def check(spec: GridSpec, length: int | None = None) -> None:
    """Raise ValueError (without the key path; the caller adds it) if the spec is malformed, or if it is an
    explicit list naming an epoch after `length` (a list names each epoch; ranges may run on, see the top)."""
    if isinstance(spec, list):
        for pos in range(1, len(spec)):
            if spec[pos] <= spec[pos - 1]:
                raise ValueError(
                    f"explicit grid is not strictly increasing at position {pos} ({spec[pos]} after {spec[pos - 1]})"
                )
        past = [e for e in spec if e > length] if length is not None else []
        if past:
            more = f" (and {len(past) - 1} later epoch{'s' * (len(past) > 2)})" if len(past) > 1 else ""
            raise ValueError(
                f"epoch {past[0]} is past train.epochs = {length}{more}; list only trained epochs, "
                "or give ranges:, which stop at train.epochs"
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
    points = _points(spec, length)
    return sorted(e for e in points if 0 <= e <= length)


def beyond(spec: GridSpec, length: int) -> list[int]:
    """The grid's epochs after `length`, increasing: those `epochs` leaves out ({every: n} has none)."""
    return sorted(e for e in _points(spec, length) if e > length)


def _points(spec: GridSpec, length: int) -> set[int]:
    """Every epoch the spec names, those after `length` included."""
    check(spec)
    if isinstance(spec, list):
        return set(spec)
    if "every" in spec:
        points = set(range(0, length + 1, spec["every"]))
        include_last = spec.get("include_last", True)
    else:
        points = set()
        for start, stop, step in spec["ranges"]:
            points.update(range(start, stop + 1, step))
        include_last = spec.get("include_last", False)
    if include_last:
        points.add(length)
    return points


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
