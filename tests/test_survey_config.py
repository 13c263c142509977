"""The survey entries of the configuration and their checks."""

import copy
from pathlib import Path

import pytest
import yaml

from varsky.clean import merged_params
from varsky.config import ConfigError, load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(REPO / "config" / "config.schema.yaml")
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_virac2_cuts_are_the_literature_values():
    config = validate_config(copy.deepcopy(CONFIG), SCHEMA)
    virac2 = config["data"]["virac2"]
    clean = merged_params(config["clean"], virac2["clean"])

    assert virac2["quality"] == {"max_chi": 10.0, "max_ast_res_chisq": 20.0}
    assert clean["max_mag_err"] == 0.2
    assert clean["error_clip"] == 4.0
    assert clean["band_min_points"] == {"Ks": 40}
    assert clean["placeholder_mag_min"] == config["clean"]["placeholder_mag_min"]
    assert config["gaia"]["tap_url"] == "https://gea.esac.esa.int/tap-server/tap"


def test_model_from_must_name_a_dataset():
    config = copy.deepcopy(CONFIG)
    config["data"]["crts"]["model_from"]["dataset"] = "eros2"
    with pytest.raises(ConfigError, match=r"data\.crts\.model_from\.dataset.*'eros2'"):
        validate_config(config, SCHEMA)


def test_variability_bands_must_be_bands_of_the_dataset():
    config = copy.deepcopy(CONFIG)
    config["data"]["virac2"]["variability_bands"] = ["K"]
    with pytest.raises(ConfigError, match=r"variability_bands.*\['K'\]"):
        validate_config(config, SCHEMA)


def test_gaia_score_threshold_is_a_probability():
    config = copy.deepcopy(CONFIG)
    config["gaia"]["min_class_score"] = 1.5
    with pytest.raises(ConfigError, match=r"gaia\.min_class_score.*<= 1"):
        validate_config(config, SCHEMA)
