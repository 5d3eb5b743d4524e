"""Configuration of segment bands, the driver playbook and alert rules; the scores table upgrade."""

from __future__ import annotations

import duckdb
import pytest
import yaml

from customer_health.config import DEFAULT_CONFIG, ConfigError, load_settings
from customer_health.dbt_runner import dbt_vars
from customer_health.warehouse import connect


def write(tmp_path, **sections):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config.update(sections)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_segment_thresholds_reach_dbt_complete(tmp_path):
    path = write(tmp_path, bands={"healthy": 80, "watch": 60, "at_risk": 40,
                                  "by_segment": {"enterprise": {"healthy": 85, "watch": 65, "at_risk": 45},
                                                 "smb": {"at_risk": 30}}})
    variables = dbt_vars(load_settings(path), None)
    assert variables["band_by_segment"] == {
        "enterprise": {"healthy": 85, "watch": 65, "at_risk": 45},
        "smb": {"healthy": 80, "watch": 60, "at_risk": 30},
    }


@pytest.mark.parametrize("by_segment, words", [
    ({"enterprise": {"healthy": 60, "watch": 65, "at_risk": 45}}, "by_segment.enterprise: band thresholds must satisfy"),
    ({"smb": {"watch": 85}}, "by_segment.smb"),  # 85 is above the default healthy (80)
    ({"SMB": {"at_risk": 30}, "smb": {"at_risk": 35}}, "same segment"),
    ({"enterprise": {"healthy": 101}}, "bands.by_segment.enterprise.healthy"),
    ({"enterprise": {"heathy": 90}}, "bands.by_segment.enterprise.heathy"),
])
def test_segment_thresholds_are_validated(tmp_path, by_segment, words):
    path = write(tmp_path, bands={"healthy": 80, "watch": 60, "at_risk": 40, "by_segment": by_segment})
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        load_settings(path)


def test_playbook_keys_are_features_dimensions_or_default(tmp_path):
    ok = write(tmp_path, playbook={"open_tickets": "Escalate.", "value": "Plan review.", "default": "Call."})
    assert load_settings(ok).options.playbook["open_tickets"] == "Escalate."
    bad = write(tmp_path, playbook={"open_ticket": "Escalate.", "default": "Call."})
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert "  - playbook" in str(err.value) and "'open_ticket'" in str(err.value)


def test_alert_rules_can_be_switched_off_and_are_not_part_of_the_run(tmp_path):
    off = load_settings(write(tmp_path, alerts={"entered_band": [], "drop": None, "critical_runs": None}))
    assert dbt_vars(off, None)["alerts"] == {"entered_band": [], "drop": None, "critical_runs": None}
    with pytest.raises(ConfigError, match="alerts.entered_band"):
        load_settings(write(tmp_path, alerts={"entered_band": ["healthy"]}))
    with pytest.raises(ConfigError, match="alerts.drop.points"):
        load_settings(write(tmp_path, alerts={"drop": {"points": 0, "days": 30}}))


def test_an_older_scores_table_gains_primary_feature(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema scoring")
        con.execute("create table scoring.churn_scores (run_id varchar, customer_id varchar, "
                    "primary_dimension varchar)")
        con.execute("insert into scoring.churn_scores values ('r1', 'c1', 'value')")
    for _ in range(2):  # idempotent
        with connect(path) as con:
            columns = [r[0] for r in con.execute("describe scoring.churn_scores").fetchall()]
            assert "primary_feature" in columns
            assert con.execute("select count(*) from scoring.churn_scores").fetchone()[0] == 1
