"""The serving copy: a read-only DuckDB file of the output tables for the web app and BI tools.

DuckDB allows one writer, and a reader holding the warehouse open blocks the pipeline. Readers
therefore open ``<home>/serving/customer_health.duckdb`` instead. Each publish writes a new copy
beside it and renames it into place (an atomic swap on one file system): a reader that still
holds the old copy open keeps reading it undisturbed, the next one opens the new copy, and no
run ever waits for a reader.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from customer_health.config import Settings

log = logging.getLogger(__name__)

# How far back the customer page's timeline of interactions and transactions reaches.
TIMELINE_DAYS = 180

# table in the serving copy -> the query on the warehouse that fills it
SERVING_TABLES = {
    "customer_health": "select * from main.customer_health",
    "customer_health_history": "select * from main.customer_health_history",
    "at_risk_customers": "select * from main.at_risk_customers",
    "health_alerts": "select * from main.health_alerts",
    "dim_customers": "select * from main.dim_customers",
    "scoring_runs": "select run_id, scored_at, as_of, model_version, customers_scored, "
                    "score_source from scoring.runs",
    # the timelines hold no personal data: staging keeps no email or free text
    "interactions": f"""
        select interaction_id, customer_id, ticket_id, channel, interaction_type, direction, topic,
               handle_seconds, csat, nps, sentiment, is_inbound, occurred_at
        from main.stg_interactions
        where occurred_at >= (select max(as_of) from main.customer_health)
                             - interval {TIMELINE_DAYS} day""",
    "transactions": f"""
        select transaction_id, customer_id, transaction_type, currency, product, channel, amount,
               net_amount, is_payment, occurred_at
        from main.stg_transactions
        where occurred_at >= (select max(as_of) from main.customer_health)
                             - interval {TIMELINE_DAYS} day""",
}


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def publish_serving_copy(settings: Settings, con: duckdb.DuckDBPyConnection) -> Path:
    """Write the serving copy from the open warehouse ``con`` and swap it into place."""
    target = settings.serving_file
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con.execute(f"attach {_quoted(staging)} as serving_copy")
    try:
        for table, query in SERVING_TABLES.items():
            con.execute(f"create table serving_copy.main.{table} as {query}")
    finally:
        con.execute("detach serving_copy")
    with open(staging, "rb") as handle:  # on disk before it becomes the copy readers open
        os.fsync(handle.fileno())
    os.replace(staging, target)
    log.info("serving copy %s: %d tables", target, len(SERVING_TABLES))
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
