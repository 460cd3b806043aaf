"""Configuration: loading and resolving config.yaml into experiments, and the facts it is checked against.

`load` and `resolve` (defined in `experiments`) are the entry points, reachable as `repdyn.config.load`. The
other modules hold one concern each: schema_validation (the schema's defaults and one-line errors), grids
(which epochs an analysis looks at), overrides (typed command-line settings), integers (the one integer
check), dataset_facts and probe_schedule (facts derived without loading data). The entry points are looked
up on first use, so that a module below (e.g. `repdyn.config.integers`, which the torch-free model registry
needs) imports without the whole resolver.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Config", "ConfigError", "Experiment", "deep_merge", "load", "naming_sources", "resolve", "schema"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from repdyn.config import experiments

        return getattr(experiments, name)
    raise AttributeError(f"module 'repdyn.config' has no attribute {name!r}")
