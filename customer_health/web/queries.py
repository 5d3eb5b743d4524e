"""Reads of the serving copy for the pages and the API, with bound parameters only.

Every value a user sends is a bound parameter (``?``); the only SQL put together from pieces is
the sort, and those pieces come from the fixed maps below (``SORT_SQL``, ``ORDER_SQL``), looked up
by keys that were validated first. Each request opens its own read-only view of the current copy
(``serving_connection``), so a publish that swaps the copy in is seen by the next request and no
reader ever holds up the pipeline.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import duckdb

from customer_health.config import Settings
from customer_health.serving import open_serving_copy
from customer_health.web.params import SORT_KEYS, AlertParams, AtRiskParams, Paging

LIST_COLUMNS = ("rank", "customer_id", "health_band", "override_band", "health_score",
                "previous_score", "score_delta", "trend", "churn_risk", "revenue_12m",
                "revenue_at_risk", "segment", "plan", "region", "account_owner", "reasons",
                "recommended_action", "as_of", "score_source", "model_version", "email_hash",
                "email")
_SEVERITY = ("case {c} when 'critical' then 0 when 'at_risk' then 1 when 'watch' then 2 "
             "when 'healthy' then 3 end")
SORT_SQL = {
    "rank": "rank",
    "customer_id": "customer_id",
    "health_band": _SEVERITY.format(c="health_band"),
    "override_band": _SEVERITY.format(c="override_band"),
    "health_score": "health_score",
    "score_delta": "score_delta",
    "trend": "trend",
    "churn_risk": "churn_risk",
    "revenue_12m": "revenue_12m",
    "revenue_at_risk": "revenue_at_risk",
    "segment": "lower(segment)",
    "account_owner": "lower(account_owner)",
    "reasons": "reasons",
    "recommended_action": "recommended_action",
}
ORDER_SQL = {"asc": "asc", "desc": "desc"}
assert set(SORT_SQL) == set(SORT_KEYS), "every sort key needs its SQL"

ALERT_COLUMNS = ("alert_id", "as_of", "rule", "customer_id", "health_band", "health_score",
                 "previous_score", "message", "segment", "account_owner", "window_start",
                 "window_end", "detected_in_run_id", "created_at")


class NothingPublished(LookupError):
    """No serving copy yet: the pipeline has not published."""


@contextmanager
def serving_connection(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only view of the serving copy as it is now (a swapped-in copy is seen at once)."""
    if not settings.serving_file.is_file():
        raise NothingPublished(f"nothing published yet in {settings.home}: run "
                               "`customer-health run` (or publish) first")
    con = open_serving_copy(settings)
    try:
        yield con
    finally:
        con.close()


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# ---------------------------------------------------------------- at-risk list

def _segment_and_owner(params: AtRiskParams | AlertParams, where: list[str], args: list[Any],
                       table: str = "") -> None:
    """The segment and owner filters both lists share (matched without regard to case)."""
    for column, value in (("segment", params.segment), ("account_owner", params.owner)):
        if value is not None:
            where.append(f"lower({table}{column}) = lower(?)")
            args.append(value)


def _listed_sql(params: AtRiskParams, bands: Sequence[str], overrides: dict[str, str]
                ) -> tuple[str, list[Any]]:
    """The filtered list (with its rank by revenue at risk) as a CTE, and its parameters."""
    where = ["h.health_band in (select unnest(?::varchar[]))"]
    args: list[Any] = [list(overrides), list(overrides.values()), list(bands)]
    _segment_and_owner(params, where, args, table="h.")
    if params.min_revenue is not None:
        where.append("h.revenue_12m >= ?")
        args.append(params.min_revenue)
    search = ""
    if params.q is not None:
        search = "where contains(lower(customer_id), lower(?))"
        args.append(params.q)
    sql = f"""
        with overrides as (
            select unnest(?::varchar[]) as customer_id, unnest(?::varchar[]) as override_band
        ),
        ranked as (
            select row_number() over (order by h.revenue_at_risk desc nulls last,
                                               h.churn_risk desc nulls last, h.customer_id) as rank,
                   h.customer_id, h.health_band, o.override_band, h.health_score, h.previous_score,
                   h.score_delta, h.trend, h.churn_risk, h.revenue_12m, h.revenue_at_risk,
                   h.segment, h.plan, h.region, h.account_owner, h.reasons, h.recommended_action,
                   h.as_of, h.score_source, h.model_version, h.email_hash, h.email
            from customer_health as h
            left join overrides as o on o.customer_id = h.customer_id
            where {' and '.join(where)}
        ),
        listed as (select * from ranked {search})"""
    return sql, args


def at_risk_page(con: duckdb.DuckDBPyConnection, params: AtRiskParams, bands: Sequence[str],
                 overrides: dict[str, str], page: Paging | None) -> tuple[list[dict], dict]:
    """One page of the list (every matching row when ``page`` is None) and the totals of every
    matching row: {"total": rows, "revenue_at_risk": their sum}.

    ``overrides`` maps customer ids to their active override band (from the overrides store).
    """
    listed, args = _listed_sql(params, bands, overrides)
    total, revenue = con.execute(f"{listed} select count(*), coalesce(sum(revenue_at_risk), 0) "
                                 "from listed", args).fetchone()
    order = (f"{SORT_SQL[params.sort]} {ORDER_SQL[params.direction()]} nulls last, "
             "rank asc")
    sql = f"{listed} select {', '.join(LIST_COLUMNS)} from listed order by {order}"
    if page is not None:
        sql += " limit ? offset ?"
        args = [*args, page.limit, page.offset]
    return _dicts(con.execute(sql, args)), {"total": int(total), "revenue_at_risk": float(revenue)}


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The segments and owners present, for the list's drop-downs."""
    out = {}
    for key, column in (("segments", "segment"), ("owners", "account_owner")):
        rows = con.execute(f"select distinct {column} from customer_health "
                           f"where {column} is not null order by 1").fetchall()
        out[key] = [r[0] for r in rows]
    return out


# ---------------------------------------------------------------- one customer

def _drivers(raw: Any) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        drivers = json.loads(raw)
    except (TypeError, ValueError):
        return []
    return [d for d in drivers if isinstance(d, dict)] if isinstance(drivers, list) else []


def customer(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any] | None:
    """The customer's current row of customer_health (drivers parsed), None when not scored."""
    rows = _dicts(con.execute("select * from customer_health where customer_id = ?", [customer_id]))
    if not rows:
        return None
    row = rows[0]
    row["top_drivers"] = _drivers(row.get("top_drivers"))
    return row


def history(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    """One point per scoring date (the latest run of a date), oldest first."""
    return _dicts(con.execute(
        """select as_of, health_score, health_band, churn_risk, engagement_score, experience_score,
                  voice_score, value_score, revenue_at_risk, model_version, score_source, run_id,
                  scored_at
           from customer_health_history
           where customer_id = ?
           qualify row_number() over (partition by as_of order by scored_at desc, run_id desc) = 1
           order by as_of""", [customer_id]))


def interactions(con: duckdb.DuckDBPyConnection, customer_id: str, limit: int) -> list[dict]:
    """The customer's latest interactions on every channel, newest first."""
    return _dicts(con.execute(
        """select occurred_at, channel, interaction_type, direction, topic, ticket_id,
                  handle_seconds, csat, nps, sentiment
           from interactions where customer_id = ?
           order by occurred_at desc, interaction_id desc limit ?""", [customer_id, limit]))


def transactions(con: duckdb.DuckDBPyConnection, customer_id: str, limit: int) -> list[dict]:
    """The customer's latest transactions, newest first."""
    return _dicts(con.execute(
        """select occurred_at, transaction_type, product, channel, amount, net_amount, currency,
                  transaction_id
           from transactions where customer_id = ?
           order by occurred_at desc, transaction_id desc limit ?""", [customer_id, limit]))


# ---------------------------------------------------------------- alerts

def alerts_page(con: duckdb.DuckDBPyConnection, params: AlertParams, page: Paging
                ) -> tuple[list[dict], int]:
    """Alerts matching the filters, newest first, and how many match."""
    where, args = ["true"], []
    if params.since is not None:
        where.append("as_of >= ?")
        args.append(params.since)
    if params.until is not None:
        where.append("as_of <= ?")
        args.append(params.until)
    if params.rule:
        where.append("rule in (select unnest(?::varchar[]))")
        args.append(list(params.rule))
    if params.band:
        where.append("health_band in (select unnest(?::varchar[]))")
        args.append(list(params.band))
    _segment_and_owner(params, where, args)
    if params.customer_id is not None:
        where.append("customer_id = ?")
        args.append(params.customer_id)
    condition = " and ".join(where)
    total = con.execute(f"select count(*) from health_alerts where {condition}", args).fetchone()[0]
    rows = _dicts(con.execute(
        f"select {', '.join(ALERT_COLUMNS)} from health_alerts where {condition} "
        "order by as_of desc, created_at desc, rule, customer_id, alert_id limit ? offset ?",
        [*args, page.limit, page.offset]))
    return rows, int(total)


def customer_alerts(con: duckdb.DuckDBPyConnection, customer_id: str, limit: int = 20
                    ) -> list[dict]:
    return _dicts(con.execute(
        f"select {', '.join(ALERT_COLUMNS)} from health_alerts where customer_id = ? "
        "order by as_of desc, created_at desc limit ?", [customer_id, limit]))


# ---------------------------------------------------------------- portfolio

def overview(con: duckdb.DuckDBPyConnection, bands: Sequence[str]) -> dict[str, Any]:
    """Totals of the current run: customers, revenue, revenue at risk, the at-risk bands' share."""
    row = _dicts(con.execute(
        """select count(*) as customers,
                  coalesce(sum(revenue_12m), 0) as revenue_12m,
                  coalesce(sum(revenue_at_risk), 0) as revenue_at_risk,
                  count(*) filter (where health_band in (select unnest(?::varchar[]))) as at_risk_customers,
                  coalesce(sum(revenue_12m) filter (
                      where health_band in (select unnest(?::varchar[]))), 0) as at_risk_revenue_12m,
                  max(as_of) as as_of, max(run_id) as run_id, max(scored_at) as scored_at,
                  string_agg(distinct model_version, ', ') as model_version,
                  string_agg(distinct score_source, ', ') as score_source,
                  count(*) filter (where previous_score is not null) as with_previous
           from customer_health""", [list(bands), list(bands)]))[0]
    return row


def by_band(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _dicts(con.execute(
        f"""select health_band, count(*) as customers, coalesce(sum(revenue_12m), 0) as revenue_12m,
                   coalesce(sum(revenue_at_risk), 0) as revenue_at_risk
            from customer_health group by 1 order by {_SEVERITY.format(c='health_band')}"""))


def by_segment_band(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _dicts(con.execute(
        f"""select coalesce(segment, '(none)') as segment, health_band, count(*) as customers,
                   coalesce(sum(revenue_12m), 0) as revenue_12m,
                   coalesce(sum(revenue_at_risk), 0) as revenue_at_risk
            from customer_health group by 1, 2
            order by 1, {_SEVERITY.format(c='health_band')}"""))


def movers(con: duckdb.DuckDBPyConnection, n: int) -> dict[str, list[dict[str, Any]]]:
    """The biggest drops and rises of health score since each customer's previous run."""
    columns = ("customer_id, health_band, health_score, previous_score, score_delta, "
               "revenue_at_risk, segment, account_owner, reasons")
    out = {}
    for key, condition, order in (("declined", "score_delta < 0", "score_delta asc"),
                                  ("improved", "score_delta > 0", "score_delta desc")):
        out[key] = _dicts(con.execute(
            f"select {columns} from customer_health where {condition} "
            f"order by {order}, revenue_at_risk desc nulls last, customer_id limit ?", [n]))
    return out


def common_drivers(con: duckdb.DuckDBPyConnection, bands: Sequence[str], n: int
                   ) -> list[dict[str, Any]]:
    """The drivers most often among the top reasons of the customers in ``bands``."""
    return _dicts(con.execute(
        """with drivers as (
               select h.customer_id, h.revenue_at_risk, d.driver
               from customer_health as h,
                    unnest(from_json(h.top_drivers,
                           '[{"feature": "VARCHAR", "label": "VARCHAR", "dimension": "VARCHAR"}]'))
                    as d(driver)
               where h.health_band in (select unnest(?::varchar[]))
           )
           select driver.feature as feature,
                  coalesce(max(driver.label), driver.feature) as label,
                  max(driver.dimension) as dimension,
                  count(distinct customer_id) as customers,
                  coalesce(sum(revenue_at_risk), 0) as revenue_at_risk
           from drivers
           where driver.feature is not null
           group by driver.feature
           order by customers desc, revenue_at_risk desc, feature
           limit ?""", [list(bands), n]))


def channel_pain(con: duckdb.DuckDBPyConnection, bands: Sequence[str], days: int
                 ) -> list[dict[str, Any]]:
    """Per channel, the contacts of the last ``days`` that signal pain (complaints, CSAT 1-2,
    clearly negative sentiment), and how many of them came from customers in ``bands``."""
    return _dicts(con.execute(
        """with pain as (
               select i.channel, i.customer_id
               from interactions as i
               where i.occurred_at >= (select max(as_of) from customer_health) - to_days(?)
                 and (i.interaction_type = 'complaint' or i.csat <= 2 or i.sentiment <= -0.5)
           )
           select coalesce(p.channel, 'other') as channel, count(*) as contacts,
                  count(*) filter (where h.health_band in (select unnest(?::varchar[])))
                      as from_at_risk
           from pain as p left join customer_health as h using (customer_id)
           group by 1 order by 2 desc, 1""", [days, list(bands)]))
