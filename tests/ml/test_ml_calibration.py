"""Isotonic calibration keeps the model's ranking and still means what it says."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from ml.calibration import Calibrator, fit_calibrator


def _fold(n: int = 20000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.normal(-1.0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.7 * raw - 0.5)))).astype(float)
    return raw, y


def test_isotonic_calibration_keeps_the_ranking():
    raw, y = _fold()
    cal = fit_calibrator(raw, y, "isotonic")
    p = cal.predict(raw)
    inside = (raw > min(cal.x)) & (raw < max(cal.x))
    order = np.argsort(raw[inside])
    assert np.all(np.diff(p[inside][order]) > 0)  # strictly increasing: no ties between customers
    assert inside.mean() > 0.99
    assert abs(roc_auc_score(y, p) - roc_auc_score(y, raw)) < 1e-3


def test_isotonic_probabilities_match_observed_rates():
    raw, y = _fold()
    cal = fit_calibrator(raw, y, "isotonic")
    test_raw, test_y = _fold(seed=4)
    p = cal.predict(test_raw)
    deciles = np.quantile(p, np.linspace(0, 1, 11))
    for lo, hi in zip(deciles[:-1], deciles[1:]):
        in_bin = (p >= lo) & (p <= hi)
        assert abs(p[in_bin].mean() - test_y[in_bin].mean()) < 0.04
    again = Calibrator.from_dict(cal.to_dict())
    assert np.array_equal(again.predict(test_raw), p)
