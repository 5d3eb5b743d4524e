"""The scorecard section of the configuration: shipped defaults, and mistakes named by key."""

from __future__ import annotations

import pytest
import yaml

from customer_health.config import DEFAULT_CONFIG, ConfigError, FileConfig, load_settings
from ml.scorecard import Scorecard


def test_the_shipped_scorecard_is_the_default_and_weighs_100_points():
    shipped = load_settings(DEFAULT_CONFIG).options.scorecard.definition()
    assert Scorecard.from_config(shipped) == Scorecard() == Scorecard.from_config(FileConfig().scorecard.definition())
    assert Scorecard.from_config(shipped).total_weight == 100


def test_scorecard_mistakes_name_the_key(tmp_path):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["scorecard"] = {"missing": "zero", "measures": [
        {"feature": "logins_30d", "weight": 10, "good": 15, "bad": 0},
        {"feature": "logins_3od", "weight": 10, "good": 15, "bad": 0},
        {"feature": "segment", "weight": 10, "good": 1, "bad": 0},
        {"feature": "open_tickets", "weight": -1, "good": 0, "bad": 0},
        {"feature": "last_nps", "weight": 5, "good": 9, "bad": 5, "colour": "red"},
    ]}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    for key in ("scorecard.missing", "scorecard.measures.1.feature", "scorecard.measures.2.feature",
                "scorecard.measures.3.weight", "scorecard.measures.4.colour"):
        assert f"  - {key}" in message
    assert "'logins_3od' is not a feature of the catalogue" in message and "is a category" in message


def test_a_feature_measured_twice_is_refused(tmp_path):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    twice = {"feature": "logins_30d", "weight": 10, "good": 15, "bad": 0}
    config["scorecard"] = {"measures": [twice, twice]}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="repeat feature"):
        load_settings(path)
