"""Content addressing: an artifact's id is the hash of what determines its content.

id = first 12 hex digits of SHA-256 over canonical JSON of
{stage, format version, settings (defaults filled), input ids}. The format
version is a per-stage constant bumped when a stage's output semantics change;
the git hash is deliberately not part of it (every commit would invalidate
every result).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

ID_LENGTH = 12

# Bump a stage's number when the meaning of its output changes.
FORMAT_VERSIONS: dict[str, int] = {
    "data": 1,
    "train": 1,
    "extract": 1,
    "cka": 1,
    "cka_cross": 1,
    "planes": 1,
    "probe": 1,
    "preds": 1,
    "drs": 1,
    "pairs": 1,
    "twopoint": 2,
}


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no whitespace and only finite numbers: one text per value."""
    _reject_non_finite(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _reject_non_finite(obj: Any) -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"cannot hash a non-finite number ({obj})")
    if isinstance(obj, Mapping):
        for value in obj.values():
            _reject_non_finite(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _reject_non_finite(value)


def artifact_spec(stage: str, settings: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The document whose hash is the id; stored as spec.json next to the artifact."""
    if stage not in FORMAT_VERSIONS:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(sorted(FORMAT_VERSIONS))}")
    return {
        "stage": stage,
        "format_version": FORMAT_VERSIONS[stage],
        "settings": dict(settings),
        "inputs": dict(inputs or {}),
    }


def spec_id(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:ID_LENGTH]


def artifact_id(stage: str, settings: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> str:
    """The 12-hex id of an artifact of `stage` made from `settings` and the artifacts `inputs`."""
    return spec_id(artifact_spec(stage, settings, inputs))
