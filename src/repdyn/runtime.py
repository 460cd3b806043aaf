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


def export(device: str, data_sources: dict[str, dict[str, Any]]) -> None:
    """Set the environment that job commands read (called by the Snakefile)."""
    os.environ[ENV_DEVICE] = device
    os.environ[ENV_DATA_SOURCES] = json.dumps(data_sources, sort_keys=True)


def export_source(src: str) -> None:
    """Put the package directory `src` first on the PYTHONPATH of every job command (called by the Snakefile),
    so that the jobs run the code next to the Snakefile even when another repdyn is installed."""
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)


def device() -> str:
    return os.environ.get(ENV_DEVICE, "auto")


def data_source(data_id: str) -> dict[str, Any]:
    """root/download for one data artifact; defaults when run outside the workflow."""
    sources = json.loads(os.environ.get(ENV_DATA_SOURCES, "{}") or "{}")
    return sources.get(data_id, {"root": None, "download": False})


def set_threads(n: int) -> None:
    """torch intra-op threads of this job (the rule's `threads`)."""
    import torch

    torch.set_num_threads(n)
