"""Machine settings that jobs need but ids must not contain (device, data roots).

The Snakefile exports them as environment variables at parse time; every job's
shell inherits them (locally, and on SLURM where each job re-parses the
Snakefile). Passing them as rule params would make Snakemake rerun jobs when a
user moves to another machine; passing them in spec.json would freeze a wrong
data root into an artifact.
"""

from __future__ import annotations

import json
import os
from typing import Any

ENV_DEVICE = "REPDYN_DEVICE"
ENV_DATA_SOURCES = "REPDYN_DATA_SOURCES"
ENV_RUN_SOURCES = "REPDYN_RUN_SOURCES"


def export(
    device: str, data_sources: dict[str, dict[str, Any]], run_sources: dict[str, dict[str, Any]] | None = None
) -> None:
    """Set the environment that job commands read (called by the Snakefile); `run_sources` holds where an
    imported run's checkpoints and factory are (repdyn.imports.files.machine)."""
    os.environ[ENV_DEVICE] = device
    os.environ[ENV_DATA_SOURCES] = json.dumps(data_sources, sort_keys=True)
    os.environ[ENV_RUN_SOURCES] = json.dumps(run_sources or {}, sort_keys=True)
    for source in (run_sources or {}).values():  # every job that builds an imported network finds its factory
        if source.get("pythonpath"):
            _append_path(os.path.expanduser(source["pythonpath"]))


def _append_path(folder: str) -> None:
    """Add `folder` to the end of PYTHONPATH unless it is there already (repdyn's own src stays first)."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if folder not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([*parts, folder])


def export_source(src: str) -> None:
    """Put the package directory `src` first on the PYTHONPATH of every job command (called by the Snakefile),
    so that the jobs run the code next to the Snakefile even when another repdyn is installed."""
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)


def device() -> str:
    return os.environ.get(ENV_DEVICE, "auto")


def data_source(data_id: str) -> dict[str, Any]:
    """root/download for one data artifact; defaults when run outside the workflow."""
    sources = json.loads(os.environ.get(ENV_DATA_SOURCES, "{}") or "{}")
    return sources.get(data_id, {"root": None, "download": False, "path": None})


def run_source(run_id: str) -> dict[str, Any]:
    """checkpoints/pythonpath/cost of one imported run (KeyError outside a workflow that planned it)."""
    sources = json.loads(os.environ.get(ENV_RUN_SOURCES, "{}") or "{}")
    if run_id not in sources:
        raise KeyError(
            f"imported run {run_id}: where its checkpoints are is unknown here (run it through the "
            f"workflow, or set {ENV_RUN_SOURCES})"
        )
    return sources[run_id]


def set_threads(n: int) -> None:
    """torch intra-op threads of this job (the rule's `threads`)."""
    import torch

    torch.set_num_threads(n)
