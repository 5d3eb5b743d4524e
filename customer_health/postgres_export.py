"""Copy the output tables of the DuckDB warehouse into PostgreSQL, for BI tools that need a server.

Turned on by ``exports.postgres`` in the configuration. The connection string is read from the
environment variable that ``exports.postgres.dsn_env`` names (a libpq string such as
``host=db.internal dbname=analytics user=customer_health`` or a ``postgresql://`` URI; a password
can also come from PGPASSWORD or ~/.pgpass). It is never logged or put in an error message.

Every export replaces the configured tables in one PostgreSQL transaction, so a reader sees the
previous export or the new one, never a half-loaded or empty table:

* the score history, which only grows, gains the runs PostgreSQL lacks (COPY) and loses the
  runs the warehouse no longer holds (DELETE); the rows of the other runs are not touched, so
  a publish does not copy the whole history again.
* another table whose columns (names, order, types) are unchanged is emptied with DELETE and
  refilled with COPY. DELETE is MVCC-safe: readers are not blocked, and a reader whose snapshot
  predates the commit (a REPEATABLE READ transaction, pg_dump) keeps seeing the old rows.
  Grants, comments and views that BI users built on the table stay in place.
* a new table, or one whose columns changed (a contract change, rare), is loaded into a staging
  table that then takes the old one's place (drop, rename) in the same transaction; readers of
  that table wait for the commit. Views that depend on the old table make the export fail with
  PostgreSQL's message (nothing changes); per-table grants go with the dropped table (ALTER
  DEFAULT PRIVILEGES keeps a BI role's SELECT, see below).

A view in DuckDB (at_risk_customers) becomes a table holding its rows. Concurrent exports into
the same schema wait for each other (an advisory lock), so they cannot interleave.

The BI role needs, once, from the owner of the schema (the role in the connection string):
    GRANT USAGE ON SCHEMA customer_health TO bi_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA customer_health TO bi_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA customer_health GRANT SELECT ON TABLES TO bi_reader;
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from dataclasses import dataclass, field

import duckdb
import psycopg2
import psycopg2.extensions
import pyarrow.csv as pa_csv
from psycopg2 import sql

from customer_health.config import ConfigError, PostgresExportConfig, Settings
from customer_health.warehouse import connect, sql_literal

log = logging.getLogger(__name__)

# append-only tables kept in step run by run, not refilled: table -> (the column naming a run,
# the timestamp that changes when a run is scored again)
BY_RUN = {"customer_health_history": ("run_id", "scored_at")}
# rows per batch read from DuckDB and written as CSV: bounds the memory an export holds
BATCH_ROWS = 50_000
CONNECT_TIMEOUT_SECONDS = 10
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
# all_valid quotes every value and leaves NULL as an unquoted empty field: PostgreSQL's CSV COPY
# then tells NULL from the empty string


class PostgresExportError(RuntimeError):
    """The export to PostgreSQL failed; the message says which table and why (never the DSN)."""


class PostgresDsnError(PostgresExportError, ConfigError):
    """The environment variable that should hold the connection string is unset, empty or not a
    connection string. A configuration problem: a retry does not help."""


class PostgresUnreachable(PostgresExportError):
    """The PostgreSQL server could not be reached or refused the login (a retry may help)."""


@dataclass(frozen=True)
class PostgresExport:
    """What one export wrote: rows per table (``schema.table`` in PostgreSQL) and how long it took."""

    schema: str
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # host, port and database written to, for messages (no user, no password)
    target: str = ""

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


# ---------------------------------------------------------------------------------------------
# DuckDB types -> PostgreSQL types. The PostgreSQL names are the ones format_type() returns, so
# an existing table's layout can be compared with the one wanted.

_SIMPLE_TYPES = {
    "VARCHAR": "text", "CHAR": "text", "BPCHAR": "text", "TEXT": "text", "STRING": "text",
    "DOUBLE": "double precision", "FLOAT8": "double precision",
    "FLOAT": "real", "REAL": "real", "FLOAT4": "real",
    "TINYINT": "smallint", "SMALLINT": "smallint", "UTINYINT": "smallint",
    "INTEGER": "integer", "INT": "integer", "USMALLINT": "integer",
    "BIGINT": "bigint", "UINTEGER": "bigint",
    "UBIGINT": "numeric", "HUGEINT": "numeric", "UHUGEINT": "numeric", "BIGNUM": "numeric",
    "VARINT": "numeric",
    "BOOLEAN": "boolean",
    "DATE": "date",
    # PostgreSQL keeps microseconds: TIMESTAMP_NS is rounded
    "TIMESTAMP": "timestamp without time zone", "DATETIME": "timestamp without time zone",
    "TIMESTAMP_S": "timestamp without time zone", "TIMESTAMP_MS": "timestamp without time zone",
    "TIMESTAMP_NS": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "TIMESTAMPTZ": "timestamp with time zone",
    "TIME": "time without time zone",
    "TIME WITH TIME ZONE": "time with time zone",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "BLOB": "bytea",
    "JSON": "jsonb",
}
# DuckDB types written as text by DuckDB itself before they reach the CSV
_CAST_TO_TEXT = {"INTERVAL", "UUID", "JSON", "TIME WITH TIME ZONE", "BIGNUM", "VARINT",
                 "UHUGEINT"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_NESTED = re.compile(r"(\[\d*\]$)|^(STRUCT|MAP|UNION)\(")


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    postgres_type: str
    select: str  # the DuckDB expression that reads it, in a form the CSV writer and COPY accept


def _duck_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def map_column(name: str, duckdb_type: str) -> Column:
    """The PostgreSQL type of a DuckDB column and the DuckDB expression that exports it.

    Lists, arrays, structs, maps and unions become jsonb (DuckDB's to_json); ENUMs and anything
    unknown become text. VARCHAR stays text even when it holds JSON (top_drivers): the dbt
    contract types it varchar, and the PostgreSQL copy keeps the contract.
    """
    upper = duckdb_type.strip().upper()
    quoted = _duck_ident(name)
    if (match := _DECIMAL.match(upper)):
        return Column(name, duckdb_type, f"numeric({match[1]},{match[2]})", quoted)
    if upper == "DECIMAL":
        return Column(name, duckdb_type, "numeric", quoted)
    if _NESTED.search(upper):
        return Column(name, duckdb_type, "jsonb", f"to_json({quoted})::varchar")
    if upper == "BLOB":
        # bytea's hex input format
        return Column(name, duckdb_type, "bytea", f"'\\x' || hex({quoted})")
    if upper in _SIMPLE_TYPES:
        select = f"{quoted}::varchar" if upper in _CAST_TO_TEXT else quoted
        return Column(name, duckdb_type, _SIMPLE_TYPES[upper], select)
    # ENUM(...), BIT and whatever DuckDB adds later: their text form
    return Column(name, duckdb_type, "text", f"{quoted}::varchar")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[Column]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'main' and table_name = ? order by ordinal_position",
        [table]).fetchall()
    if not rows:
        raise PostgresExportError(
            f"main.{table} is not in the warehouse yet; run the pipeline (publish) before "
            "exporting it to PostgreSQL")
    return [map_column(name, data_type) for name, data_type in rows]


class _CsvStream:
    """A read-only file over a DuckDB query, as CSV, one Arrow batch at a time (bounded memory)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, query: str):
        self._batches = iter(con.sql(query).to_arrow_reader(BATCH_ROWS))
        self._current = io.BytesIO()
        self.rows = 0

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._current.read(size)
            if data:
                return data
            batch = next(self._batches, None)
            if batch is None:
                return b""
            self.rows += batch.num_rows
            self._current = io.BytesIO()
            pa_csv.write_csv(batch, self._current, _CSV_OPTIONS)
            self._current.seek(0)


# ---------------------------------------------------------------------------------------------
# connecting


def dsn_from_env(config: PostgresExportConfig) -> tuple[str, dict[str, str]]:
    dsn = (os.environ.get(config.dsn_env) or "").strip()
    if not dsn:
        raise PostgresDsnError(
            f"exports.postgres is on but the environment variable {config.dsn_env} is not set "
            "(or empty); set it to a libpq connection string such as "
            "'host=... port=5432 dbname=... user=...', or set exports.postgres to null")
    try:
        params = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.Error:
        # libpq's parse error quotes part of the string, which may be the password: not shown
        raise PostgresDsnError(
            f"the environment variable {config.dsn_env} does not hold a valid PostgreSQL "
            "connection string (key=value pairs or a postgresql:// URI)") from None
    return dsn, params


def describe_target(params: dict[str, str]) -> str:
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "local socket"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    database = (params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user")
                or os.environ.get("PGUSER") or "(the user's name)")
    return f"host {host} port {port} database {database}"


def scrub_secrets(message: str, params: dict[str, str]) -> str:
    password = params.get("password")
    if password:
        message = message.replace(password, "***")
    return " ".join(message.split())


def _connect(dsn: str, params: dict[str, str]):
    extra = {}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if "application_name" not in params:
        extra["application_name"] = "customer-health export"
    try:
        pg = psycopg2.connect(dsn, **extra)
    except psycopg2.Error as exc:
        raise PostgresUnreachable(
            f"cannot connect to PostgreSQL at {describe_target(params)} for the export: "
            f"{scrub_secrets(str(exc), params)}") from None
    pg.set_client_encoding("UTF8")
    return pg


# ---------------------------------------------------------------------------------------------
# loading


def _existing_layout(cur, schema: str, table: str) -> tuple[str | None, list[tuple[str, str]]]:
    cur.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s", (schema, table))
    row = cur.fetchone()
    if row is None:
        return None, []
    cur.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum", (schema, table))
    return row[0], [(name, type_) for name, type_ in cur.fetchall()]


def _copy(cur, con: duckdb.DuckDBPyConnection, schema: str, table: str, source: str,
          columns: list[Column], where: str = "") -> int:
    query = (f"select {', '.join(c.select for c in columns)} from main.{_duck_ident(source)}"
             + (f" where {where}" if where else ""))
    stream = _CsvStream(con, query)
    statement = sql.SQL("copy {}.{} ({}) from stdin with (format csv)").format(
        sql.Identifier(schema), sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c.name) for c in columns))
    cur.copy_expert(statement, stream, size=1 << 20)
    return stream.rows


def _sync_runs(cur, con: duckdb.DuckDBPyConnection, schema: str, table: str, key: str,
               stamp: str, columns: list[Column]) -> tuple[int, str]:
    """Bring an append-only table up to date run by run: delete the runs PostgreSQL holds that
    the warehouse does not (or with another row count or latest ``stamp``, as when a rebuilt
    warehouse scored the same run again), copy the runs it lacks. Rows of the
    runs both hold are left alone, so a publish costs the new run, not the whole history.
    Returns the rows the table holds afterwards and what was done."""
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    cur.execute(sql.SQL("select {key}, count(*), max({stamp}) from {target} group by {key}").format(
        key=sql.Identifier(key), stamp=sql.Identifier(stamp), target=target))
    there = {run: tuple(seen) for run, *seen in cur.fetchall()}
    here = {run: tuple(seen) for run, *seen in con.execute(
        f"select {_duck_ident(key)}, count(*), max({_duck_ident(stamp)}) "
        f"from main.{_duck_ident(table)} group by all").fetchall()}
    stale = sorted(str(run) for run, seen in there.items() if here.get(run) != seen)
    missing = sorted(str(run) for run, seen in here.items() if there.get(run) != seen)
    if stale:
        cur.execute(sql.SQL("delete from {} where {} = any(%s)").format(
            target, sql.Identifier(key)), (stale,))
    if missing:
        values = ", ".join(sql_literal(run) for run in missing)
        _copy(cur, con, schema, table, table, columns, f"{_duck_ident(key)} in ({values})")
    return sum(rows for rows, _ in here.values()), f"{len(missing)} run(s) added, {len(stale)} removed"


def _load_table(cur, con: duckdb.DuckDBPyConnection, schema: str, table: str,
                columns: list[Column]) -> tuple[int, str]:
    """Replace one table's rows inside the caller's transaction: the rows written and how."""
    wanted = [(c.name, c.postgres_type) for c in columns]
    kind, layout = _existing_layout(cur, schema, table)
    if kind is not None and kind not in ("r", "p"):
        raise PostgresExportError(
            f"{schema}.{table} exists in PostgreSQL and is not a table (relkind {kind!r}); "
            "drop or rename it, the export writes a table of that name")
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    if layout == wanted and table in BY_RUN:
        return _sync_runs(cur, con, schema, table, *BY_RUN[table], columns)
    if layout == wanted:
        # same columns: empty and refill in place (MVCC-safe, keeps grants and dependent views)
        cur.execute(sql.SQL("delete from {}").format(target))
        return _copy(cur, con, schema, table, table, columns), "refilled"

    # new table or changed columns: load a staging table, then put it in the old one's place
    staging_name = f"{table}__loading"
    staging = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(staging_name))
    cur.execute(sql.SQL("drop table if exists {}").format(staging))
    cur.execute(sql.SQL("create table {} ({})").format(staging, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.postgres_type))
        for c in columns)))
    rows = _copy(cur, con, schema, staging_name, table, columns)
    if kind is not None:
        cur.execute(sql.SQL("drop table {}").format(target))
    cur.execute(sql.SQL("alter table {} rename to {}").format(staging, sql.Identifier(table)))
    return rows, "created" if kind is None else "replaced, its columns changed"


def export_to_postgres(settings: Settings, *,
                       con: duckdb.DuckDBPyConnection | None = None) -> PostgresExport | None:
    """Copy the configured output tables into PostgreSQL; None when ``exports.postgres`` is off.

    ``con`` is an open connection to the warehouse to read from; without it the warehouse is
    opened read-only (which DuckDB refuses while this process holds a read-write connection to
    it: pass that one instead). All tables are replaced in one transaction.
    """
    config = settings.options.exports.postgres
    if config is None:
        return None
    dsn, params = dsn_from_env(config)
    if con is None:
        with connect(settings.warehouse, read_only=True) as own:
            return _export(own, config, dsn, params)
    return _export(con, config, dsn, params)


def _export(con: duckdb.DuckDBPyConnection, config: PostgresExportConfig, dsn: str,
            params: dict[str, str]) -> PostgresExport:
    start = time.perf_counter()
    schema = config.schema_name
    # every source is read from the catalogue before PostgreSQL is touched
    sources = {table: _columns(con, table) for table in dict.fromkeys(config.tables)}
    where = describe_target(params)
    pg = _connect(dsn, params)
    counts: dict[str, int] = {}
    current = None
    try:
        with pg.cursor() as cur:
            # one export at a time per schema; a second one waits for the first to commit
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))",
                        (f"customer_health export {schema}",))
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            for current, columns in sources.items():
                began = time.perf_counter()
                counts[current], how = _load_table(cur, con, schema, current, columns)
                log.info("postgres export: %s.%s %d rows in %.2f s (%s)", schema, current,
                         counts[current], time.perf_counter() - began, how)
            current = None
        pg.commit()
    except psycopg2.Error as exc:
        what = f"{schema}.{current}" if current else f"schema {schema}"
        message = scrub_secrets(str(exc), params)
        if pg.closed:
            raise PostgresUnreachable(
                f"lost the connection to PostgreSQL at {where} while exporting {what}; nothing "
                f"was changed: {message}") from None
        raise PostgresExportError(
            f"exporting {what} to PostgreSQL at {where} failed; nothing was changed: "
            f"{message}") from None
    finally:
        pg.close()  # an uncommitted transaction is rolled back
    return PostgresExport(schema, counts, time.perf_counter() - start, where)
