"""Reading and writing the spec.json that sits in every artifact directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from repdyn.plan.core import RESULTS
from repdyn.storage import atomic, ids, integrity

SPEC_NAME = "spec.json"


def write_spec(artifact_dir: str | Path, spec: dict[str, Any], log: str | Path | None = None) -> None:
    """Write spec.json, refusing to overwrite a different spec under the same id (and note it in `log`)."""
    path = Path(artifact_dir) / SPEC_NAME
    expected_id = Path(artifact_dir).name
    if ids.spec_id(spec) != expected_id:
        raise ValueError(f"{path}: spec hashes to {ids.spec_id(spec)}, not to the directory's id {expected_id}")
    if path.exists() and {k: v for k, v in json.loads(path.read_text()).items() if k != "id"} != json.loads(
        json.dumps(spec)
    ):
        raise ValueError(f"{path}: exists with different content (hash collision or a hand-edited spec)")
    atomic.write_json(path, {**spec, "id": expected_id})
    if log is not None:
        atomic.write_text(log, f"{path}: {ids.canonical_json(spec)}\n", record=False)  # a log, not an artifact


def write_index(path: str | Path, index: dict[str, Any], log: str | Path | None = None) -> None:
    """Write results/index.json (experiment -> artifact ids and paths), and note it in `log`."""
    atomic.write_json(path, index)
    if log is not None:
        atomic.write_text(log, f"{path}: {len(index.get('experiments', {}))} experiment(s)\n", record=False)


def read_spec(artifact_dir: str | Path, stage: str | None = None) -> dict[str, Any]:
    """Load and check spec.json: its content must hash to the directory's id."""
    path = Path(artifact_dir) / SPEC_NAME
    integrity.require(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no spec.json (is {artifact_dir} an artifact directory?)")
    doc = json.loads(path.read_text())
    doc.pop("id", None)
    if stage is not None and doc.get("stage") != stage:
        raise ValueError(f"{path}: is a {doc.get('stage')!r} artifact, expected {stage!r}")
    if ids.spec_id(doc) != Path(artifact_dir).name:
        raise ValueError(f"{path}: content hashes to {ids.spec_id(doc)}, not to the directory name (edited by hand?)")
    return doc


def run_and_dataset(run_id: str) -> tuple[dict[str, Any], Path]:
    """A training run's spec and the path of the dataset artifact it was trained on."""
    spec = read_spec(RESULTS / "train" / run_id, "train")
    return spec, Path(RESULTS / "data" / spec["inputs"]["data"] / "dataset.h5")
