"""Small reads of the published tables for the CLI: the at-risk list, status and evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from customer_health.config import Settings
from customer_health.warehouse import connect

AT_RISK_COLUMNS = [
    "customer_id", "health_band", "health_score", "churn_risk", "revenue_at_risk", "reasons",
    "recommended_action", "trend", "segment", "account_owner", "as_of",
]

# the personal columns `at-risk --format csv/json` adds, as far as privacy.export_personal_data allows
PERSONAL_COLUMNS = {"none": [], "hashed": ["email_hash"], "plain": ["email", "email_hash"]}


class NoScoresYet(LookupError):
    """The warehouse exists but holds no published scores yet."""


@dataclass(frozen=True)
class AtRiskFilter:
    bands: tuple[str, ...] = ("critical", "at_risk")
    segment: str | None = None
    owner: str | None = None
    top: int = 20


def _query(settings: Settings, sql: str, params: list | None = None) -> pd.DataFrame:
    """Run a read-only query with bound parameters; a missing table means nothing is published."""
    with connect(settings.warehouse, read_only=True) as con:
        try:
            return con.execute(sql, params or []).df()
        except duckdb.CatalogException:
            raise NoScoresYet(
                f"{settings.warehouse}: nothing published yet; run `customer-health run`"
            ) from None


def at_risk(settings: Settings, flt: AtRiskFilter) -> pd.DataFrame:
    """Customers in the given bands, most revenue at risk first (bound parameters only).

    Segment and owner match without regard to case. The email hash and the email come along as
    far as privacy.export_personal_data allows.
    """
    where, params = ["health_band in (select unnest(?))"], [list(flt.bands)]
    if flt.segment:
        where.append("lower(segment) = lower(?)")
        params.append(flt.segment)
    if flt.owner:
        where.append("lower(account_owner) = lower(?)")
        params.append(flt.owner)
    columns = AT_RISK_COLUMNS + PERSONAL_COLUMNS[settings.options.privacy.export_personal_data]
    frame = _query(settings,
                   f"select {', '.join(columns)} from main.customer_health "
                   f"where {' and '.join(where)} "
                   "order by revenue_at_risk desc, churn_risk desc, customer_id limit ?",
                   params + [flt.top])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def distinct_values(settings: Settings, column: str) -> list[str]:
    """The segments or owners present, to help a user whose filter matched nothing."""
    if column not in ("segment", "account_owner"):
        raise ValueError(column)
    frame = _query(settings, f"select distinct {column} as v from main.customer_health "
                             f"where {column} is not null order by 1")
    return frame["v"].tolist()


def ledger_summary(settings: Settings) -> pd.DataFrame:
    return _query(settings,
                  "select entity, status, count(*) as files, sum(rows_in) as rows_in, "
                  "sum(rows_loaded) as loaded, sum(rows_quarantined) as quarantined "
                  "from raw.ingest_ledger group by 1, 2 order by 1, 2")


def quarantine_summary(settings: Settings) -> pd.DataFrame:
    return _query(settings, "select entity, rule, count(*) as rows from raw.quarantine "
                            "group by 1, 2 order by 3 desc")


def quarantine_sample(settings: Settings, limit: int = 10) -> pd.DataFrame:
    """The latest quarantined rows: file, line, rule and reason (not the record: personal data)."""
    return _query(settings,
                  "select q.path, q.line, q.rule, q.reason from raw.quarantine q "
                  "join raw.ingest_ledger l using (file_id) "
                  "order by l.ingested_at desc, q.path, q.line limit ?", [limit])


def files_not_loaded(settings: Settings) -> pd.DataFrame:
    """Failed or rejected files whose path has not loaded since (a fixed file clears it)."""
    return _query(settings,
                  "select path, status, reason from raw.ingest_ledger f "
                  "where status in ('failed', 'rejected') and not exists ("
                  "  select 1 from raw.ingest_ledger ok where ok.path = f.path "
                  "  and ok.status in ('loaded', 'partial') and ok.ingested_at > f.ingested_at) "
                  "order by ingested_at, path")


def current_run(settings: Settings) -> dict | None:
    """The run customer_health shows (what users read), with its details."""
    try:
        rows = _query(settings,
                      "select r.run_id, r.scored_at, r.as_of, r.model_version, r.customers_scored "
                      "from scoring.runs r "
                      "where r.run_id = (select max(run_id) from main.customer_health)")
    except NoScoresYet:
        return None
    return None if rows.empty else rows.iloc[0].to_dict()


def run_source(settings: Settings, run_id: str) -> tuple[str, dict]:
    """Where a run's scores came from ("model" or "scorecard") and, for the scorecard, why
    ({"reasons": [...], "calibration": ...}). Warehouses older than these columns read "model"."""
    try:
        rows = _query(settings, "select score_source, score_note from scoring.runs where run_id = ?",
                      [run_id])
    except duckdb.BinderException:
        return "model", {}
    if rows.empty or rows["score_source"].isna().iloc[0]:
        return "model", {}
    note = rows["score_note"].iloc[0]
    return str(rows["score_source"].iloc[0]), (json.loads(note) if isinstance(note, str) and note else {})


def unpublished_run(settings: Settings) -> dict | None:
    """A scored run newer than what customer_health shows (a publish failed or is pending)."""
    try:
        rows = _query(settings,
                      "select run_id, as_of from scoring.runs r where not exists ("
                      "  select 1 from main.customer_health_history h where h.run_id = r.run_id) "
                      "order by as_of desc, scored_at desc limit 1")
    except NoScoresYet:
        rows = _query(settings, "select run_id, as_of from scoring.runs "
                                "order by as_of desc, scored_at desc limit 1")
    return None if rows.empty else rows.iloc[0].to_dict()


def entity_rows(settings: Settings) -> dict[str, int]:
    frame = _query(settings, "select 'customers' as e, count(*) as n from raw.customers "
                             "union all select 'transactions', count(*) from raw.transactions "
                             "union all select 'interactions', count(*) from raw.interactions")
    return dict(zip(frame["e"], frame["n"]))


def customers_outside_feed(settings: Settings) -> int:
    """Customers seen in events but never in the customers feed (no segment, no owner)."""
    frame = _query(settings, "select count(*) as n from main.dim_customers where not in_customer_feed")
    return int(frame["n"].iloc[0])


def band_counts(settings: Settings) -> pd.DataFrame:
    return _query(settings,
                  "select health_band, count(*) as customers, round(sum(revenue_at_risk), 0) "
                  "as revenue_at_risk from main.customer_health group by 1 "
                  "order by min(health_score)")


def current_scores(settings: Settings) -> pd.DataFrame:
    return _query(settings, "select customer_id, churn_risk from main.customer_health")


ALERT_COLUMNS = [
    "as_of", "rule", "customer_id", "health_band", "health_score", "previous_score", "message",
    "segment", "account_owner", "window_start", "window_end", "detected_in_run_id", "alert_id",
    "created_at",
]


def alerts(settings: Settings, since: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Alerts whose scoring date is on or after ``since`` (default: the 30 days up to the current
    run's as-of date), newest first; also returns the date used."""
    if since is None:
        frame = _query(settings, "select cast(max(as_of) as date) - 30 as d from main.customer_health")
        day = frame["d"].iloc[0]
        since = None if pd.isna(day) else pd.Timestamp(day).date().isoformat()
    frame = _query(settings,
                   f"select {', '.join(ALERT_COLUMNS)} from main.health_alerts "
                   "where ? is null or as_of >= cast(? as date) "
                   "order by as_of desc, created_at desc, rule, customer_id", [since, since])
    return frame, since


def current_run_alerts(settings: Settings) -> pd.DataFrame:
    """How many alerts of each rule the current run raised (nothing before the first publish)."""
    try:
        return _query(settings,
                      "select rule, count(*) as alerts from main.health_alerts "
                      "where detected_in_run_id = (select max(run_id) from main.customer_health) "
                      "group by 1 order by 2 desc, 1")
    except NoScoresYet:
        return pd.DataFrame({"rule": [], "alerts": []})
