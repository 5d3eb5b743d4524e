"""Point-in-time backtest: each cutoff's model only sees outcomes known at the cutoff."""

from __future__ import annotations

from ml.backtest import backtest
from ml_synthetic import make_frame


def test_backtest_reports_each_cutoff():
    f = make_frame(n_customers=1200, n_dates=7, seed=2)
    res = backtest(f, horizon_days=35, n_cutoffs=2, min_cutoffs=3)
    assert res["cutoff"].tolist() == ["2025-05-01", "2025-06-01"]
    ok = res[res["status"] == "ok"]
    assert len(ok) == 2
    assert (ok["roc_auc"] > 0.7).all()
    # trained only on as_of <= cutoff - horizon: the calibration fold is strictly before the cutoff month
    assert ok["trained_through"].tolist() == ["2025-03-01", "2025-04-01"]


def test_backtest_skips_cutoffs_without_enough_history():
    f = make_frame(n_customers=1200, n_dates=5, seed=2)
    res = backtest(f, horizon_days=35, n_cutoffs=3)
    first = res.iloc[0]
    assert first["status"] == "skipped" and "need at least" in first["detail"]
