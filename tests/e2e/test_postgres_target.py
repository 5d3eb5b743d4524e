"""The dbt project is adapter-portable: on PostgreSQL it builds, passes its tests and unit tests,
computes the same feature mart as on DuckDB from the same raw rows, and rebuilds incrementally.

Needs a PostgreSQL server (CUSTOMER_HEALTH_PG_HOST/PORT/USER, default 127.0.0.1:5432 as
postgres); without one the test says so and skips. Each run uses a database of its own and
drops it afterwards.
"""

from __future__ import annotations

import io

import duckdb
import pandas as pd
import pytest

from customer_health.config import load_settings
from customer_health.dbt_runner import run_dbt
from customer_health.pipeline import features_step, ingest_step

from tests.postgres import PG, psycopg2, throwaway_database

RAW_TABLES = ("customers", "transactions", "interactions")
# the mart's float columns: averages and ratios may differ in the last bits between engines
TOLERANCE = 1e-6


@pytest.fixture()
def pg_database(monkeypatch):
    with throwaway_database("customer_health_test") as name:
        for key, value in {"HOST": PG["host"], "PORT": str(PG["port"]), "USER": PG["user"],
                           "PASSWORD": PG["password"], "DATABASE": name, "SCHEMA": "main"}.items():
            monkeypatch.setenv(f"CUSTOMER_HEALTH_PG_{key}", value)
        yield name


def _copy_raw(warehouse, database: str) -> None:
    """The raw tables of a DuckDB warehouse, column for column, into schema raw on PostgreSQL."""
    with duckdb.connect(str(warehouse), read_only=True) as src, \
            psycopg2.connect(dbname=database, **PG) as dst, dst.cursor() as cur:
        cur.execute("create schema if not exists raw")
        for table in RAW_TABLES:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position", [table]).fetchall()
            types = {"VARCHAR": "text", "DOUBLE": "double precision", "BIGINT": "bigint",
                     "INTEGER": "integer", "TIMESTAMP": "timestamp", "DATE": "date", "BOOLEAN": "boolean"}
            cur.execute(f"create table raw.{table} ("
                        + ", ".join(f'"{c}" {types.get(t, "text")}' for c, t in columns) + ")")
            frame = src.execute(f"select * from raw.{table}").df()
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
            buffer.seek(0)
            cur.copy_expert(f"copy raw.{table} from stdin with (format csv, null '\\N')", buffer)


def test_the_feature_mart_builds_on_postgres_and_matches_duckdb(demo, tmp_path, pg_database):
    settings = load_settings(demo["config"], home=tmp_path / "home", landing=demo["landing"])
    ingest_step(settings)
    features_step(settings)
    _copy_raw(settings.warehouse, pg_database)

    # the same models, data tests and unit tests, on the postgres target
    result = run_dbt(settings, "build", exclude="tag:scores", extra_args=("--target", "postgres"))
    assert result.passed > 50 and not result.failed

    def postgres_mart() -> pd.DataFrame:
        with psycopg2.connect(dbname=pg_database, **PG) as con, con.cursor() as cur:
            cur.execute("select * from main.fct_customer_features")
            return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    order = ["customer_id", "as_of"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        expected = con.execute("select * from main.fct_customer_features").df()
    got = postgres_mart()
    expected = expected.sort_values(order, ignore_index=True)
    got = got.sort_values(order, ignore_index=True)
    assert list(got.columns) == list(expected.columns) and len(got) == len(expected) > 1000
    for column in expected.columns:
        left, right = expected[column], got[column]
        if pd.api.types.is_numeric_dtype(left) and not pd.api.types.is_bool_dtype(left):
            left, right = left.astype("float64"), pd.to_numeric(right).astype("float64")
            diff = (left - right).abs()
            assert ((diff <= TOLERANCE * (1 + left.abs())) | (left.isna() & right.isna())).all(), column
        else:
            if pd.api.types.is_datetime64_any_dtype(left):
                left, right = left.dt.date, pd.to_datetime(right).dt.date
            assert (left.astype("string").fillna("<null>").tolist()
                    == right.astype("string").fillna("<null>").tolist()), column

    # a second build runs the incremental event models' merge path on PostgreSQL: nothing changes
    run_dbt(settings, "build", exclude="tag:scores", extra_args=("--target", "postgres"))
    pd.testing.assert_frame_equal(postgres_mart().sort_values(order, ignore_index=True), got)
