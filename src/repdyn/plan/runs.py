"""Plan of the data and training stages: one data artifact per distinct data setting and one training run
per distinct recipe, each shared by every experiment that asks for it (see repdyn.plan for the whole picture).

Torch-free and file-system-free on purpose, like the whole plan: only an imported dataset or run reads its
files, to hash their content.
"""

from __future__ import annotations

import os
from typing import Any

from repdyn.config import Config, ConfigError, Experiment, grids
from repdyn.imports import files as imported_files
from repdyn.imports.content import file_digests
from repdyn.plan.core import DataArtifact, ExperimentPlan, Plan, RunArtifact
from repdyn.storage import ids

# Data settings that say where the files are on this machine, not what the data is.
DATA_MACHINE_KEYS = ("root", "download", "path")
# Train settings that do not change what epoch e's weights are.
TRAIN_LENGTH_KEYS = ("epochs", "segment_epochs")


def data_artifact(exp: Experiment) -> DataArtifact:
    data = exp.section("data")
    settings = {k: v for k, v in data.items() if k not in DATA_MACHINE_KEYS}
    if data["dataset"] == "npz":  # the id covers the arrays' content, not the file's path
        settings["content"] = file_digests([os.path.expanduser(data["path"])])[0]
    spec = ids.artifact_spec("data", settings)
    return DataArtifact(id=ids.spec_id(spec), spec=spec, machine={k: data[k] for k in DATA_MACHINE_KEYS})


def run_spec(exp: Experiment, data_id: str) -> dict[str, Any]:
    if exp.section("model")["arch"] == "external":
        return ids.artifact_spec("train", _imported_settings(exp), {"data": data_id})
    train = {k: v for k, v in exp.section("train").items() if k not in TRAIN_LENGTH_KEYS}
    return ids.artifact_spec("train", {"model": exp.section("model"), "train": train}, {"data": data_id})


def required_epochs(exp: Experiment) -> set[int]:
    """Epochs whose checkpoints an experiment needs: 0, its last, and every grid epoch."""
    out = {0, exp.section("train")["epochs"]}
    for epochs in experiment_grids(exp).values():
        out.update(epochs)
    return out


def _imported_settings(exp: Experiment) -> dict[str, Any]:
    try:
        return imported_files.run_settings(exp.section("model"), exp.section("train"), required_epochs(exp))
    except imported_files.ImportedFilesError as exc:
        raise ConfigError(f"experiments[{exp.index}] ({exp.name}).{exc}") from None


def experiment_grids(exp: Experiment) -> dict[str, tuple[int, ...]]:
    length = exp.section("train")["epochs"]
    return {name: tuple(grids.epochs(spec, length)) for name, spec in sorted(exp.section("grids").items())}


def build(config: Config) -> Plan:
    """Data and training artifacts of every experiment; experiments sharing a run share its artifacts."""
    data: dict[str, DataArtifact] = {}
    run_members: dict[str, list[Experiment]] = {}
    run_specs: dict[str, tuple[dict, str]] = {}
    exp_parts = []
    for exp in config.experiments:
        d = data_artifact(exp)
        if d.id in data and data[d.id].machine != d.machine:
            raise ConfigError(
                f"experiments {exp.name!r} and another use the same data ({d.id}) with different data.root/download"
            )
        data[d.id] = d
        spec = run_spec(exp, d.id)
        run_id = ids.spec_id(spec)
        run_members.setdefault(run_id, []).append(exp)
        run_specs[run_id] = (spec, d.id)
        exp_parts.append((exp, d, run_id))

    runs: dict[str, RunArtifact] = {}
    for run_id, members in run_members.items():
        seg = {m.section("train")["segment_epochs"] for m in members}
        if len(seg) > 1:
            names = ", ".join(m.name for m in members)
            raise ConfigError(
                f"experiments {names} share training run {run_id} but set different train.segment_epochs {sorted(seg)}"
            )
        checkpoints = set().union(*(required_epochs(m) for m in members))
        spec, data_id = run_specs[run_id]
        first = members[0]
        runs[run_id] = RunArtifact(
            id=run_id,
            spec=spec,
            data_id=data_id,
            epochs=max(m.section("train")["epochs"] for m in members),
            segment_epochs=seg.pop(),
            checkpoint_epochs=tuple(sorted(checkpoints)),
            machine=(
                imported_files.machine(first.section("model"), first.section("train"))
                if spec["settings"]["model"]["arch"] == "external"
                else {}
            ),
        )

    experiments = tuple(
        ExperimentPlan(
            name=exp.name,
            experiment=exp,
            data=d,
            run=runs[run_id],
            epochs=exp.section("train")["epochs"],
            grids=experiment_grids(exp),
        )
        for exp, d, run_id in exp_parts
    )
    return Plan(config=config, experiments=experiments, data=data, runs=runs)
