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


def _from_text(value, node: dict):
    """Read a number, boolean or null given as text (``--config`` passes text)."""
    if not isinstance(value, str):
        return value
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    try:
        if "integer" in kinds and value.lstrip("+-").isdigit():
            return int(value)
        if "number" in kinds:
            return float(value)
    except ValueError:
        pass
    if "boolean" in kinds and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if "null" in kinds and value.lower() in ("null", "none", "~"):
        return None
    return value


def fill_defaults(config: dict, node: dict, schema: dict) -> dict:
    """Return a copy of ``config`` with every missing key set to its default.

    Values given as text where the schema expects a number, a boolean or null
    are read as such, since Snakemake's ``--config`` passes nested values as
    text.
    """
    node = _resolve(node, schema)
    if not isinstance(config, dict) or node.get("type") != "object":
        return _from_text(config, node)
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
        if spec["format"] == "simulated":
            _check_simulation(name, spec["simulation"])
            continue
        if not spec.get("path") and not (spec.get("base_url") and spec.get("files")):
            raise ConfigError(
                f"config key 'data.{name}': give either 'path' (a local directory "
                "in the survey's layout) or 'base_url' and 'files' (to download)"
            )
        if spec["format"] == "table" and not (spec.get("path") and spec.get("bands")):
            raise ConfigError(
                f"config key 'data.{name}': a dataset of format 'table' needs 'path' "
                "(its directory of per-star files or its one long table) and "
                "'bands' (the bands to use, in order of wavelength)"
            )
        unknown = set(spec.get("optional_files", [])) - set(spec.get("files", {}))
        if unknown:
            raise ConfigError(
                f"config key 'data.{name}.optional_files': {sorted(unknown)} "
                f"are not listed under 'data.{name}.files'"
            )
        source = (spec.get("model_from") or {}).get("dataset")
        if source is not None and source not in config["data"]:
            raise ConfigError(
                f"config key 'data.{name}.model_from.dataset': {source!r} is not "
                f"defined under 'data' (defined: {', '.join(sorted(config['data']))})"
            )
        unknown = set(spec.get("variability_bands") or []) - set(spec.get("bands", []))
        if unknown:
            raise ConfigError(
                f"config key 'data.{name}.variability_bands': {sorted(unknown)} "
                f"are not in 'data.{name}.bands'"
            )
    for section in ("features.period", "multiband"):
        period = config
        for part in section.split("."):
            period = period[part]
        if period["min_days"] >= period["max_days"]:
            raise ConfigError(
                f"config key '{section}': min_days "
                f"({period['min_days']}) must be smaller than max_days "
                f"({period['max_days']})"
            )


def _check_simulation(name: str, simulation: dict) -> None:
    """A simulated dataset needs an ordered magnitude range and some class."""
    bright, faint = simulation["mag_range"]
    if bright >= faint:
        raise ConfigError(
            f"config key 'data.{name}.simulation.mag_range': the first value "
            f"({bright}) must be brighter, i.e. smaller, than the second ({faint})"
        )
    if not any(share > 0 for share in simulation["class_fractions"].values()):
        raise ConfigError(
            f"config key 'data.{name}.simulation.class_fractions': at least one "
            "class needs a share above zero"
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
    _check_mirror(filled)
    return filled


def _check_mirror(config: dict) -> None:
    """A ``download_mirror`` that is a local path must exist, if anything downloads."""
    from varsky.download import DownloadError, resolve_base

    mirror = config.get("download_mirror")
    names = set(config["datasets"])
    names |= {
        (config["data"][name].get("model_from") or {}).get("dataset")
        for name in config["datasets"]
    } - {None}
    downloads = any(
        not config["data"][name].get("path")
        and config["data"][name]["format"] != "simulated"
        for name in names
    )
    if not (mirror and downloads):
        return
    try:
        resolve_base("https://example.invalid/", mirror)
    except DownloadError as error:
        raise ConfigError(f"config key 'download_mirror': {error}") from None
