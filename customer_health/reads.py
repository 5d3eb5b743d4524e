"""Small reads of the published tables for the CLI: the at-risk list, status and evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from customer_health.config import Settings
from customer_health.warehouse import connect

AT_RISK_COLUMNS = [
    "customer_id", "health_band", "health_score", "churn_risk", "revenue_at_risk", "reasons",
    "recommended_action", "trend", "segment", "account_owner", "as_of",
]


@dataclass(frozen=True)
class AtRiskFilter:
    bands: tuple[str, ...] = ("critical", "at_risk")
    segment: str | None = None
    owner: str | None = None
    top: int = 20


def at_risk(settings: Settings, flt: AtRiskFilter) -> pd.DataFrame:
    """Customers in the given bands, most revenue at risk first (bound parameters only)."""
    where, params = ["health_band in (select unnest(?))"], [list(flt.bands)]
    if flt.segment:
        where.append("segment = ?")
        params.append(flt.segment)
    if flt.owner:
        where.append("account_owner = ?")
        params.append(flt.owner)
    sql = (f"select {', '.join(AT_RISK_COLUMNS)} from main.customer_health "
           f"where {' and '.join(where)} "
           "order by revenue_at_risk desc, churn_risk desc, customer_id limit ?")
    with connect(settings.warehouse, read_only=True) as con:
        frame = con.execute(sql, params + [flt.top]).df()
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def ledger_summary(settings: Settings) -> pd.DataFrame:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute(
            "select entity, status, count(*) as files, sum(rows_in) as rows_in, "
            "sum(rows_loaded) as loaded, sum(rows_quarantined) as quarantined "
            "from raw.ingest_ledger group by 1, 2 order by 1, 2").df()


def quarantine_summary(settings: Settings) -> pd.DataFrame:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute(
            "select entity, rule, count(*) as rows from raw.quarantine "
            "group by 1, 2 order by 3 desc").df()


def failed_files(settings: Settings) -> pd.DataFrame:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute(
            "select path, status, reason from raw.ingest_ledger "
            "where status in ('failed', 'rejected') order by ingested_at, path").df()


def current_run(settings: Settings) -> dict | None:
    """The run customer_health shows: the latest as-of date, its latest run."""
    with connect(settings.warehouse, read_only=True) as con:
        rows = con.execute(
            "select run_id, scored_at, as_of, model_version, customers_scored "
            "from scoring.runs order by as_of desc, scored_at desc, run_id desc limit 1").df()
    return None if rows.empty else rows.iloc[0].to_dict()


def entity_rows(settings: Settings) -> dict[str, int]:
    with connect(settings.warehouse, read_only=True) as con:
        return {e: con.execute(f"select count(*) from raw.{e}").fetchall()[0][0]
                for e in ("customers", "transactions", "interactions")}


def band_counts(settings: Settings) -> pd.DataFrame:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute(
            "select health_band, count(*) as customers, round(sum(revenue_at_risk), 0) "
            "as revenue_at_risk from main.customer_health group by 1 "
            "order by min(health_score)").df()


def current_scores(settings: Settings) -> pd.DataFrame:
    with connect(settings.warehouse, read_only=True) as con:
        return con.execute("select customer_id, churn_risk from main.customer_health").df()
