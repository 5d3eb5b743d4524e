"""Synthetic feature frames with a known churn signal, for the ml tests and timing checks.

Risk is driven by days_since_last_purchase (strongly), low avg_csat_90d (moderately; NaN for
customers who never answered a survey) and complaints_90d; every other catalogue feature is noise.
Categorical features get text categories (``CATEGORIES``) drawn from their own random stream, so
adding them left the numeric data unchanged; with ``segment_signal`` the segment drives churn too
(``SEGMENT_RISK`` is added to the log-odds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.catalogue import load_catalogue

SIGNAL_FEATURE = "days_since_last_purchase"
CATEGORIES: dict[str, list[str]] = {
    "segment": ["smb", "mid_market", "enterprise", "startup"],
    "plan": ["basic", "pro", "premium"],
    "region": ["emea", "amer", "apac"],
    "lifecycle_stage": ["new", "established", "lapsing"],
    "nps_category": ["promoter", "passive", "detractor"],
}
SEGMENT_RISK = {"smb": 0.0, "mid_market": -0.5, "enterprise": -2.0, "startup": 2.0}


def make_frame(n_customers: int = 1500, n_dates: int = 5, seed: int = 0, *, unlabelled_dates: int = 1,
               with_interactions: bool = True, base_logit: float = -2.2,
               segment_signal: bool = False) -> pd.DataFrame:
    """One row per customer x as_of (monthly); the last ``unlabelled_dates`` have churned = NaN."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=n_dates, freq="MS")
    n = n_customers * n_dates
    frame = pd.DataFrame({
        "customer_id": np.tile([f"c{i:06d}" for i in range(n_customers)], n_dates),
        "as_of": np.repeat(dates.to_numpy(), n_customers),
        "eligible": rng.random(n) > 0.05,
    })
    catalogue = load_catalogue()
    for name in catalogue.names():
        if not catalogue[name].is_categorical:
            frame[name] = rng.gamma(2.0, 5.0, n).round()
    cat_rng = np.random.default_rng(seed + 1000)
    for name in catalogue.names():
        if catalogue[name].is_categorical:
            values = cat_rng.choice(CATEGORIES.get(name, ["a", "b", "c"]), n).astype(object)
            values[cat_rng.random(n) < (0.3 if name == "nps_category" else 0.02)] = None
            frame[name] = values
    days = rng.exponential(25.0, n).round()
    frame[SIGNAL_FEATURE] = days
    csat = np.clip(rng.normal(4.0, 0.9, n), 1, 5).round(1)
    csat[rng.random(n) < 0.3] = np.nan
    frame["avg_csat_90d"] = csat
    frame["last_csat"] = np.where(np.isnan(csat), np.nan, np.clip(np.round(csat), 1, 5))
    complaints = rng.poisson(0.3, n).astype(float)
    frame["complaints_90d"] = complaints
    frame["has_cancelled"] = (rng.random(n) < 0.05).astype(float)
    frame["spend_change_90d"] = rng.lognormal(0.0, 0.4, n)
    logit = (base_logit + 0.045 * (days - 25.0) + 0.6 * np.nan_to_num(3.8 - csat, nan=0.3)
             + 0.5 * complaints)
    if segment_signal:
        logit = logit + frame["segment"].map(SEGMENT_RISK).fillna(0.0).to_numpy()
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    labelled_until = dates[n_dates - unlabelled_dates - 1] if unlabelled_dates < n_dates else None
    if labelled_until is None:
        churned[:] = np.nan
    else:
        churned[frame["as_of"].to_numpy() > labelled_until.to_datetime64()] = np.nan
    frame["churned"] = churned
    if not with_interactions:
        interaction = [f for f, s in load_catalogue().features.items() if s.dimension in ("experience", "voice")
                       or f in ("logins_30d", "logins_prev_30d", "login_change_30d", "active_days_30d",
                                "inbound_90d", "days_since_last_inbound")]
        frame[interaction] = np.nan
    return frame
