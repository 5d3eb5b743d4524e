"""Configuration: one YAML file, validated with messages that name the file and the key."""

from __future__ import annotations

import pytest
import yaml

from customer_health.config import DEFAULT_CONFIG, ConfigError, load_settings


def write_config(tmp_path, **overrides):
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for section, values in overrides.items():
        config[section].update(values)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_shipped_config_is_valid():
    settings = load_settings(DEFAULT_CONFIG)
    assert settings.options.churn.horizon_days == 90


def test_every_mistake_is_named_with_file_and_key(tmp_path):
    path = write_config(tmp_path, bands={"healthy": 50, "watch": 60},
                        at_risk={"bands": ["critical", "atrisk"]},
                        model={"num_threads": True, "params": {"num_leavs": 7}})
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert str(path) in message
    for key in ("bands", "at_risk.bands", "model.num_threads", "model.params.num_leavs"):
        assert f"  - {key}" in message


def test_unknown_section_and_bad_yaml_are_refused(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("pathz: {}\n")
    with pytest.raises(ConfigError, match="pathz"):
        load_settings(path)
    path.write_text("paths: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path)


def test_everything_of_a_dataset_follows_its_home_or_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSTOMER_HEALTH_HOME", raising=False)
    by_home = load_settings(DEFAULT_CONFIG, home=tmp_path / "a")
    assert by_home.warehouse == tmp_path / "a" / "warehouse.duckdb"
    assert by_home.models_dir == tmp_path / "a" / "models"
    assert by_home.landing == tmp_path / "a" / "landing"
    by_file = load_settings(DEFAULT_CONFIG, warehouse=tmp_path / "b" / "wh.duckdb")
    assert by_file.models_dir == tmp_path / "b" / "models"
    monkeypatch.setenv("CUSTOMER_HEALTH_HOME", str(tmp_path / "c"))
    assert load_settings(DEFAULT_CONFIG).home == tmp_path / "c"
    assert load_settings(DEFAULT_CONFIG, home=tmp_path / "d").home == tmp_path / "d"


def test_duckdb_memory_limit_reaches_every_warehouse_connection(tmp_path, monkeypatch):
    from customer_health.warehouse import MEMORY_LIMIT_VARIABLE, connect

    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "25%")   # restored after the test
    settings = load_settings(write_config(tmp_path, warehouse={"memory_limit": "1.5GB"}),
                             home=tmp_path / "home")
    with connect(settings.warehouse) as con:
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert limit in ("1.3 GiB", "1.4 GiB")   # 1.5 GB in DuckDB's binary units
    with pytest.raises(ConfigError, match="warehouse.memory_limit"):
        load_settings(write_config(tmp_path, warehouse={"memory_limit": "lots"}))


def test_ingest_holds_duckdb_to_its_own_smaller_memory_limit(tmp_path, monkeypatch):
    """While ingesting, the parsed file and its validation gate sit beside DuckDB in memory."""
    from customer_health import pipeline
    from customer_health.ingest.landing import IngestReport
    from customer_health.warehouse import MEMORY_LIMIT_VARIABLE

    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "40%")   # restored after the test
    settings = load_settings(write_config(tmp_path, warehouse={
        "memory_limit": "3GB", "ingest_memory_limit": "1GB"}), home=tmp_path / "home")
    settings.landing.mkdir(parents=True)
    seen = []

    def recording_ingest(con, landing, **kwargs):
        seen.append(con.execute("select current_setting('memory_limit')").fetchone()[0])
        return IngestReport()

    monkeypatch.setattr(pipeline, "ingest_landing", recording_ingest)
    pipeline.ingest_step(settings)
    assert seen == ["953.6 MiB"]   # 1 GB in DuckDB's binary units
    with pytest.raises(ConfigError, match="warehouse.ingest_memory_limit"):
        load_settings(write_config(tmp_path, warehouse={"ingest_memory_limit": "half"}))
