"""The per-stage conda environments pin what pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# conda-forge names of packages whose PyPI name differs.
CONDA_TO_PYPI = {"py-xgboost": "xgboost", "pytorch": "torch"}
# Programs, not Python packages: pyproject.toml cannot pin them.
PROGRAMS = {"python", "pip", "git"}


def split_requirement(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(.*)", text)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return dict(split_requirement(r) for r in project["dependencies"])


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def test_every_stage_has_an_environment():
    used = set()
    for rules in (REPO / "rules").glob("*.smk"):
        used |= set(re.findall(r'"\.\./envs/([\w-]+\.yaml)"', rules.read_text()))
    assert used, "no rule names a conda environment"
    assert used <= {p.name for p in ENV_FILES}


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.stem)
def test_environment_agrees_with_pyproject(env_file):
    pins = pyproject_pins()
    env = yaml.safe_load(env_file.read_text())
    for entry in env["dependencies"]:
        if not isinstance(entry, str):
            continue
        name, spec = split_requirement(entry)
        if name in PROGRAMS:
            continue
        name = CONDA_TO_PYPI.get(name, name)
        assert name in pins, f"{env_file.name}: {name} is not a varsky dependency"
        assert spec == pins[name], (
            f"{env_file.name}: {name} {spec!r} differs from pyproject.toml's "
            f"{pins[name]!r}"
        )
