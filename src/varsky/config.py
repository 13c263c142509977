"""Validate the workflow configuration against its JSON schema.

The schema (``config/config.schema.yaml``) is the one place where every key is
described with its default and its allowed values. :func:`validate_config`
fills in the defaults and stops at the first problem with a message that names
the key and what it may be.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """A configuration value that the schema does not allow."""


def load_schema(path: str | Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def _resolve(node: dict, schema: dict) -> dict:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if ref and ref.startswith("#/"):
        target = schema
        for part in ref[2:].split("/"):
            target = target[part]
        return target
    return node


def fill_defaults(config: dict, node: dict, schema: dict) -> dict:
    """Return a copy of ``config`` with every missing key set to its default."""
    node = _resolve(node, schema)
    if not isinstance(config, dict) or node.get("type") != "object":
        return config
    filled = copy.deepcopy(config)
    for key, child in node.get("properties", {}).items():
        child = _resolve(child, schema)
        if key not in filled and "default" in child:
            filled[key] = copy.deepcopy(child["default"])
        if key in filled:
            filled[key] = fill_defaults(filled[key], child, schema)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(filled) - set(node.get("properties", {})):
            filled[key] = fill_defaults(filled[key], extra, schema)
    return filled


def _key_name(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    """One sentence naming the key, the bad value and what is allowed."""
    key = _key_name(error)
    rule, allowed = error.validator, error.validator_value
    if rule == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        where = f"under '{key}'" if error.absolute_path else "at the top level"
        return (
            f"unknown config key {', '.join(repr(e) for e in extra)} {where}; "
            f"allowed keys: {', '.join(known)}"
        )
    if rule == "enum":
        return f"config key '{key}': {error.instance!r} is not one of {allowed}"
    bounds = {
        "minimum": ">=",
        "maximum": "<=",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
    }
    if rule in bounds:
        return (
            f"config key '{key}': {error.instance!r} is out of range, "
            f"it must be {bounds[rule]} {allowed}"
        )
    if rule == "type":
        return (
            f"config key '{key}': {error.instance!r} is not of type "
            f"{allowed if isinstance(allowed, str) else ' or '.join(allowed)}"
        )
    return f"config key '{key}': {error.message}"


def _check_consistency(config: dict) -> None:
    """Rules that a JSON schema cannot express."""
    for name in config["datasets"]:
        if name not in config["data"]:
            raise ConfigError(
                f"config key 'datasets': {name!r} is not defined under 'data' "
                f"(defined: {', '.join(sorted(config['data']))})"
            )
    for name, spec in config["data"].items():
        if not spec.get("path") and not (spec.get("base_url") and spec.get("files")):
            raise ConfigError(
                f"config key 'data.{name}': give either 'path' (a local directory "
                "in the survey's layout) or 'base_url' and 'files' (to download)"
            )
        unknown = set(spec.get("optional_files", [])) - set(spec.get("files", {}))
        if unknown:
            raise ConfigError(
                f"config key 'data.{name}.optional_files': {sorted(unknown)} "
                f"are not listed under 'data.{name}.files'"
            )
    period = config["features"]["period"]
    if period["min_days"] >= period["max_days"]:
        raise ConfigError(
            "config key 'features.period': min_days "
            f"({period['min_days']}) must be smaller than max_days "
            f"({period['max_days']})"
        )


def _check_diffusion(config: dict) -> None:
    diffusion = config.get("diffusion")
    if diffusion and diffusion["beta_start"] >= diffusion["beta_end"]:
        raise ConfigError(
            "config key 'diffusion': beta_start "
            f"({diffusion['beta_start']}) must be smaller than beta_end "
            f"({diffusion['beta_end']})"
        )


def validate_config(config: dict, schema: dict) -> dict:
    """Fill defaults, then validate; return the completed configuration.

    Raises
    ------
    ConfigError
        Naming the first offending key, its value and the allowed values.
    """
    filled = fill_defaults(config, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(_explain(errors[0]))
    _check_consistency(filled)
    _check_diffusion(filled)
    return filled
