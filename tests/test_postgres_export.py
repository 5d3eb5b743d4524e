"""exports.postgres: the output tables copied from the DuckDB warehouse into PostgreSQL.

Needs a PostgreSQL server (CUSTOMER_HEALTH_PG_HOST/PORT/USER/PASSWORD, default 127.0.0.1:5432 as
postgres); without one the tests that need it say so and skip. The run uses a database of its
own, dropped afterwards; each test writes a schema of its own in it. The warehouse is a small one
built here with plain DuckDB SQL in the shape of the dbt contracts (dbt_project/models/marts/
health/*.yml), not by the pipeline.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_health import postgres_export
from customer_health.config import ConfigError, load_settings
from customer_health.postgres_export import (PostgresDsnError, PostgresExport, PostgresExportError,
                                             PostgresUnreachable, export_to_postgres)

from tests.postgres import PG, dsn, psycopg2, throwaway_database

DSN_ENV = "CUSTOMER_HEALTH_TEST_EXPORT_DSN"
TABLES = ("customer_health", "customer_health_history", "at_risk_customers", "health_alerts")
KEYS = {"customer_health": ["customer_id"], "customer_health_history": ["run_id", "customer_id"],
        "at_risk_customers": ["rank"], "health_alerts": ["alert_id"]}
# what the contract's DuckDB types must become (written out here, not taken from the module)
PG_TYPE_OF = {"VARCHAR": "text", "DOUBLE": "double precision", "INTEGER": "integer",
              "BIGINT": "bigint", "DATE": "date", "TIMESTAMP": "timestamp without time zone",
              "DECIMAL(18,3)": "numeric(18,3)"}


# --- PostgreSQL: one database for the run -----------------------------------------------------

@pytest.fixture(scope="module")
def pg_database():
    with throwaway_database("customer_health_export_test") as name:
        yield name


@pytest.fixture()
def pg(pg_database, monkeypatch):
    """The test database's connection string in DSN_ENV, and a fresh schema name."""
    monkeypatch.setenv(DSN_ENV, dsn(pg_database))
    return {"database": pg_database, "schema": f"bi_{uuid.uuid4().hex[:8]}"}


def _pg_connect(database: str, **session):
    con = psycopg2.connect(dbname=database, **PG)
    if session:
        con.set_session(**session)
    return con


def _frame(cur, query, keys=None) -> pd.DataFrame:
    cur.execute(query)
    frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description], dtype=object)
    return frame.sort_values(keys, ignore_index=True) if keys else frame


def pg_table(cur, schema: str, table: str) -> pd.DataFrame:
    return _frame(cur, f'select * from "{schema}"."{table}"', KEYS[table])


def pg_tables(database: str, schema: str) -> dict[str, pd.DataFrame]:
    with _pg_connect(database) as con, con.cursor() as cur:
        return {t: pg_table(cur, schema, t) for t in TABLES}


def pg_types(database: str, schema: str, table: str) -> list[tuple[str, str]]:
    with _pg_connect(database) as con, con.cursor() as cur:
        cur.execute("select column_name, case when data_type = 'numeric' and numeric_precision "
                    "is not null then format('numeric(%%s,%%s)', numeric_precision, numeric_scale)"
                    " else data_type end from information_schema.columns "
                    "where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, table))
        return cur.fetchall()


def pg_relations(database: str, schema: str) -> set[str]:
    with _pg_connect(database) as con, con.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = %s",
                    (schema,))
        return {r[0] for r in cur.fetchall()}


# --- the DuckDB warehouse ----------------------------------------------------------------------

def build_warehouse(path: Path, customers: int = 200, variant: int = 0) -> None:
    """The four output relations in schema main, shaped like the dbt contracts: doubles with
    all 17 digits, a decimal, dates, timestamps with microseconds,
    NULLs, empty strings and text with commas, quotes, newlines, backslashes and unicode.
    ``variant`` changes every score (another day's data)."""
    n, v = int(customers), int(variant)
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
        create or replace table main.customer_health as
        with base as (
            select i, ((i * 7919 + {v} * 104729) % 1000003) / 1000003.0 as r
            from range(1, {n} + 1) t(i)
        )
        select
            printf('C%05d', i) as customer_id,
            date '2025-04-30' + {v} as as_of,
            r as churn_risk,
            cast(round(100 * (1 - r)) as integer) as health_score,
            case when r > 0.6 then 'critical' when r > 0.4 then 'at_risk'
                 when r > 0.2 then 'watch' else 'healthy' end as health_band,
            100 * (1 - r) / 3 as engagement_score,
            50 + r / 7 as experience_score,
            case when i % 9 = 0 then null else sqrt(i) end as voice_score,
            1 / (i + 0.3) as value_score,
            '[{{"feature": "open_tickets", "direction": "up", "sentence": "3 open tickets, typically 0 \\"(high)\\""}}]'
                as top_drivers,
            case when i % 7 = 0 then 'Open tickets: 3, typically 0; "urgent"' || chr(10) || 'CSAT fell — ça va? 日本 ✓'
                 when i % 11 = 0 then ''
                 when i % 13 = 0 then null
                 when i % 17 = 0 then 'path C:\\temp \\N, ''quoted'''
                 else 'Spend fell 40%, typically +2%' end as reasons,
            case when i % 2 = 0 then 'Call the customer, today' else 'Review the account' end
                as recommended_action,
            -- a decimal (the contract says double) so the real tables cover numeric(p,s) too
            cast(i * 123.457 as decimal(18,3)) as revenue_12m,
            r * i * 123.457 as revenue_at_risk,
            case when i % 5 = 0 then null else cast(round(100 * (1 - r)) as integer) - 3 end
                as previous_score,
            case when i % 5 = 0 then null else 3 end as score_delta,
            case when i % 5 = 0 then 'new' else 'improving' end as trend,
            case when i % 4 = 0 then null else ['smb', 'mid_market', 'enterprise'][1 + i % 3] end
                as segment,
            'pro' as plan,
            'emea' as region,
            case when i % 3 = 0 then 'Zoë O''Brien' else 'ann' end as account_owner,
            'model' as score_source,
            'v00' || {v} as model_version,
            'run-' || {v} as run_id,
            timestamp '2025-05-01 06:00:00.123456' + to_days({v}) as scored_at
        from base
        """)
        con.execute(f"""
        create or replace table main.customer_health_history as
        select run_id, scored_at, as_of, customer_id, churn_risk, health_score, health_band,
               engagement_score, experience_score, voice_score, value_score, revenue_at_risk,
               score_source, model_version
        from main.customer_health
        union all
        select 'run-old', timestamp '2025-04-01 06:00:00', date '2025-03-31', customer_id,
               -- the same in every variant: a run in the history never changes
               cast(right(customer_id, 5) as integer) / 200.0, 50, 'watch', null, null, null,
               null, 0.0, 'scorecard', null
        from main.customer_health where customer_id < 'C00050'
        """)
        con.execute("""
        create or replace table main.health_alerts as
        select
            md5(customer_id || '|entered|' || as_of) as alert_id,
            customer_id,
            'entered_' || health_band as rule,
            run_id as detected_in_run_id,
            as_of,
            as_of as window_start,
            as_of as window_end,
            health_score,
            previous_score,
            health_band,
            'Entered the ' || replace(health_band, '_', '-') || ' band: health score '
                || health_score || ', was "' || coalesce(previous_score::varchar, 'none') || '".'
                as message,
            segment,
            account_owner,
            scored_at + interval 5 second as created_at
        from main.customer_health
        where health_band in ('at_risk', 'critical')
        """)
        con.execute("""
        create or replace view main.at_risk_customers as
        select
            row_number() over (order by revenue_at_risk desc, churn_risk desc, customer_id) as rank,
            customer_id, health_band, health_score, churn_risk, revenue_at_risk, reasons,
            recommended_action, trend, score_delta, segment, account_owner, as_of
        from main.customer_health
        where health_band in ('at_risk', 'critical')
        """)


def duck_tables(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: _frame(con, f"select * from main.{t}", KEYS[t]) for t in TABLES}


def duck_types(path: Path, table: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select column_name, data_type from information_schema.columns "
                           "where table_schema = 'main' and table_name = ? "
                           "order by ordinal_position", [table]).fetchall()


def settings_for(tmp_path: Path, schema: str | None, tables=TABLES, dsn_env: str = DSN_ENV):
    """Settings whose warehouse is tmp_path/home/warehouse.duckdb; schema None: export off."""
    if schema is None:
        text = "exports: {postgres: null}\n"
    else:
        text = (f"exports:\n  postgres:\n    dsn_env: {dsn_env}\n    schema: {schema}\n"
                f"    tables: [{', '.join(tables)}]\n")
    config = tmp_path / "customer_health.yml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, home=tmp_path / "home")


@pytest.fixture()
def warehouse(tmp_path) -> Path:
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    build_warehouse(path)
    return path


# --- tests -------------------------------------------------------------------------------------

def test_the_tables_arrive_with_the_duckdb_rows_and_types(tmp_path, warehouse, pg, caplog):
    settings = settings_for(tmp_path, pg["schema"])
    with caplog.at_level(logging.INFO, logger="customer_health"):
        result = export_to_postgres(settings)

    expected = duck_tables(warehouse)
    assert isinstance(result, PostgresExport) and result.schema == pg["schema"]
    assert result.tables == {t: len(expected[t]) for t in TABLES}
    assert result.tables["customer_health"] == 200 and result.tables["at_risk_customers"] > 10
    assert 0 < result.seconds < 30 and pg["database"] in result.target

    got = pg_tables(pg["database"], pg["schema"])
    for table in TABLES:
        # same values, same Python types (Decimal, date, datetime, int, float, str, None) per cell
        pd.testing.assert_frame_equal(got[table], expected[table], obj=table)
        assert pg_types(pg["database"], pg["schema"], table) == [
            (name, PG_TYPE_OF[type_]) for name, type_ in duck_types(warehouse, table)], table
    # the view is a table in PostgreSQL; nothing else was left in the schema
    assert pg_relations(pg["database"], pg["schema"]) == set(TABLES)
    reasons = set(got["customer_health"]["reasons"])
    assert "" in reasons and None in reasons and "path C:\\temp \\N, 'quoted'" in reasons
    assert 'Open tickets: 3, typically 0; "urgent"\nCSAT fell — ça va? 日本 ✓' in reasons

    # one info line per table with its row count, and never the connection string
    lines = [r.getMessage() for r in caplog.records if r.name == "customer_health.postgres_export"]
    assert len(lines) == 4
    for table in TABLES:
        assert any(f"{pg['schema']}.{table} {result.tables[table]} rows" in line for line in lines)
    assert not any(os.environ[DSN_ENV] in r.getMessage() for r in caplog.records)


def test_rerun_is_idempotent_and_new_data_replaces_the_old(tmp_path, warehouse, pg):
    settings = settings_for(tmp_path, pg["schema"])
    export_to_postgres(settings)
    first = pg_tables(pg["database"], pg["schema"])

    again = export_to_postgres(settings)
    second = pg_tables(pg["database"], pg["schema"])
    for table in TABLES:
        pd.testing.assert_frame_equal(second[table], first[table], obj=table)
    assert again.tables == {t: len(first[t]) for t in TABLES}

    # another day: other scores, fewer customers; not one row of the old export is left
    build_warehouse(warehouse, customers=120, variant=1)
    export_to_postgres(settings)
    expected = duck_tables(warehouse)
    third = pg_tables(pg["database"], pg["schema"])
    for table in TABLES:
        pd.testing.assert_frame_equal(third[table], expected[table], obj=table)
    assert len(third["customer_health"]) == 120
    assert set(third["customer_health"]["run_id"]) == {"run-1"}
    assert pg_relations(pg["database"], pg["schema"]) == set(TABLES)


def test_readers_see_the_old_tables_or_the_new_ones_never_a_partial_or_empty_one(
        tmp_path, warehouse, pg, monkeypatch):
    settings = settings_for(tmp_path, pg["schema"])
    export_to_postgres(settings)
    old = pg_tables(pg["database"], pg["schema"])
    build_warehouse(warehouse, customers=150, variant=1)
    new = duck_tables(warehouse)

    # a BI session in a REPEATABLE READ transaction whose snapshot is older than the export,
    # which has not read the tables yet (a drop-and-rename swap would show it empty tables)
    snapshot = _pg_connect(pg["database"], isolation_level="REPEATABLE READ")
    snapshot.cursor().execute("select 1")
    # and a plain autocommit reader that gives up rather than wait on a lock
    reader = _pg_connect(pg["database"], autocommit=True)
    reader.cursor().execute("set lock_timeout = '2s'; set statement_timeout = '5s'")

    seen = []
    load_table = postgres_export._load_table

    def load_then_look(cur, con, schema, table, columns):
        loaded = load_table(cur, con, schema, table, columns)
        # the export has replaced this table and not committed: every table reads as before
        with reader.cursor() as look:
            for t in TABLES:
                seen.append((table, t, pg_table(look, schema, t).equals(old[t])))
        return loaded

    monkeypatch.setattr(postgres_export, "_load_table", load_then_look)
    export_to_postgres(settings)

    assert len(seen) == 16 and all(same for *_, same in seen), [s for s in seen if not s[2]]
    with snapshot.cursor() as cur:
        for table in TABLES:
            pd.testing.assert_frame_equal(pg_table(cur, pg["schema"], table), old[table], obj=table)
    snapshot.rollback()
    with snapshot.cursor() as cur:
        for table in TABLES:
            pd.testing.assert_frame_equal(pg_table(cur, pg["schema"], table), new[table], obj=table)
    snapshot.close()
    reader.close()


def test_a_failing_table_changes_nothing(tmp_path, warehouse, pg):
    settings = settings_for(tmp_path, pg["schema"])
    export_to_postgres(settings)
    before = pg_tables(pg["database"], pg["schema"])

    # new data whose last table PostgreSQL cannot store (text cannot hold a NUL character)
    build_warehouse(warehouse, customers=150, variant=1)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update main.health_alerts set message = 'broken' || chr(0) "
                    "where alert_id = (select min(alert_id) from main.health_alerts)")
    with pytest.raises(PostgresExportError, match=rf"{pg['schema']}\.health_alerts") as failure:
        export_to_postgres(settings)
    assert "nothing was changed" in str(failure.value)
    after = pg_tables(pg["database"], pg["schema"])
    for table in TABLES:  # the tables loaded before the failure were rolled back too
        pd.testing.assert_frame_equal(after[table], before[table], obj=table)


def test_changed_columns_replace_the_table(tmp_path, warehouse, pg, caplog):
    settings = settings_for(tmp_path, pg["schema"], tables=["customer_health"])
    export_to_postgres(settings)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table main.customer_health add column tenure_days integer default 42")
        con.execute("alter table main.customer_health drop column plan")
    with caplog.at_level(logging.INFO, logger="customer_health"):
        result = export_to_postgres(settings)
    assert result.tables == {"customer_health": 200}
    assert "customer_health 200 rows" in caplog.text and "columns changed" in caplog.text
    columns = [name for name, _ in pg_types(pg["database"], pg["schema"], "customer_health")]
    assert "plan" not in columns and columns[-1] == "tenure_days"
    with _pg_connect(pg["database"]) as con, con.cursor() as cur:
        pd.testing.assert_frame_equal(pg_table(cur, pg["schema"], "customer_health"),
                                      duck_tables(warehouse)["customer_health"])
    assert pg_relations(pg["database"], pg["schema"]) == {"customer_health"}


def test_every_duckdb_type_has_a_postgres_type(tmp_path, pg):
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute("""
        create table main.customer_health as
        select * from (values
            ('a', 1::tinyint, 2::smallint, 3::integer, 4::bigint, 5::hugeint, 6::ubigint,
             1.25::float, 0.1::double, 1234.5678::decimal(18,4), 12.3::decimal(4,1), true,
             date '2025-01-31', timestamp '2025-01-31 06:07:08.123456',
             timestamptz '2025-01-31 06:07:08.5+02', time '06:07:08', interval 3 day,
             '5090b415-d678-4b9a-aa84-35daa8ec367a'::uuid, '\\x00\\xff'::blob,
             '{"k": [1, 2]}'::json, [1, 2, null]::integer[], {'a': 1, 'b': 'x'},
             'watch'::enum('healthy', 'watch')),
            (null, null, null, null, null, null, null, null, null, null, null, null, null, null,
             null, null, null, null, null, null, null, null, null)
        ) t(s, ti, si, i, bi, hi, ubi, f, d, dec, dec2, b, dt, ts, tstz, tm, iv, uu, bl, js,
            li, st, en)
        """)
    settings = settings_for(tmp_path, pg["schema"], tables=["customer_health"])
    assert export_to_postgres(settings).tables == {"customer_health": 2}

    assert dict(pg_types(pg["database"], pg["schema"], "customer_health")) == {
        "s": "text", "ti": "smallint", "si": "smallint", "i": "integer", "bi": "bigint",
        "hi": "numeric", "ubi": "numeric", "f": "real", "d": "double precision",
        "dec": "numeric(18,4)", "dec2": "numeric(4,1)", "b": "boolean", "dt": "date",
        "ts": "timestamp without time zone", "tstz": "timestamp with time zone",
        "tm": "time without time zone", "iv": "interval", "uu": "uuid", "bl": "bytea",
        "js": "jsonb", "li": "jsonb", "st": "jsonb", "en": "text"}
    with _pg_connect(pg["database"]) as con, con.cursor() as cur:
        rows = _frame(cur, f'select * from "{pg["schema"]}".customer_health order by s nulls last')
    full, empty = rows.iloc[0].to_dict(), rows.iloc[1].to_dict()
    assert all(value is None for value in empty.values())
    assert full["dec"] == Decimal("1234.5678") and full["dec2"] == Decimal("12.3")
    assert full["hi"] == 5 and full["ubi"] == 6 and full["f"] == 1.25 and full["d"] == 0.1
    assert full["tstz"] == datetime(2025, 1, 31, 4, 7, 8, 500000, tzinfo=timezone.utc)
    assert full["ts"] == datetime(2025, 1, 31, 6, 7, 8, 123456)
    assert str(full["tm"]) == "06:07:08" and str(full["iv"]) == "3 days, 0:00:00"
    assert str(full["uu"]) == "5090b415-d678-4b9a-aa84-35daa8ec367a"
    assert bytes(full["bl"]) == b"\x00\xff"
    assert full["js"] == {"k": [1, 2]} and full["li"] == [1, 2, None]
    assert full["st"] == {"a": 1, "b": "x"} and full["en"] == "watch"


def test_a_missing_table_in_the_warehouse_is_named_before_postgres_is_touched(tmp_path, pg):
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    duckdb.connect(str(path)).close()
    settings = settings_for(tmp_path, pg["schema"], tables=["health_alerts"])
    with pytest.raises(PostgresExportError, match="main.health_alerts is not in the warehouse"):
        export_to_postgres(settings)
    assert pg_relations(pg["database"], pg["schema"]) == set()


def test_export_off_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("CUSTOMER_HEALTH_EXPORT_PG_DSN", raising=False)
    settings = settings_for(tmp_path, None)
    assert settings.options.exports.postgres is None
    assert export_to_postgres(settings) is None
    assert not settings.warehouse.exists()  # not even opened


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_unset_connection_variable_is_named(tmp_path, warehouse, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(DSN_ENV, raising=False)
    else:
        monkeypatch.setenv(DSN_ENV, value)
    with pytest.raises(PostgresDsnError, match=DSN_ENV) as failure:
        export_to_postgres(settings_for(tmp_path, "bi"))
    assert isinstance(failure.value, ConfigError)  # a user error the CLI prints as a message


def test_a_malformed_connection_string_is_not_echoed(tmp_path, warehouse, monkeypatch):
    monkeypatch.setenv(DSN_ENV, "host=db password=Hunter2-secret oops")
    with pytest.raises(PostgresDsnError, match=DSN_ENV) as failure:
        export_to_postgres(settings_for(tmp_path, "bi"))
    assert "Hunter2" not in str(failure.value) and failure.value.__suppress_context__


def test_an_unreachable_server_is_named_without_the_password(tmp_path, warehouse, monkeypatch,
                                                            caplog):
    # nothing listens on port 1: the connection is refused at once
    monkeypatch.setenv(DSN_ENV, "postgresql://analyst:S3cret-Pa55@127.0.0.1:1/bi_warehouse")
    with caplog.at_level(logging.DEBUG), pytest.raises(PostgresUnreachable) as failure:
        export_to_postgres(settings_for(tmp_path, "bi"))
    message = str(failure.value)
    assert "host 127.0.0.1 port 1 database bi_warehouse" in message
    assert "S3cret" not in message and "S3cret" not in repr(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert not any("S3cret" in r.getMessage() for r in caplog.records)


def test_the_history_gains_the_new_run_and_keeps_the_rows_it_has(tmp_path, warehouse, pg, caplog):
    settings = settings_for(tmp_path, pg["schema"], tables=["customer_health_history"])
    history = "main.customer_health_history"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"insert into {history} select 'run-gone', scored_at - interval 2 day, "
                    "* exclude (run_id, scored_at) from main.customer_health_history "
                    "where run_id = 'run-old'")
    export_to_postgres(settings)

    def written_by() -> dict[tuple[str, str], str]:
        """The PostgreSQL transaction that wrote each history row (xmin)."""
        with _pg_connect(pg["database"]) as con, con.cursor() as cur:
            cur.execute(f'select run_id, customer_id, xmin::text from "{pg["schema"]}".'
                        'customer_health_history')
            return {(run, customer): xmin for run, customer, xmin in cur.fetchall()}

    before = written_by()
    # the next publish: a new run in the history, and run-gone no longer in it
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"delete from {history} where run_id = 'run-gone'")
        con.execute(f"insert into {history} select 'run-new', scored_at + interval 1 day, "
                    "* exclude (run_id, scored_at) from main.customer_health_history "
                    "where run_id = 'run-0' and customer_id < 'C00070'")
    # and a run that lost rows in PostgreSQL is made whole again
    with _pg_connect(pg["database"]) as con, con.cursor() as cur:
        cur.execute(f'delete from "{pg["schema"]}".customer_health_history '
                    "where run_id = 'run-0' and customer_id > 'C00190'")

    with caplog.at_level(logging.INFO, logger="customer_health"):
        result = export_to_postgres(settings)

    expected = duck_tables(warehouse)["customer_health_history"]
    with _pg_connect(pg["database"]) as con, con.cursor() as cur:
        pd.testing.assert_frame_equal(pg_table(cur, pg["schema"], "customer_health_history"),
                                      expected)
    assert result.tables == {"customer_health_history": len(expected)}
    after = written_by()
    untouched = {key: xmin for key, xmin in before.items() if key[0] == "run-old"}
    assert len(untouched) == 49 and {key: after[key] for key in untouched} == untouched
    rewritten = {key: xmin for key, xmin in before.items() if key[0] == "run-0"}
    assert not set(rewritten.items()) & set(after.items())
    assert any("2 run(s) added, 2 removed" in r.getMessage() for r in caplog.records)

    # the next export with no new run writes nothing
    export_to_postgres(settings)
    assert written_by() == after

    # a rebuilt warehouse that scored run-new again (same rows, a later scored_at) replaces it
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"update {history} set scored_at = scored_at + interval 1 hour "
                    "where run_id = 'run-new'")
    export_to_postgres(settings)
    with _pg_connect(pg["database"]) as con, con.cursor() as cur:
        pd.testing.assert_frame_equal(pg_table(cur, pg["schema"], "customer_health_history"),
                                      duck_tables(warehouse)["customer_health_history"])
