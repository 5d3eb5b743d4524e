"""Voice-of-the-customer features (dbt: int_voice_features) from the answers and messages that
carry a CSAT, an NPS or a sentiment, and the topics raised in complaints and tickets. Feedback
that was never given is null, never zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_health.bench.pandas_peer.events import Events, decimal_mean, window

FEATURES = (
    "last_csat", "avg_csat_90d", "csat_change_90d", "last_nps", "nps_category", "avg_nps_365d",
    "avg_sentiment_30d", "avg_sentiment_90d", "avg_sentiment_365d", "sentiment_change_90d",
    "negative_feedback_90d", "negative_feedback_share_90d", "top_complaint_topic_180d",
)


def voice_features(ev: Events, cut: int) -> pd.DataFrame:
    """Per customer (every known id) for the cutoff day ``cut``."""

    def per_customer(frame: pd.DataFrame):
        return frame.groupby("customer_id", observed=False)

    year = window(ev.feedback, cut, 365)
    last_90d, previous_90d = window(year, cut, 90), window(year, cut, 90, offset=90)
    out = pd.DataFrame(index=ev.customers.index)
    # feedback is sorted oldest first: the last answer given is the latest
    out["last_csat"] = per_customer(year)["csat"].last()
    out["avg_csat_90d"] = decimal_mean(per_customer(last_90d)["csat_micro"])
    out["csat_change_90d"] = out["avg_csat_90d"] - decimal_mean(per_customer(previous_90d)["csat_micro"])
    out["last_nps"] = per_customer(year)["nps"].last()
    out["nps_category"] = np.select([out["last_nps"] >= 9, out["last_nps"] >= 7, out["last_nps"] >= 0],
                                    ["promoter", "passive", "detractor"], default=None)
    out["avg_nps_365d"] = decimal_mean(per_customer(year)["nps_micro"])
    for days, frame in ((30, window(year, cut, 30)), (90, last_90d), (365, year)):
        out[f"avg_sentiment_{days}d"] = decimal_mean(per_customer(frame)["sentiment_micro"])
    out["sentiment_change_90d"] = (out["avg_sentiment_90d"]
                                   - decimal_mean(per_customer(previous_90d)["sentiment_micro"]))
    feedback_90d = per_customer(last_90d).size()
    negative_90d = per_customer(last_90d)["is_negative"].sum()
    out["negative_feedback_90d"] = negative_90d.where(feedback_90d > 0)
    out["negative_feedback_share_90d"] = negative_90d / feedback_90d.replace(0, np.nan)
    out["top_complaint_topic_180d"] = _top_topics(window(ev.topics, cut, 180), len(out))
    return out[list(FEATURES)]


def _top_topics(raised: pd.DataFrame, customers: int) -> np.ndarray:
    """By customer number, the topic raised most often; ties go to the most recent, then to
    the first by name."""
    topics = (raised.groupby(["customer_id", "topic"], observed=True)
              .agg(times=("day", "size"), last_at=("occurred_at", "max")).reset_index())
    topics = topics.sort_values(["customer_id", "times", "last_at", "topic"],
                                ascending=[True, False, False, True])
    top = topics.drop_duplicates("customer_id")
    out = np.full(customers, None, dtype=object)
    out[top["customer_id"].to_numpy(dtype="int64")] = top["topic"].to_numpy()
    return out
