"""The BG/NBD peer: lifetimes' BetaGeoFitter on the same transactions, as of the scoring date.

Repeat-purchase input is every payment (purchase or subscription payment) before the cutoff
(the day after the scoring date), per customer in days. Churn risk is ``1 - P(alive)``; its ROC
AUC is measured on the demo ground truth's customers, the same ones ``evaluate`` uses for our
model. A truth customer without any payment has P(alive) = 1 under BG/NBD (risk 0).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

PENALIZER = 0.001


PAYMENTS = ("purchase", "subscription_payment")


def run_bgnbd(warehouse: Path, truth_dir: Path, as_of: str, types: tuple[str, ...] = PAYMENTS) -> dict:
    """Fit time (and input preparation time) and ROC AUC of 1 - P(alive) against the truth,
    on the transactions of ``types`` (default: every payment)."""
    import duckdb
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data
    from sklearn.metrics import roc_auc_score

    cutoff = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tx = con.execute(
            "select customer_id, occurred_at from raw.transactions "
            f"where type in ({', '.join('?' for _ in types)}) and occurred_at < ?",
            [*types, cutoff.to_pydatetime()]).df()
    finally:
        con.close()
    started = time.perf_counter()
    # whole days in UTC: the last day observed is the scoring date itself
    tx["occurred_at"] = pd.to_datetime(tx["occurred_at"], utc=True).dt.tz_localize(None).dt.normalize()
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "occurred_at", observation_period_end=pd.Timestamp(as_of), freq="D")
    prepared = time.perf_counter()
    fitter = BetaGeoFitter(penalizer_coef=PENALIZER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit(summary["frequency"], summary["recency"], summary["T"])
        fitted = time.perf_counter()
        alive = fitter.conditional_probability_alive(
            summary["frequency"], summary["recency"], summary["T"])
    predicted = time.perf_counter()
    p_alive = pd.Series(np.asarray(alive, dtype="float64"), index=summary.index)
    truth = pd.read_csv(Path(truth_dir) / "ground_truth.csv", dtype={"customer_id": str})
    risk = 1.0 - truth["customer_id"].map(p_alive).fillna(1.0)
    auc = (float(roc_auc_score(truth["churned"], risk))
           if truth["churned"].nunique() == 2 else None)
    return {
        "transaction_types": list(types),
        "transactions": int(len(tx)),
        "customers_fitted": int(len(summary)),
        "prepare_seconds": prepared - started,
        "fit_seconds": fitted - prepared,
        "predict_seconds": predicted - fitted,
        "truth_customers": int(len(truth)),
        "truth_customers_without_payments": int((~truth["customer_id"].isin(p_alive.index)).sum()),
        "auc": auc,
        "params": {k: float(v) for k, v in fitter.params_.items()},
    }
