"""The serving copy: a read-only DuckDB file of the output tables for the web app and BI tools.

DuckDB allows one writer, and a reader holding the warehouse open blocks the pipeline. Readers
therefore open ``<home>/serving/customer_health.duckdb`` instead. Each publish writes a new copy
beside it and renames it into place (an atomic swap on one file system): a reader that still
holds the old copy open keeps reading it undisturbed, the next one opens the new copy, and no
run ever waits for a reader.

The new copy starts as a file copy of the previous one and is brought up to date rather than
written again: the small tables are replaced, the score history gains the runs it lacks, and the
interaction and transaction timelines drop the rows that left their window and gain the rows
loaded since the last publish. A table whose columns changed, whose state does not match the
warehouse, or whose refreshed rows do not add up to the warehouse's is written whole, and a
missing or unreadable previous copy, or one that is mostly free space, means writing every
table.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import duckdb

from customer_health.config import Settings
from customer_health.warehouse import dataset_id, sql_literal

log = logging.getLogger(__name__)

# How far back the customer page's timeline of interactions and transactions reaches.
TIMELINE_DAYS = 180

# The timelines hold no personal data: staging keeps no email or free text.
# table in the serving copy -> (staging model it is a window of, its columns)
TIMELINES = {
    "interactions": ("main.stg_interactions",
                     "interaction_id, customer_id, ticket_id, channel, interaction_type, "
                     "direction, topic, handle_seconds, csat, nps, sentiment, is_inbound, "
                     "occurred_at"),
    "transactions": ("main.stg_transactions",
                     "transaction_id, customer_id, transaction_type, currency, product, channel, "
                     "amount, net_amount, is_payment, occurred_at"),
}
# the first moment a timeline shows: TIMELINE_DAYS before the current scoring date
TIMELINE_START = f"(select max(as_of) from main.customer_health) - interval {TIMELINE_DAYS} day"
# One row per customer per scoring run, append-only: a run in the history never changes.
HISTORY = "customer_health_history"

# table in the serving copy -> the query on the warehouse that fills it
SERVING_TABLES = {
    "customer_health": "select * from main.customer_health",
    HISTORY: f"select * from main.{HISTORY}",
    "at_risk_customers": "select * from main.at_risk_customers",
    "health_alerts": "select * from main.health_alerts",
    "dim_customers": "select * from main.dim_customers",
    "scoring_runs": "select run_id, scored_at, as_of, model_version, customers_scored, "
                    "score_source from scoring.runs",
    **{table: f"select {columns} from {source} where occurred_at >= {TIMELINE_START}"
       for table, (source, columns) in TIMELINES.items()},
}

COPY = "serving_copy"   # the name the copy being written is attached under
# A previous copy more than this share free space (dropped tables) is written anew, which
# compacts it; otherwise each publish reuses the space the previous one freed.
MAX_FREE_SHARE = 0.5


def _quoted(path: Path) -> str:
    return sql_literal(str(path))


def publish_serving_copy(settings: Settings, con: duckdb.DuckDBPyConnection) -> Path:
    """Write the serving copy from the open warehouse ``con`` and swap it into place."""
    target = settings.serving_file
    target.parent.mkdir(parents=True, exist_ok=True)
    # what a publish that crashed left behind (publishes of a dataset take turns: its lock)
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        leftover.unlink(missing_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _attach_previous(con, target, staging)
        try:
            with _bulk_writes(con):
                refreshed = _refresh(con)
        finally:
            con.execute(f"detach {COPY}")
        with open(staging, "rb") as handle:  # on disk before it becomes the copy readers open
            os.fsync(handle.fileno())
        os.replace(staging, target)
    finally:
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)
    log.info("serving copy %s: %d tables; %s", target, len(SERVING_TABLES),
             f"{', '.join(refreshed)} brought up to date from the previous copy, the others "
             "written whole" if refreshed else "all written whole")
    return target


def open_serving_copy(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the serving copy as it is now (FileNotFoundError before the
    first publish).

    The copy is attached to a private in-memory database rather than opened with
    ``duckdb.connect(path)``: DuckDB hands a second connect to the same path the database this
    process already has open, which after a swap would still be the old copy.
    """
    if not settings.serving_file.exists():
        raise FileNotFoundError(f"{settings.serving_file}: nothing published yet; run "
                                "`customer-health run` (or publish) first")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"attach {_quoted(settings.serving_file)} as serving (read_only)")
        con.execute("use serving")
    except Exception:
        con.close()
        raise
    return con


# -- building the new copy ----------------------------------------------------------------------

def _attach_previous(con: duckdb.DuckDBPyConnection, target: Path, staging: Path) -> None:
    """Attach ``staging`` as COPY: a file copy of ``target`` when there is one worth bringing
    up to date, else a new empty database."""
    if target.exists():
        try:
            shutil.copyfile(target, staging)   # readers hold it read-only: the file is stable
            con.execute(f"attach {_quoted(staging)} as {COPY}")
        except (OSError, duckdb.Error) as exc:
            log.warning("serving copy %s cannot be reused (%s); writing it whole", target, exc)
        else:
            total, free = con.execute("select total_blocks, free_blocks from pragma_database_size() "
                                      "where database_name = ?", [COPY]).fetchone()
            if free <= MAX_FREE_SHARE * total:
                return
            con.execute(f"detach {COPY}")
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)
    con.execute(f"attach {_quoted(staging)} as {COPY}")


@contextmanager
def _bulk_writes(con: duckdb.DuckDBPyConnection):
    """Let DuckDB write rows in any order (the copy's tables promise none) so that both threads
    fill a table at once; the warehouse connection gets its own setting back afterwards."""
    before = con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {'true' if before else 'false'}")


def _refresh(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring every table of COPY up to date; returns those not written whole."""
    present = _layouts(con)
    for table in set(present) - set(SERVING_TABLES):   # no longer served
        con.execute(f"drop table {COPY}.main.{table}")
    refreshed = []
    for table, query in SERVING_TABLES.items():
        if table in present and present[table] == _layout(con, query) and (
                (table == HISTORY and _append_runs(con))
                or (table in TIMELINES and _refresh_timeline(con, table))):
            refreshed.append(table)
            continue
        if table in present:
            con.execute(f"drop table {COPY}.main.{table}")
        con.execute(f"create table {COPY}.main.{table} as {query}")
        if table in TIMELINES:
            _set_state(con, table, _timeline_state(con, table))
    return refreshed


def _layouts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, type), ...]} of the tables in COPY."""
    layouts: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in con.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where database_name = ? and schema_name = 'main' "
            "order by table_name, column_index", [COPY]).fetchall():
        layouts.setdefault(table, []).append((column, data_type))
    return layouts


def _layout(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"describe {query}").fetchall()]


def _append_runs(con: duckdb.DuckDBPyConnection) -> bool:
    """Add the scoring runs the copy's history lacks; False when the runs it holds are not the
    warehouse's (rows, scoring times), so the history must be written whole."""
    fingerprint = "select run_id, count(*), min(scored_at), max(scored_at) from {} group by 1"
    held = dict((r[0], r[1:]) for r in con.execute(
        fingerprint.format(f"{COPY}.main.{HISTORY}")).fetchall())
    runs = dict((r[0], r[1:]) for r in con.execute(
        fingerprint.format(f"main.{HISTORY}")).fetchall())
    if any(runs.get(run) != rows for run, rows in held.items()):
        return False
    if set(runs) - set(held):
        con.execute(f"insert into {COPY}.main.{HISTORY} {SERVING_TABLES[HISTORY]} "
                    f"where run_id not in (select run_id from {COPY}.main.{HISTORY})")
    return True


# -- timelines ----------------------------------------------------------------------------------
# The raw events under a timeline are only ever appended (each batch stamped with loaded_at), so
# a timeline copied from the last publish lacks only the rows loaded since (and, when the window
# moved back, those between its new and old start). The table's comment keeps what it holds:
# its window's start, the last loaded_at it has seen and the warehouse's dataset id.

def _timeline_state(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    source = TIMELINES[table][0]
    start, loaded = con.execute(f"select {TIMELINE_START}, (select max(loaded_at) from {source})"
                                ).fetchone()
    return {"dataset": dataset_id(con), "start": _text(start), "loaded_through": _text(loaded)}


def _text(value) -> str | None:
    return None if value is None else str(value)


def _state(con: duckdb.DuckDBPyConnection, table: str) -> dict | None:
    row = con.execute("select comment from duckdb_tables() where database_name = ? "
                      "and schema_name = 'main' and table_name = ?", [COPY, table]).fetchone()
    try:
        state = json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _set_state(con: duckdb.DuckDBPyConnection, table: str, state: dict) -> None:
    text = json.dumps(state).replace("'", "''")
    con.execute(f"comment on table {COPY}.main.{table} is '{text}'")


def _refresh_timeline(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Move the copy's timeline to the warehouse's window; False when it cannot be (no state,
    another dataset, no window) or the result does not match the warehouse's rows."""
    old, new = _state(con, table), _timeline_state(con, table)
    if (not old or old.get("dataset") != new["dataset"] or None in (
            old.get("start"), old.get("loaded_through"), new["start"], new["loaded_through"])):
        return False
    source, columns = TIMELINES[table]
    target = f"{COPY}.main.{table}"
    con.execute(f"delete from {target} where occurred_at < cast(? as timestamp)", [new["start"]])
    con.execute(f"insert into {target} select {columns} from {source} "
                "where occurred_at >= cast(? as timestamp) and "
                "(loaded_at > cast(? as timestamp) or occurred_at < cast(? as timestamp))",
                [new["start"], old["loaded_through"], old["start"]])
    # Right by construction while raw is only appended to; should that ever not hold (a clock
    # set back, a restored or edited raw table), rows missing or doubled show in the count.
    check = "select count(*), min(occurred_at), max(occurred_at) from {}"
    held = con.execute(check.format(target)).fetchone()
    wanted = con.execute(check.format(source) + " where occurred_at >= cast(? as timestamp)",
                         [new["start"]]).fetchone()
    if held != wanted:
        log.warning("serving copy: the refreshed %s timeline holds %s rows where the warehouse "
                    "has %s; writing it whole", table, held[0], wanted[0])
        return False
    _set_state(con, table, new)
    return True
