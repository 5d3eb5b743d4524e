"""A refresh scored by the live model builds the features of the scoring date only.

A first run (full spine: it trains the model), then a month of new events: the features step
builds only the new scoring date, and its rows equal those of a full build on the same data,
while the training rows of the first build stay for drift checks and the next retrain. A run
that trains (retrain) rebuilds every as-of date.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_health.config import load_settings
from customer_health.demo import generate_demo_data
from customer_health.pipeline import features_step, ingest_step, retrain_step, score_step

from tests.conftest import small_config

MART = "select * from main.fct_customer_features order by as_of, customer_id"


def read(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def spine_dates(warehouse: Path) -> int:
    return int(read(warehouse, "select count(distinct as_of) as n from main.int_customer_spine")["n"][0])


@pytest.fixture(scope="module")
def refresh(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring_spine")
    generate_demo_data(root / "landing", root / "truth", customers=300, months=11, seed=29)
    held = root / "held"
    for entity in ("interactions", "transactions"):
        last = sorted((root / "landing" / entity).iterdir())[-1]
        (held / entity).mkdir(parents=True)
        shutil.move(str(last), held / entity / last.name)
    settings = load_settings(small_config(root), home=root / "home", landing=root / "landing")
    ingest_step(settings)
    features_step(settings)
    first_spine = spine_dates(settings.warehouse)
    score_step(settings)
    first = read(settings.warehouse, MART)

    for entity in ("interactions", "transactions"):
        for path in (held / entity).iterdir():
            shutil.move(str(path), root / "landing" / entity / path.name)
    ingest_step(settings)
    features_step(settings)
    refresh_log = (settings.dbt_log_dir / "dbt.log").read_text(encoding="utf-8")
    refresh_log = refresh_log.rsplit("Running with dbt=", 1)[-1]   # the refresh's dbt call
    refreshed = read(settings.warehouse, MART)
    refreshed_spine = spine_dates(settings.warehouse)
    summary = score_step(settings)

    full_warehouse = root / "full" / "warehouse.duckdb"
    full_warehouse.parent.mkdir()
    shutil.copy(settings.warehouse, full_warehouse)
    full_settings = load_settings(small_config(root), warehouse=full_warehouse)
    features_step(full_settings, spine="full")
    full = read(full_warehouse, MART)
    return {"settings": settings, "first": first, "refreshed": refreshed, "full": full,
            "first_spine": first_spine, "refreshed_spine": refreshed_spine, "summary": summary,
            "refresh_log": refresh_log, "full_settings": full_settings}


def test_the_refresh_builds_only_the_scoring_date(refresh):
    assert refresh["first_spine"] >= 4  # the first run trained on several as-of dates
    assert refresh["refreshed_spine"] == 1
    assert refresh["summary"].model_reused, "the refresh is scored by the live model"


def test_the_switch_of_spine_does_not_parse_the_project_again(refresh):
    # the spine is read when the models run: the parse saved by the full build still holds
    assert "no changes found, skipping parsing" in refresh["refresh_log"]
    assert "Partial parsing: updated file" not in refresh["refresh_log"]


def test_a_full_build_recreates_the_feature_mart(refresh):
    """A release that changes the mart's columns needs no --full-refresh: the next full build (a
    retrain) recreates the table, where a scoring refresh keeps it and its training rows."""
    full_settings = refresh["full_settings"]
    with duckdb.connect(str(full_settings.warehouse)) as con:
        con.execute("alter table main.fct_customer_features add column retired_feature double")
    features_step(full_settings, spine="full")
    mart = read(full_settings.warehouse, MART)
    assert "retired_feature" not in mart.columns
    pd.testing.assert_frame_equal(mart, refresh["full"], check_exact=True)


def test_scoring_rows_equal_a_full_build(refresh):
    def scoring_rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["is_scoring_date"]].reset_index(drop=True)

    new, full = scoring_rows(refresh["refreshed"]), scoring_rows(refresh["full"])
    assert new["as_of"].nunique() == 1 and new["as_of"].iloc[0] > refresh["first"]["as_of"].max()
    pd.testing.assert_frame_equal(new, full, check_exact=True)


def test_training_rows_of_the_last_full_build_stay(refresh):
    def training_rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[~frame["is_scoring_date"]].reset_index(drop=True)

    pd.testing.assert_frame_equal(training_rows(refresh["refreshed"]),
                                  training_rows(refresh["first"]), check_exact=True)


def test_a_retrain_rebuilds_every_as_of_date(refresh):
    settings = refresh["settings"]
    retrain_step(settings)
    assert spine_dates(settings.warehouse) > 1
    rebuilt = read(settings.warehouse, MART)
    pd.testing.assert_frame_equal(rebuilt, refresh["full"], check_exact=True)
