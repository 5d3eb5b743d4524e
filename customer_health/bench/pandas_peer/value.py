"""Value features (dbt: int_value_features) from the transactions of the last year: recency,
frequency and monetary value with their quintile scores, spend and its trend, the purchase
rhythm, refunds, cancellations and the 12-month revenue."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_health.bench.pandas_peer.events import Events, decimal_mean, decimal_sum, observed, window

FEATURES = (
    "days_since_last_purchase", "purchases_30d", "purchases_90d", "purchases_365d",
    "purchases_per_month_365d", "recency_score", "frequency_score", "monetary_score", "rfm_score",
    "subscription_payments_90d", "spend_30d", "spend_prev_30d", "spend_change_30d", "spend_90d",
    "spend_prev_90d", "spend_change_90d", "spend_180d", "spend_prev_180d", "spend_change_180d",
    "typical_purchase_gap_days", "purchase_overdue_ratio", "refunds_90d", "refund_amount_90d",
    "refund_share_90d", "cancellations_365d", "has_cancelled", "revenue_12m",
)
COUNTS = ("purchases_30d", "purchases_90d", "purchases_365d", "subscription_payments_90d",
          "refunds_90d", "cancellations_365d", "has_cancelled")


def value_features(ev: Events, cut: int, observed_days: pd.Series, spine: pd.Series) -> pd.DataFrame:
    """Per customer (every known id) for the cutoff day ``cut``; the quintile scores rank the
    customers of ``spine`` (a boolean mask) who paid within the year."""
    tx = ev.transactions
    year = window(tx, cut, 365)

    def per_customer(frame: pd.DataFrame):
        return frame.groupby("customer_id", observed=False)

    def count(frame: pd.DataFrame, kind: str) -> pd.Series:
        return per_customer(frame[frame["type"] == kind]).size()

    out = pd.DataFrame(index=ev.customers.index)
    last_payment = per_customer(year[year["is_payment"]])["day"].max()
    out["days_since_last_purchase"] = cut - last_payment
    days_since_last_one_off = cut - per_customer(year[year["type"] == "purchase"])["day"].max()
    for days in (30, 90, 365):
        out[f"purchases_{days}d"] = count(window(year, cut, days), "purchase")
    last_90d = window(year, cut, 90)
    out["subscription_payments_90d"] = count(last_90d, "subscription_payment")
    for days in (30, 90, 180):
        out[f"spend_{days}d"] = decimal_sum(per_customer(window(year, cut, days))["net_micro"].sum())
        out[f"spend_prev_{days}d"] = decimal_sum(
            per_customer(window(year, cut, days, offset=days))["net_micro"].sum())
        out[f"spend_change_{days}d"] = out[f"spend_{days}d"] / out[f"spend_prev_{days}d"].replace(0, np.nan)
    out["refunds_90d"] = count(last_90d, "refund")
    refunds = last_90d[last_90d["type"] == "refund"]
    out["refund_amount_90d"] = decimal_sum(-per_customer(refunds)["net_micro"].sum())
    payments_90d = decimal_sum(per_customer(last_90d[last_90d["is_payment"]])["net_micro"].sum())
    out["refund_share_90d"] = out["refund_amount_90d"] / payments_90d.replace(0, np.nan)
    out["cancellations_365d"] = count(year, "cancellation")
    first_cancelled = per_customer(tx[tx["type"] == "cancellation"])["day"].min()
    out["has_cancelled"] = (first_cancelled < cut).astype("int32")
    out["revenue_12m"] = decimal_sum(per_customer(year)["net_micro"].sum())
    out["typical_purchase_gap_days"] = decimal_mean(per_customer(year)["purchase_gap_micro"])
    out["purchase_overdue_ratio"] = (days_since_last_one_off
                                     / out["typical_purchase_gap_days"].replace(0, np.nan))
    out["purchases_per_month_365d"] = 30.0 * out["purchases_365d"] / observed_days
    out[list(COUNTS)] = out[list(COUNTS)].astype("int32")
    out = out.join(_rfm_scores(out[spine & last_payment.notna()]))

    for column in ("days_since_last_purchase", *COUNTS, "spend_30d", "spend_prev_30d", "spend_90d",
                   "spend_prev_90d", "spend_180d", "spend_prev_180d", "refund_amount_90d", "revenue_12m"):
        out[column] = observed(out[column], ev.coverage["has_transactions"])
    out["purchases_per_month_365d"] = observed(out["purchases_per_month_365d"], ev.coverage["has_purchases"])
    return out[list(FEATURES)]


def _rfm_scores(payers: pd.DataFrame) -> pd.DataFrame:
    """Quintiles (5 = best) as SQL's ntile(5): ordered by the measure, ties by customer id."""
    ids = payers.index.to_numpy(dtype="int64")  # customer numbers follow the sorted ids
    scores = pd.DataFrame(index=payers.index)
    for name, measure, best_low in (("recency_score", "days_since_last_purchase", True),
                                    ("frequency_score", "purchases_365d", False),
                                    ("monetary_score", "revenue_12m", False)):
        key = -payers[measure].to_numpy() if best_low else payers[measure].to_numpy()
        order = np.lexsort((ids, key))
        scores[name] = pd.Series(_ntile(len(payers), 5), index=payers.index[order])
    scores["rfm_score"] = scores.sum(axis=1)
    return scores.astype("int32")


def _ntile(n: int, buckets: int) -> np.ndarray:
    """Bucket (1..buckets) of each of n ordered rows: the first n % buckets buckets get one more."""
    size, extra = divmod(n, buckets)
    position = np.arange(n)
    big = extra * (size + 1)
    return np.where(position < big, position // (size + 1) + 1,
                    extra + (position - big) // max(size, 1) + 1)
