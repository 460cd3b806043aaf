"""The config's JSON schema (config/config.schema.yaml): its defaults filled into a config, and a config
checked against it with a one-line error that names the offending key path and what is allowed there."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from repdyn.config.integers import is_int


@functools.cache
def schema() -> dict[str, Any]:
    """The config JSON schema shipped with the package (config/config.schema.yaml)."""
    text = resources.files("repdyn").joinpath("config/config.schema.yaml").read_text()
    return yaml.safe_load(text)


_MISSING = object()


def fill_defaults(value: Any, sub: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """Fill schema `default:` values recursively and turn JSON-schema numbers into floats.

    Numbers become floats so that `lr: 1` and `lr: 1.0` hash to the same id.
    """
    root = root or schema()
    out = _fill(value, sub, root)
    return {} if out is _MISSING else out


def _deref(sub: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in sub:
        parts = sub["$ref"].lstrip("#/").split("/")
        target: Any = root
        for part in parts:
            target = target[part]
        sub = target
    return sub


def _fill(value: Any, sub: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    sub = _deref(sub, root)
    if value is _MISSING:
        if "default" not in sub:
            return _MISSING
        value = copy.deepcopy(sub["default"])
    for part in sub.get("allOf", []):
        value = _fill(value, part, root)
    if "oneOf" in sub:
        branch = _matching_branch(value, sub["oneOf"], root)
        if branch is not None:
            value = _fill(value, branch, root)
    if isinstance(value, dict) and "properties" in sub:
        value = dict(value)
        for key, prop in sub["properties"].items():
            filled = _fill(value.get(key, _MISSING), prop, root)
            if filled is not _MISSING:
                value[key] = filled
    if isinstance(value, list) and isinstance(sub.get("items"), Mapping):
        value = [_fill(v, sub["items"], root) for v in value]
    if sub.get("type") == "number" and is_int(value):
        value = float(value)
    return value


def _matching_branch(value: Any, branches: list, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for branch in branches:
        branch = _deref(branch, root)
        if isinstance(value, dict) and branch.get("type") == "object":
            if all(k in value for k in branch.get("required", [])) and (
                branch.get("additionalProperties", True) is not False or set(value) <= set(branch.get("properties", {}))
            ):
                return branch
        if isinstance(value, list) and branch.get("type") == "array":
            return branch
    return None


# --------------------------------------------------------------------------- validation


def violation(value: Any, sub: Mapping[str, Any], where: str, root: Mapping[str, Any] | None = None) -> str | None:
    """The first way `value` breaks the schema `sub` (`root` holds its $defs), as one line that starts with the
    key path (`where` prefixes it); None when `value` conforms."""
    import jsonschema

    root = root or sub
    resolver_schema = dict(sub)
    if root is not sub:
        resolver_schema = {**sub, "$defs": root["$defs"]}
    validator = jsonschema.Draft202012Validator(resolver_schema)
    errors = sorted(
        validator.iter_errors(value), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path)))
    )
    return _describe(_deepest(errors[0]), where, root) if errors else None


def _deepest(error):
    """For oneOf/anyOf failures, report the branch error that got furthest."""
    while error.context:
        # Prefer the branch of the right type (its error is about content, not type), then the deepest.
        error = max(error.context, key=lambda e: (not _wrong_kind(e), len(list(e.absolute_path))))
    return error


def _wrong_kind(error) -> bool:
    """The error says the value is of another kind than its branch wants (a mapping where a constant is)."""
    return error.validator == "type" or (
        error.validator in ("const", "enum") and isinstance(error.instance, (dict, list))
    )


def _describe(error, where: str, root: Mapping[str, Any]) -> str:
    path = _format_path(where, list(error.absolute_path))
    sub = _deref(error.schema, root) if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "additionalProperties":
        allowed = ", ".join(sorted(sub.get("properties", {})))
        extra = sorted(set(error.instance) - set(sub.get("properties", {})))
        keys = ", ".join(f"{path + '.' if path else ''}{k}" for k in extra)
        return f"unknown key {keys} (allowed here: {allowed})"
    if kind == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{path or 'config'}: required key{'s' * (len(missing) > 1)} missing: {', '.join(missing)}"
    if kind in ("enum", "const"):
        allowed = sub.get("enum", [sub.get("const")])
        return f"{path}: {_yaml_value(error.instance)} is not allowed (allowed: {', '.join(map(repr, allowed))})"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{path}: {_yaml_value(error.instance)} is out of range (allowed: {_range(sub)})"
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{path}: {_yaml_value(error.instance)} is not {' or '.join(TYPE_WORDS[t] for t in wanted)}"
    return f"{path or 'config'}: {error.message}"


# JSON-schema types as a YAML writer knows them.
TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "null": "null",
}


def _yaml_value(value: Any) -> str:
    """A value as the config file shows it: null for an empty key, true/false, quoted strings."""
    return "null (empty)" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)


def _range(sub: Mapping[str, Any]) -> str:
    lo = (
        f"{sub['minimum']} <= "
        if "minimum" in sub
        else f"{sub['exclusiveMinimum']} < "
        if "exclusiveMinimum" in sub
        else ""
    )
    hi = (
        f" <= {sub['maximum']}"
        if "maximum" in sub
        else f" < {sub['exclusiveMaximum']}"
        if "exclusiveMaximum" in sub
        else ""
    )
    return f"{lo}value{hi}"


def _format_path(where: str, parts: list) -> str:
    text = where
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
