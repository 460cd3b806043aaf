"""Config rules of imported runs (`dataset: npz`, `arch: external`, `train.checkpoints`), torch-free.

Called by repdyn.config while resolving an experiment; every error is one line naming the key.
"""

from __future__ import annotations

from typing import Any

from repdyn.imports import npz

# Train settings an imported run uses: seed derives the probes' seeds; the others say which files to read.
IMPORTED_TRAIN_KEYS = ("seed", "epochs", "segment_epochs", "checkpoints", "state_dict_key")
# Train settings only an imported run has (dropped from a native run's settings, so they leave its id alone).
IMPORT_ONLY_TRAIN_KEYS = ("checkpoints", "state_dict_key")
EXTERNAL_MODEL_KEYS = ("factory", "pythonpath", "kwargs", "layers", "cost")


def resolve_npz(data: dict[str, Any], explicit: set[str], where: str, error: type[Exception]) -> dict[str, Any]:
    """The data section of an npz dataset with its facts filled in and image_size set to the native side."""
    if data["dataset"] != "npz":
        if data["path"] is not None:
            raise error(f"{where}.data.path: only used by dataset 'npz', but data.dataset is {data['dataset']!r}")
        return data
    if data["path"] is None:
        raise error(f"{where}.data.path: dataset 'npz' needs the .npz file")
    try:
        facts = npz.facts(data["path"])
    except npz.NpzError as exc:
        raise error(f"{where}.data: {exc}") from None
    if "image_size" in explicit and data["image_size"] != facts["native_size"]:
        raise error(
            f"{where}.data.image_size: {data['image_size']} is not allowed for npz "
            f"(images keep their native size {facts['native_size']})"
        )
    return {**data, "image_size": facts["native_size"], "facts": facts}


def check_train(settings: dict[str, Any], explicit: set[str], where: str, error: type[Exception]) -> dict[str, Any]:
    """The train section: an imported run keeps IMPORTED_TRAIN_KEYS (and needs checkpoints), a native run drops
    IMPORT_ONLY_TRAIN_KEYS (and must not set them)."""
    train = settings["train"]
    if settings["model"]["arch"] == "external":
        unused = sorted(explicit - set(IMPORTED_TRAIN_KEYS))
        if unused:
            raise error(
                f"{where}.train.{unused[0]}: not used by an imported run (arch external; its settings: "
                f"{', '.join(IMPORTED_TRAIN_KEYS)})"
            )
        if train["checkpoints"] is None:
            raise error(
                f"{where}.train.checkpoints: arch external needs the checkpoint files' format, e.g. "
                "/runs/x/epoch_{epoch}.pt"
            )
        return {k: train[k] for k in IMPORTED_TRAIN_KEYS}
    used = sorted(explicit & set(IMPORT_ONLY_TRAIN_KEYS))
    if used:
        raise error(
            f"{where}.train.{used[0]}: only used by arch 'external', but model.arch is {settings['model']['arch']!r}"
        )
    return {k: v for k, v in train.items() if k not in IMPORT_ONLY_TRAIN_KEYS}


def check_model(model: dict[str, Any], where: str, error: type[Exception]) -> None:
    """factory and layers are required for arch external; the layers' names are checked in each job."""
    for key in ("factory", "layers"):
        if key not in model:
            raise error(
                f"{where}.model.{key}: arch external needs it (factory: 'module:callable', layers: [module names])"
            )
    duplicates = sorted({n for n in model["layers"] if model["layers"].count(n) > 1})
    if duplicates:
        raise error(f"{where}.model.layers: {duplicates[0]!r} is listed twice")
    if "cost" in model and set(model["cost"]["features"]) != set(model["layers"]):
        raise error(
            f"{where}.model.cost.features: must give one number per analysed layer ({', '.join(model['layers'])})"
        )
