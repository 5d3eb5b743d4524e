"""Open the DuckDB warehouse of a dataset and create the tables the pipeline itself writes."""

from __future__ import annotations

import os
import re
import time
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

import duckdb

from customer_health.config import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_VARIABLE, MEMORY_SIZE


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled), for the statements that take
    no parameters (COPY, ATTACH)."""
    return "'" + str(text).replace("'", "''") + "'"


_MEMORY = re.compile(MEMORY_SIZE)

# Tables written by Python (ingest and scoring). Everything else is built by dbt.
SCHEMA_DDL = """
create schema if not exists raw;
create schema if not exists scoring;
create table if not exists raw.pipeline_meta (key varchar primary key, value varchar);
create table if not exists raw.ingest_ledger (
    file_id varchar primary key,
    entity varchar not null,
    path varchar not null,
    content_hash varchar not null,
    file_format varchar,
    status varchar not null,
    rows_in bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    reason varchar,
    extra_columns varchar,
    ingested_at timestamp not null,
    -- the file's size and times when it was loaded: a file known by path, size and times is
    -- not read again to hash it
    file_size bigint,
    file_mtime_ns bigint,
    file_ctime_ns bigint
);
-- columns added after the first release: older warehouses gain them on the next run
alter table raw.ingest_ledger add column if not exists file_size bigint;
alter table raw.ingest_ledger add column if not exists file_mtime_ns bigint;
alter table raw.ingest_ledger add column if not exists file_ctime_ns bigint;
create table if not exists raw.quarantine (
    file_id varchar not null,
    entity varchar not null,
    path varchar not null,
    line bigint,
    rule varchar not null,
    reason varchar not null,
    record varchar
);
create table if not exists raw.validation_results (
    file_id varchar not null,
    entity varchar not null,
    suite varchar not null,
    success boolean not null,
    evaluated integer not null,
    failed varchar,
    result_json varchar,
    validated_at timestamp not null
);
create table if not exists raw.customers (
    customer_id varchar, signup_at timestamp, segment varchar, plan varchar, region varchar,
    account_owner varchar, email varchar, updated_at timestamp,
    _file_id varchar, _line bigint, _ingested_at timestamp
);
create table if not exists raw.transactions (
    transaction_id varchar, customer_id varchar, occurred_at timestamp, type varchar,
    amount double, currency varchar, product varchar, channel varchar,
    _file_id varchar, _line bigint, _ingested_at timestamp
);
create table if not exists raw.interactions (
    interaction_id varchar, customer_id varchar, occurred_at timestamp, channel varchar,
    type varchar, direction varchar, ticket_id varchar, handle_seconds double, csat double,
    nps double, sentiment double, text varchar, topic varchar,
    _file_id varchar, _line bigint, _ingested_at timestamp
);
create table if not exists scoring.churn_scores (
    run_id varchar, scored_at timestamp, as_of date, customer_id varchar, churn_risk double,
    revenue_12m double,
    score_source varchar, model_version varchar, top_drivers varchar, reasons varchar,
    primary_dimension varchar, engagement_score double, experience_score double,
    voice_score double, value_score double, primary_feature varchar
);
-- columns added after the first release: older warehouses gain them on the next run
alter table scoring.churn_scores add column if not exists revenue_12m double;
alter table scoring.churn_scores add column if not exists primary_feature varchar;
create table if not exists scoring.runs (
    run_id varchar primary key, scored_at timestamp, as_of date, model_version varchar,
    customers_scored bigint, data_fingerprint varchar
);
-- model or scorecard, and why a run scored with the scorecard (JSON: unmet bounds, calibration)
alter table scoring.runs add column if not exists score_source varchar;
alter table scoring.runs add column if not exists score_note varchar;
"""


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse for writing."""


# How long a writer (a pipeline step) waits for another process's connection to close: a
# `customer-health status` or at-risk read takes a moment; a BI tool holding the file open
# for longer is named in the error (they should read the serving copy instead).
WRITER_WAIT_SECONDS = 15.0
_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def is_lock_conflict(error: BaseException | str) -> bool:
    """Did DuckDB refuse to open the file because another process holds it?"""
    return "could not set lock on file" in str(error).lower()


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + (0 if read_only else WRITER_WAIT_SECONDS)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            con.execute(f"set memory_limit = '{memory_limit()}'")
            return con
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            holder = _HOLDER.search(str(exc))
            who = f" ({Path(holder[1]).name}, PID {holder[2]})" if holder else ""
            raise WarehouseBusy(
                f"{path}: the warehouse is in use by another process{who} (DuckDB allows one "
                "writer); wait for the running pipeline to finish and retry"
            ) from None


def memory_limit() -> str:
    """DuckDB's memory limit for the warehouse: config ``warehouse.memory_limit``, which
    ``load_settings`` puts in the environment for this module and for dbt's profile."""
    value = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    return value if _MEMORY.match(value) else DEFAULT_MEMORY_LIMIT


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse; writers also make sure the pipeline's own tables exist.

    Writers are pipeline steps, which hold the dataset lock. A reader in a process that runs
    steps of this dataset waits for that lock too (see ``locking.queue_behind_runs``).
    """
    from customer_health.locking import queue_behind_runs  # locking imports this module

    if read_only and not path.exists():
        raise FileNotFoundError(
            f"{path}: no warehouse yet; run `customer-health run` first"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with queue_behind_runs(path) if read_only else nullcontext():
        con = _open(path, read_only)
        try:
            if not read_only:
                con.execute(SCHEMA_DDL)
            yield con
        finally:
            con.close()


def dataset_id(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse's dataset identity; models are only used on the dataset they came from."""
    row = con.execute("select value from raw.pipeline_meta where key = 'dataset_id'").fetchall()
    if row:
        return row[0][0]
    new_id = uuid.uuid4().hex
    con.execute("insert into raw.pipeline_meta values ('dataset_id', ?)", [new_id])
    return new_id
