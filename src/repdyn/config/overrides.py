"""Settings given on the command line, typed: Snakemake's `--config` and repdyn's `--set KEY.PATH=VALUE`.

Why: Snakemake parses a `--config` value such as `defaults={train: {epochs: 60}}` with YAML's base loader,
which keeps every scalar a string ('60'), and its key check refuses dotted keys. Here every string leaf of
an override is read as a YAML scalar (`60` -> 60, `1e-3` -> 0.001, `true` -> True, anything else stays
text), and dotted assignments become nested mappings, so an override merges into the config with the types
the config file would have given.

Two spellings reach the workflow:
    snakemake --config 'defaults={train: {epochs: 60}}'                  (Snakemake's own form)
    snakemake --config set='defaults.cka.estimator=minibatch_biased; defaults.train.epochs=60'
and `repdyn validate|plan --set defaults.train.epochs=60` takes the dotted form directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from repdyn.config import ConfigError, deep_merge

SET_KEY = "set"  # the --config key whose value holds dotted assignments separated by ';'


def scalar(text: str) -> Any:
    """A command-line string as the YAML scalar it spells; numbers in exponent form ('1e-3') included."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def typed(value: Any) -> Any:
    """`value` with every string leaf read as a YAML scalar (mappings and lists walked)."""
    if isinstance(value, Mapping):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return scalar(value) if isinstance(value, str) else value


def dotted(assignment: str) -> dict[str, Any]:
    """'defaults.train.epochs=60' -> {'defaults': {'train': {'epochs': 60}}}; a one-line error otherwise."""
    path, sep, text = assignment.strip().partition("=")
    keys = path.strip().split(".")
    if not sep or not all(k.strip() for k in keys):
        raise ConfigError(f"override {assignment.strip()!r}: expected KEY.PATH=VALUE, e.g. defaults.train.epochs=60")
    value: Any = scalar(text.strip())
    for key in reversed(keys):
        value = {key.strip(): value}
    return value


def from_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """Dotted assignments merged in order (a later one wins)."""
    out: dict[str, Any] = {}
    for a in assignments:
        if a.strip():
            out = deep_merge(out, dotted(a))
    return out


def from_snakemake(given: Mapping[str, Any]) -> dict[str, Any]:
    """Snakemake's `--config` mapping as typed overrides: `set=` split into dotted assignments, the rest typed."""
    given = dict(given)
    assignments = given.pop(SET_KEY, None)
    if assignments is not None and not isinstance(assignments, str):
        raise ConfigError(
            f"--config {SET_KEY}=...: expected 'KEY.PATH=VALUE; ...' (quote the whole value; "
            "a structured value needs the form --config 'defaults={...}')"
        )
    out = typed(given)
    if assignments:
        out = deep_merge(out, from_assignments(assignments.split(";")))
    return out


def apply(raw: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` (a config as read from its file) with Snakemake's `--config` overrides merged on top, typed."""
    return deep_merge(raw, from_snakemake(given)) if given else dict(raw)
