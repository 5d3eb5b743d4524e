"""Engagement features (dbt: int_engagement_features) from the days on which the customer
started an interaction: recency, active days and their change, inbound contacts, logins and
feature uses, and the exponentially decayed activity score."""

from __future__ import annotations

import pandas as pd

from customer_health.bench.pandas_peer.events import Events, decimal_sum, micro, observed, window

FEATURES = (
    "days_since_last_inbound", "active_days_7d", "active_days_30d", "active_days_90d",
    "active_days_prev_90d", "active_days_change_90d", "inbound_90d", "activity_score",
    "logins_30d", "logins_90d", "logins_per_week_365d",
    "feature_uses_30d", "feature_uses_90d", "feature_uses_per_week_365d",
)


def engagement_features(ev: Events, cut: int, observed_days: pd.Series,
                        half_life_days: float) -> pd.DataFrame:
    """Per customer (every known id) for the cutoff day ``cut``; ``observed_days``: days of the
    last year observed for each customer (since signup or the first day of data)."""
    year = window(ev.days, cut, 365)

    def per_customer(frame: pd.DataFrame):
        return frame.groupby("customer_id", observed=False)

    out = pd.DataFrame(index=ev.customers.index)
    out["days_since_last_inbound"] = cut - per_customer(year)["day"].max()
    for days in (7, 30, 90):
        out[f"active_days_{days}d"] = per_customer(window(year, cut, days)).size()
    out["active_days_prev_90d"] = per_customer(window(year, cut, 90, offset=90)).size()
    out["inbound_90d"] = per_customer(window(year, cut, 90))["inbound"].sum()
    # each interaction counts 0.5^(age in days / half-life), age 0 on the as-of day
    weight = micro(0.5 ** ((cut - 1 - year["day"]) / half_life_days))
    out["activity_score"] = decimal_sum(
        (year["inbound"] * weight).groupby(year["customer_id"], observed=False).sum())
    for name in ("logins", "feature_uses"):
        for days in (30, 90):
            out[f"{name}_{days}d"] = per_customer(window(year, cut, days))[name].sum()
    counts = [c for c in out.columns if c.startswith(("active_days", "inbound", "logins", "feature_uses"))]
    out[counts] = out[counts].astype("int32")
    # only once the customer has a full previous 90 days to compare with
    out["active_days_change_90d"] = (out["active_days_90d"] - out["active_days_prev_90d"]
                                     ).where(observed_days >= 180)
    for name in ("logins", "feature_uses"):
        out[f"{name}_per_week_365d"] = 7.0 * per_customer(year)[name].sum() / observed_days

    for column in out.columns:
        if column.startswith(("logins", "feature_uses")):
            out[column] = observed(out[column], ev.coverage["has_product_usage"])
        elif column != "days_since_last_inbound":
            out[column] = observed(out[column], ev.coverage["has_interactions"])
    return out[list(FEATURES)]
