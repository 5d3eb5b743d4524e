"""The pandas peer: core customer features computed the way churn notebooks do it.

Plain pandas on the same raw rows the pipeline loaded (``raw.transactions``,
``raw.interactions``, ``raw.customers`` of the run's warehouse): for each as-of date of the
feature mart, filter the events before the cutoff (the start of the day after as-of) and
``groupby('customer_id')``. It computes, per customer and as-of date, with the same windows and
definitions as the dbt models:

- ``days_since_last_purchase``: days from the last purchase or subscription payment within 365
  days to the cutoff (recency)
- ``purchases_30d``, ``purchases_90d``, ``purchases_365d`` (frequency)
- ``revenue_12m``: net amount within 365 days, refunds negative, cancellations 0 (monetary)
- ``inbound_30d``, ``inbound_90d``: interactions the customer started
- ``logins_30d``, ``logins_90d``
- ``support_tickets_90d``: inbound ``support_ticket`` interactions (contacts, not cases)
- ``avg_csat_90d``, ``avg_sentiment_90d``

That is 12 of the mart's features (``support_tickets_90d`` has no exact twin there); the dbt
stage builds every feature of ``fct_customer_features`` (about 100) plus labels and runs dbt's
tests, so the ratio flatters the peer.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

PEER_FEATURES = (
    "days_since_last_purchase", "purchases_30d", "purchases_90d", "purchases_365d", "revenue_12m",
    "inbound_30d", "inbound_90d", "logins_30d", "logins_90d", "support_tickets_90d",
    "avg_csat_90d", "avg_sentiment_90d",
)
# Peer features with an exact twin in fct_customer_features (the mart has no inbound_30d).
COMPARABLE = ("days_since_last_purchase", "purchases_30d", "purchases_90d", "purchases_365d",
              "revenue_12m", "inbound_90d", "logins_30d", "logins_90d", "avg_csat_90d",
              "avg_sentiment_90d")
INBOUND_TYPES = ("support_ticket", "complaint", "survey_response", "login", "feature_use")


def load_raw(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The raw rows the peer starts from, as pandas frames (what a notebook reads first)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "transactions": con.execute(
                "select customer_id, occurred_at, type, amount from raw.transactions").df(),
            "interactions": con.execute(
                "select customer_id, occurred_at, type, direction, csat, sentiment "
                "from raw.interactions").df(),
            "customers": con.execute(
                "select customer_id, signup_at from raw.customers").df(),
            "as_of": con.execute(
                "select distinct as_of from main.fct_customer_features order by 1").df(),
        }
    finally:
        con.close()


def _prepare(raw: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tx = raw["transactions"].copy()
    tx["occurred_at"] = pd.to_datetime(tx["occurred_at"])
    amount = tx["amount"].fillna(0.0)
    tx["net_amount"] = np.where(tx["type"] == "refund", -amount.abs(),
                                np.where(tx["type"] == "cancellation", 0.0, amount))
    tx["is_payment"] = tx["type"].isin(["purchase", "subscription_payment"])
    ix = raw["interactions"].copy()
    ix["occurred_at"] = pd.to_datetime(ix["occurred_at"])
    inbound = ix["direction"].eq("inbound")
    inbound = inbound.where(ix["direction"].notna(), ix["type"].isin(INBOUND_TYPES))
    ix = ix[inbound.astype(bool)]
    customers = raw["customers"].copy()
    customers["signup_at"] = pd.to_datetime(customers["signup_at"])
    customers = customers.groupby("customer_id", as_index=False)["signup_at"].min()
    return tx, ix, customers


def features_at(tx: pd.DataFrame, ix: pd.DataFrame, feedback: pd.DataFrame,
                customers: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The peer features of every customer signed up before the cutoff of ``as_of``."""
    cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    spine = customers.loc[customers["signup_at"] < cutoff, ["customer_id"]].set_index("customer_id")

    def since(frame: pd.DataFrame, days: int) -> pd.DataFrame:
        t = frame["occurred_at"]
        return frame[(t < cutoff) & (t >= cutoff - pd.Timedelta(days=days))]

    t365 = since(tx, 365)
    out = spine.copy()
    last_payment = t365[t365["is_payment"]].groupby("customer_id")["occurred_at"].max()
    out["days_since_last_purchase"] = (cutoff - last_payment.dt.normalize()).dt.days
    for days in (30, 90, 365):
        window = t365 if days == 365 else since(t365, days)
        out[f"purchases_{days}d"] = window[window["type"] == "purchase"].groupby("customer_id").size()
    out["revenue_12m"] = t365.groupby("customer_id")["net_amount"].sum()
    i90 = since(ix, 90)
    i30 = since(i90, 30)
    out["inbound_30d"] = i30.groupby("customer_id").size()
    out["inbound_90d"] = i90.groupby("customer_id").size()
    out["logins_30d"] = i30[i30["type"] == "login"].groupby("customer_id").size()
    out["logins_90d"] = i90[i90["type"] == "login"].groupby("customer_id").size()
    out["support_tickets_90d"] = i90[i90["type"] == "support_ticket"].groupby("customer_id").size()
    # feedback counts whether or not the customer started it (survey answers, rated chats)
    f90 = since(feedback, 90)
    out["avg_csat_90d"] = f90.groupby("customer_id")["csat"].mean()
    out["avg_sentiment_90d"] = f90.groupby("customer_id")["sentiment"].mean()
    counts = [c for c in out.columns if c.startswith(("purchases_", "inbound_", "logins_", "support_"))]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["revenue_12m"] = out["revenue_12m"].fillna(0.0)
    out.insert(0, "as_of", pd.Timestamp(as_of).normalize())
    return out.reset_index()


def compute(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The peer features for every as-of date of the mart, stacked."""
    tx, ix, customers = _prepare(raw)
    feedback = raw["interactions"]
    feedback = feedback[feedback["csat"].notna() | feedback["sentiment"].notna()].copy()
    feedback["occurred_at"] = pd.to_datetime(feedback["occurred_at"])
    frames = [features_at(tx, ix, feedback, customers, d)
              for d in pd.to_datetime(raw["as_of"]["as_of"])]
    return pd.concat(frames, ignore_index=True)


def run_peer(warehouse: Path) -> tuple[pd.DataFrame, dict]:
    """(features, timings): ``load_seconds`` to read the raw rows into pandas, ``compute_seconds``
    for the features (the figure compared with the dbt stage), rows and as-of dates."""
    started = time.perf_counter()
    raw = load_raw(warehouse)
    loaded = time.perf_counter()
    features = compute(raw)
    done = time.perf_counter()
    return features, {
        "load_seconds": loaded - started,
        "compute_seconds": done - loaded,
        "rows": int(len(features)),
        "as_of_dates": int(raw["as_of"]["as_of"].nunique()),
        "input_rows": int(len(raw["transactions"]) + len(raw["interactions"])),
        "features": list(PEER_FEATURES),
    }


def agreement(peer: pd.DataFrame, warehouse: Path) -> dict:
    """Compare the peer with ``fct_customer_features`` on the scoring date: per comparable
    feature, customers compared and how many differ (beyond 1e-6, nulls equal only to nulls)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        cols = ", ".join(COMPARABLE)
        mart = con.execute(f"select customer_id, as_of, {cols} from main.fct_customer_features "
                           "where is_scoring_date").df()
    finally:
        con.close()
    mart["as_of"] = pd.to_datetime(mart["as_of"]).dt.normalize()
    joined = mart.merge(peer, on=["customer_id", "as_of"], suffixes=("_dbt", "_pandas"))
    result = {"customers": int(len(joined)), "mart_customers": int(len(mart)), "features": {}}
    for name in COMPARABLE:
        a = pd.to_numeric(joined[f"{name}_dbt"], errors="coerce").astype("float64").to_numpy()
        b = pd.to_numeric(joined[f"{name}_pandas"], errors="coerce").astype("float64").to_numpy()
        both_null = np.isnan(a) & np.isnan(b)
        close = np.isclose(a, b, rtol=1e-6, atol=1e-6)
        result["features"][name] = int((~(both_null | close)).sum())
    result["mismatches"] = int(sum(result["features"].values()))
    return result
