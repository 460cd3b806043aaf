"""The settings that tell experiments apart, as the report pages compare them: report.json's data and
training settings flattened to '<stage>.<section>.<key>' keys, with the length (train.epochs). Seed replicates,
noise contrasts and the width study group experiments by these keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def flat_settings(report: Mapping[str, Any]) -> dict[str, Any]:
    """'<stage>.<section>.<key>' -> value for the data and training settings and the length (what tells
    experiments apart)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = json.dumps(value, sort_keys=True) if isinstance(value, list) else value

    for stage in ("data", "train"):
        walk(stage, report["settings"].get(stage, {}))
    out["train.epochs"] = report["epochs"]  # not in the run's settings: experiments may share a run at two lengths
    return out
