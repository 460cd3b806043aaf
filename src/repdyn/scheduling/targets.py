"""A run that ends without its requested outputs fails: a guard against a gap in Snakemake's planning.

Why: Snakemake 9.27.1 decides which jobs run by walking down from the jobs that must rerun, and it skips
every job below one of them while it walks (`DAG.update_needrun`, the `masked` set) on the promise that the
walk reaches it later. The walk does not cross an `ancient()` input (repdyn's `plan.inputs.Ancient`: a finished
part read by a tile, the segments read by the metrics rule), so a requested output below such an edge is never
looked at: Snakemake runs the jobs above it and exits 0 without it. Seen after a grid change (a new tile
requested while its training segment retrains) and after a kill (`--rerun-incomplete` with a marker on a
finished output). `require_built` turns that silent success into a failure that names the outputs; running the
same command again builds them, since the jobs above them are then finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

Requested = tuple[Sequence[str], Sequence[str]]  # a target job's (outputs, inputs)


def unbuilt(targets: Iterable[Requested]) -> list[str]:
    """The requested paths that do not exist: a target job's outputs, or its inputs when it has none (`all`)."""
    return [path for outputs, inputs in targets for path in (outputs or inputs) if not os.path.exists(path)]


def require_built(targets: Iterable[Requested]) -> None:
    """Fail the run (exit status 1, one message) when a requested path is missing after Snakemake's success."""
    missing = unbuilt(targets)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SystemExit(
            f"repdyn: Snakemake finished without {len(missing)} requested output(s): {shown}. Run the same command "
            "again: it builds them (a gap in Snakemake 9.27.1's planning, docs/snakemake.md)."
        )
