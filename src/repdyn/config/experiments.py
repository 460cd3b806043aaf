"""Load, validate and resolve config.yaml into fully specified experiments.

Why here and not only in Snakemake's validate(): the package must work without
Snakemake (CLI, Python API, tests), errors must be one line that names the key
path and the allowed values, and defaults must be filled identically everywhere
so that ids do not depend on whether a value was written out or defaulted.
The schema's defaults and its error wording live in repdyn.config.schema_validation;
this module adds the checks the schema cannot express and expands sweeps.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repdyn.config import grids
from repdyn.config.dataset_facts import facts_of
from repdyn.config.schema_validation import fill_defaults, schema, violation
from repdyn.imports import settings as imported
from repdyn.models.architectures import ARCHITECTURES

SECTIONS = ("data", "model", "train", "grids", "cka", "probe", "drs", "twopoint")
# Sections every experiment must have (from defaults or its own entry); `{}` takes every default.
REQUIRED_SECTIONS = ("data", "model", "train")

# Model settings each architecture uses; others are dropped after checking that none
# was set explicitly, so that e.g. a ResNet-50 run id never depends on a default `width`.
MODEL_KEYS = {name: ("arch", *arch.settings) for name, arch in ARCHITECTURES.items()}
MODEL_KEYS["external"] = ("arch", *imported.EXTERNAL_MODEL_KEYS)


class ConfigError(ValueError):
    """A config value is invalid; the message is one line naming the key path."""


@dataclass(frozen=True)
class Experiment:
    """One fully resolved experiment: every setting explicit, defaults filled."""

    name: str
    settings: dict[str, Any]  # sections data, model, train, grids
    index: int  # position in the config's experiment list (for error messages)

    def section(self, name: str) -> dict[str, Any]:
        return self.settings[name]


@dataclass(frozen=True)
class Config:
    """The whole resolved config: machine settings plus the experiments."""

    device: str
    threads: int
    experiments: tuple[Experiment, ...]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)  # report settings (never in an id)
    storage: dict[str, Any] = field(default_factory=lambda: {"grams": "keep"})  # deletion policy (never in an id)

    def experiment(self, name: str) -> Experiment:
        for exp in self.experiments:
            if exp.name == name:
                return exp
        raise KeyError(f"no experiment named {name!r}; known: {', '.join(e.name for e in self.experiments)}")


def load(paths: str | Path | Iterable[str | Path], overrides: Mapping[str, Any] | None = None) -> Config:
    """Read one or more YAML files (later ones merged on top) and resolve them."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    merged: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
        merged = deep_merge(merged, data)
    if overrides:
        merged = deep_merge(merged, dict(overrides))
    with naming_sources(paths, bool(overrides)):
        return resolve(merged)


@contextlib.contextmanager
def naming_sources(paths: Iterable[str | Path], overridden: bool = False) -> Iterator[None]:
    """A ConfigError raised inside starts with the config files it concerns (`a.yaml, b.yaml with overrides: ...`)."""
    try:
        yield
    except ConfigError as exc:
        label = ", ".join(map(str, paths)) + (" with overrides" if overridden else "")
        raise ConfigError(f"{label}: {exc}") from None


def resolve(raw: Mapping[str, Any]) -> Config:
    """Validate a config mapping and expand it into resolved experiments."""
    raw = copy.deepcopy(dict(raw))
    _validate(raw, schema(), where="")
    defaults = raw.get("defaults", {}) or {}
    _check_defaults(defaults)
    experiments: list[Experiment] = []
    for index, entry in enumerate(raw["experiments"]):
        base = deep_merge(defaults, {k: v for k, v in entry.items() if k in SECTIONS})
        for name, settings in _expand_sweep(entry["name"], base, entry.get("sweep"), index):
            where = f"experiments[{index}] ({name})"
            _check_required_sections(settings, where)
            explicit = {section: set(settings.get(section, {}) or {}) for section in ("data", "model", "train")}
            settings = fill_defaults(settings, schema()["$defs"]["experiment_settings"])
            _validate(settings, schema()["$defs"]["experiment_settings"], where=where, root=schema())
            settings["model"] = _model_settings(settings["model"], explicit["model"], where)
            settings["train"] = imported.check_train(settings, explicit["train"], where, ConfigError)
            settings["data"] = imported.resolve_npz(settings["data"], explicit["data"], where, ConfigError)
            _check_semantics(settings, where)
            experiments.append(Experiment(name=name, settings=settings, index=index))
    names = [e.name for e in experiments]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"experiments: duplicate experiment name(s) {', '.join(dupes)}")
    top = fill_defaults({k: v for k, v in raw.items() if k in ("device", "threads", "report", "storage")}, schema())
    return Config(
        device=top["device"],
        threads=top["threads"],
        experiments=tuple(experiments),
        raw=raw,
        report=top["report"],
        storage=top["storage"],
    )


def _validate(value: Any, sub: Mapping[str, Any], where: str, root: Mapping[str, Any] | None = None) -> None:
    message = violation(value, sub, where, root)
    if message:
        raise ConfigError(message)


def _check_defaults(defaults: Mapping[str, Any]) -> None:
    """`name` and `sweep` belong to one experiment: the schema shares the settings' keys with `defaults`,
    where these two would be silently ignored."""
    if "name" in defaults:
        raise ConfigError(
            f"defaults.name: {defaults['name']!r} is not allowed in defaults (each entry of "
            "experiments has its own name)"
        )
    if "sweep" in defaults:
        raise ConfigError("defaults.sweep: not allowed in defaults (give sweep: to an entry of experiments)")


def _check_required_sections(settings: Mapping[str, Any], where: str) -> None:
    """data, model and train must come from defaults or the experiment's entry (an empty one takes the defaults)."""
    missing = [name for name in REQUIRED_SECTIONS if name not in settings]
    if missing:
        raise ConfigError(
            f"{where}: required section{'s' * (len(missing) > 1)} missing: {', '.join(missing)} (give "
            f"it under defaults: or in this experiment; {missing[0]}: {{}} takes the defaults)"
        )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts merge key by key; any other value (lists included) replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _expand_sweep(name: str, base: dict, sweep: Mapping[str, list] | None, index: int):
    if not sweep:
        yield name, base
        return
    keys = list(sweep)
    for values in itertools.product(*(sweep[k] for k in keys)):
        settings = copy.deepcopy(base)
        suffix = []
        for key, value in zip(keys, values):
            _set_path(settings, key.split("."), value, f"experiments[{index}].sweep")
            suffix.append(f"{key.split('.')[-1]}{_short(value)}")
        yield f"{name}-{'-'.join(suffix)}", settings


def _short(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "x"  # structured values: the position keeps names unique enough; ids are what matter
    return str(value)


def _set_path(obj: dict, path: list[str], value: Any, where: str) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: {'.'.join(path)} does not name a setting inside a mapping")
    obj[path[-1]] = value


def _model_settings(model: dict[str, Any], explicit: set[str], where: str) -> dict[str, Any]:
    used = MODEL_KEYS[model["arch"]]
    unused = sorted(explicit - set(used))
    if unused:
        raise ConfigError(
            f"{where}.model.{unused[0]}: not used by arch {model['arch']!r} (its settings: {', '.join(used)})"
        )
    if model["arch"] == "external":
        imported.check_model(model, where, ConfigError)
    return {k: model[k] for k in used if k in model}


def _check_semantics(settings: dict[str, Any], where: str) -> None:
    data = settings["data"]
    facts = facts_of(data)
    if data["dataset"] in ("cifar10", "svhn") and data["image_size"] != 32:
        raise ConfigError(
            f"{where}.data.image_size: {data['image_size']} is not allowed for {data['dataset']} (allowed: 32)"
        )
    if data["dataset"] == "fashion_mnist" and data["image_size"] not in (28, 32):
        raise ConfigError(
            f"{where}.data.image_size: {data['image_size']} is not allowed for fashion_mnist (allowed: 28, 32)"
        )
    _check_subset(data, "train_subset", "training", facts["train_size"], facts["classes"], where)
    _check_subset(data, "test_subset", "test", facts["test_size"], facts["classes"], where)
    probe = data["probe"]
    if probe["batches"] * probe["batch_size"] > facts["test_size"]:
        raise ConfigError(
            f"{where}.data.probe: {probe['batches']} x {probe['batch_size']} examples exceed the "
            f"{facts['test_size']} test examples of {data['dataset']}"
        )
    norm = data["normalization"]
    if isinstance(norm, dict):
        for key in ("mean", "std"):
            if len(norm[key]) != facts["channels"]:
                raise ConfigError(
                    f"{where}.data.normalization.{key}: {len(norm[key])} values given, "
                    f"{data['dataset']} has {facts['channels']} channel(s)"
                )
    opt = settings["train"].get("optimizer")  # an imported run has none
    if opt and opt["name"] != "sgd" and (opt["momentum"] or opt["nesterov"]):
        raise ConfigError(f"{where}.train.optimizer.momentum: only used by sgd, but optimizer.name is {opt['name']!r}")
    if opt and opt["nesterov"] and not opt["momentum"]:
        raise ConfigError(f"{where}.train.optimizer.nesterov: needs momentum > 0")
    for grid_name, spec in settings["grids"].items():
        try:
            grids.check(spec, settings["train"]["epochs"])
        except ValueError as exc:
            raise ConfigError(f"{where}.grids.{grid_name}: {exc}") from None


def _check_subset(data: dict[str, Any], key: str, split: str, size: int, classes: int, where: str) -> None:
    """A class-balanced subset of a split: a multiple of the class count, and no larger than the split."""
    subset, dataset = data[key], data["dataset"]
    if subset is not None and subset % classes:
        raise ConfigError(f"{where}.data.{key}: {subset} is not a multiple of the {classes} classes of {dataset}")
    if subset is not None and subset > size:
        raise ConfigError(f"{where}.data.{key}: {subset} is more than the {size} {split} examples of {dataset}")
