"""The pandas peer of the benchmark: the features of ``fct_customer_features`` computed the way
churn notebooks do it.

Plain pandas on the raw rows the pipeline loaded (``raw.customers``, ``raw.transactions``,
``raw.interactions`` of the run's warehouse): once, the per-event columns dbt's staging and
intermediate models derive (``events``); then for each as-of date of the mart, filter the events
before the cutoff (the start of the day after as-of) and ``groupby('customer_id')``, one module
per feature family with the windows and definitions of its dbt model: ``engagement``,
``support``, ``voice``, ``value``. Every feature column of the mart is computed: every feature
of the catalogue (``ml/features.yml``) the mart has, numeric and categorical, plus the mart's
other feature columns (``active_days_prev_90d``, ``spend_prev_30d``, ``spend_prev_180d``,
``rfm_score``, ``top_complaint_topic_180d``). Left out: the keys, the labels (``is_eligible``,
``churned``), and ``account_owner``, which is not a feature. ``compare.agreement`` checks the
peer against the mart, value by value.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from customer_health.bench.pandas_peer import engagement, support, value, voice
from customer_health.bench.pandas_peer.compare import agreement
from customer_health.bench.pandas_peer.events import Events, load_raw, prepare

ATTRIBUTES = ("segment", "plan", "region", "tenure_days", "lifecycle_stage")
PEER_FEATURES = (*ATTRIBUTES, *engagement.FEATURES, *support.FEATURES, *voice.FEATURES,
                 *value.FEATURES)

__all__ = ["PEER_FEATURES", "agreement", "compute", "features_at", "load_raw", "run_peer"]


def features_at(ev: Events, as_of: pd.Timestamp, *, half_life_days: float = 30.0,
                peer_group: str = "segment") -> pd.DataFrame:
    """The peer features of every customer signed up before the cutoff of ``as_of``."""
    as_of = pd.Timestamp(as_of).normalize()
    cut = int((as_of - pd.Timestamp("1970-01-01")).days) + 1   # day number of the cutoff
    customers = ev.customers
    spine = customers["signup_day"] < cut
    # days of the last year observed: since signup, or since the first day of data
    observed_days = (cut - np.maximum(customers["signup_day"], ev.data_start_day)).clip(1, 365)
    out = customers[["segment", "plan", "region"]].copy()
    out["tenure_days"] = cut - customers["signup_day"]
    out = pd.concat([
        out,
        engagement.engagement_features(ev, cut, observed_days, half_life_days),
        support.support_features(ev, cut, observed_days, spine, peer_group),
        voice.voice_features(ev, cut),
        value.value_features(ev, cut, observed_days, spine),
    ], axis=1)
    lapsing = ((out["days_since_last_purchase"].fillna(9999) > 30)
               & (out["days_since_last_inbound"].fillna(9999) > 30))
    out["lifecycle_stage"] = np.select([out["tenure_days"] < 90, lapsing], ["new", "lapsing"],
                                       default="established")
    out = out.loc[spine, list(PEER_FEATURES)]
    out.insert(0, "as_of", as_of)
    out.index = ev.ids[out.index.to_numpy(dtype="int64")]
    return out.reset_index()


def compute(raw: dict[str, pd.DataFrame], **options) -> pd.DataFrame:
    """The peer features for every as-of date of the mart, stacked (one date at a time)."""
    ev = prepare(raw)
    frames = [features_at(ev, d, **options) for d in pd.to_datetime(raw["as_of"]["as_of"])]
    return pd.concat(frames, ignore_index=True)


def run_peer(warehouse: Path, **options) -> tuple[pd.DataFrame, dict]:
    """(features, timings): ``load_seconds`` to read the raw rows into pandas, ``compute_seconds``
    for the features (the figure compared with the dbt stage), rows and as-of dates. ``options``
    go to ``features_at`` (half_life_days, peer_group: the dataset's configuration)."""
    started = time.perf_counter()
    raw = load_raw(warehouse)
    loaded = time.perf_counter()
    features = compute(raw, **options)
    done = time.perf_counter()
    return features, {
        "load_seconds": loaded - started,
        "compute_seconds": done - loaded,
        "rows": int(len(features)),
        "as_of_dates": int(raw["as_of"]["as_of"].nunique()),
        "input_rows": int(len(raw["transactions"]) + len(raw["interactions"])),
        "features": list(PEER_FEATURES),
    }
