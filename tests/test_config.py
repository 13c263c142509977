import copy
from pathlib import Path

import pytest
import yaml

from varsky.config import ConfigError, load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def schema():
    return load_schema(REPO / "config" / "config.schema.yaml")


@pytest.fixture
def config():
    with open(REPO / "config" / "config.yaml") as handle:
        return yaml.safe_load(handle)


def test_shipped_config_is_valid(config, schema):
    validated = validate_config(config, schema)
    assert validated["data"]["eros1"]["format"] == "ramp"


def test_defaults_are_filled(schema):
    minimal = {"datasets": ["d"], "data": {"d": {"format": "ramp", "path": "x"}}}
    validated = validate_config(minimal, schema)
    assert validated["seed"] == 42
    assert validated["clean"]["min_points"] == 20
    assert validated["features"]["period"]["oversampling"] == 5
    assert validated["data"]["d"]["max_stars"] is None
    assert minimal == {
        "datasets": ["d"],
        "data": {"d": {"format": "ramp", "path": "x"}},
    }


def test_unknown_key_is_named_with_the_allowed_ones(config, schema):
    config["clean"]["sigma_clp"] = 4
    with pytest.raises(ConfigError) as error:
        validate_config(config, schema)
    message = str(error.value)
    assert "'sigma_clp'" in message
    assert "under 'clean'" in message
    assert "sigma_clip" in message


def test_out_of_range_value_names_key_and_bound(config, schema):
    config["ingest"]["holdout_fraction"] = 1.5
    with pytest.raises(ConfigError, match=r"'ingest.holdout_fraction': 1.5 .* < 1"):
        validate_config(config, schema)


def test_enum_lists_allowed_values(config, schema):
    config["data"]["eros1"]["format"] = "csv-ish"
    with pytest.raises(ConfigError, match=r"'data.eros1.format': 'csv-ish' is not one"):
        validate_config(config, schema)


def test_text_from_the_command_line_is_read_as_numbers(config, schema):
    config["classify"]["xgboost"]["max_depth"] = "4"
    config["clean"]["sigma_clip"] = "null"
    config["download"]["timeout_s"] = "2.5"
    validated = validate_config(config, schema)
    assert validated["classify"]["xgboost"]["max_depth"] == 4
    assert validated["clean"]["sigma_clip"] is None
    assert validated["download"]["timeout_s"] == 2.5


def test_text_that_is_no_number_is_refused(config, schema):
    config["classify"]["xgboost"]["max_depth"] = "deep"
    with pytest.raises(ConfigError, match=r"'classify\.xgboost\.max_depth'"):
        validate_config(config, schema)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(datasets=["nosuch"]), "'nosuch' is not defined"),
        (
            lambda c: c["features"]["period"].update(min_days=5.0, max_days=1.0),
            "min_days",
        ),
        (
            lambda c: c["data"]["eros1"].update(optional_files=["other.csv"]),
            "other.csv",
        ),
        (lambda c: c["data"]["eros1"].pop("base_url"), "either 'path'"),
    ],
)
def test_cross_key_rules(config, schema, change, message):
    broken = copy.deepcopy(config)
    change(broken)
    with pytest.raises(ConfigError, match=message):
        validate_config(broken, schema)


def test_missing_mirror_directory_stops_before_any_job(config, schema, tmp_path):
    config["download_mirror"] = str(tmp_path / "no-such-mirror")
    with pytest.raises(ConfigError, match=r"download_mirror.*no-such-mirror"):
        validate_config(config, schema)
    config["download_mirror"] = str(tmp_path)
    assert validate_config(config, schema)["download_mirror"] == str(tmp_path)


def test_missing_mirror_is_ignored_when_nothing_downloads(config, schema, tmp_path):
    config["datasets"] = ["simulated"]
    config["download_mirror"] = str(tmp_path / "no-such-mirror")
    assert validate_config(config, schema)["datasets"] == ["simulated"]
    config["datasets"] = ["virac2"]  # classified by a model trained on EROS-1
    with pytest.raises(ConfigError, match="download_mirror"):
        validate_config(config, schema)
