"""Classification metrics for churn probabilities: ranking, calibration and lift.

All results are plain Python floats/ints (JSON-ready); metrics that need both classes are None
when only one class is present.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _top_positives(y: np.ndarray, p: np.ndarray, fraction: float) -> tuple[float, int]:
    """(expected churners among the top ``fraction`` of rows by ``p``, rows in that top).

    Ties at the cut-off are shared pro rata (the expected value under random tie-breaking), so
    step-shaped (isotonic) probabilities do not make the number depend on row order.
    """
    k = max(1, int(math.ceil(fraction * len(y))))
    cut = np.sort(p)[::-1][k - 1]
    above = p > cut
    equal = p == cut
    share = (k - above.sum()) / equal.sum()
    return float(y[above].sum() + share * y[equal].sum()), k


def lift_at(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float | None:
    """Churn rate among the top ``fraction`` of rows by ``p`` divided by the overall churn rate
    (ties at the cut-off shared pro rata); None without rows or churners."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    n = len(y)
    base = y.mean() if n else 0.0
    if n == 0 or base == 0:
        return None
    positives, k = _top_positives(y, p, fraction)
    return float((positives / k) / base)


def capture_at(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float | None:
    """Share of all churners found in the top ``fraction`` of rows by ``p`` (recall at that depth;
    ties shared pro rata); None without rows or churners. Equals lift x fraction."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if len(y) == 0 or y.sum() == 0:
        return None
    positives, _ = _top_positives(y, p, fraction)
    return float(positives / y.sum())


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Reliability table: rows sorted by ``p`` and cut into ``bins`` equal-frequency groups
    (sizes differ by at most one; stable sort, so ties keep row order). Each group gives its
    row count, mean predicted probability and observed churn rate. Empty when there are no rows.

    Equal-frequency rather than equal-width bins: churn risks crowd at the low end, so equal-width
    bins would leave most upper bins nearly empty and their rates mostly noise.
    """
    y = np.asarray(y, dtype="float64")
    p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
    if len(y) == 0:
        return []
    order = np.argsort(p, kind="stable")
    out = []
    for idx in np.array_split(order, min(int(bins), len(y))):
        out.append({"rows": int(len(idx)), "mean_predicted": float(p[idx].mean()),
                    "observed_rate": float(y[idx].mean())})
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float | None:
    """Expected calibration error: the row-weighted mean of |observed churn rate - mean predicted
    probability| over the ``bins`` equal-frequency groups of ``calibration_bins``; None without rows.

    0 is perfect calibration; 0.05 means the predicted risks are off by 5 points on average.
    """
    table = calibration_bins(y, p, bins)
    n = sum(b["rows"] for b in table)
    if n == 0:
        return None
    return float(sum(b["rows"] * abs(b["observed_rate"] - b["mean_predicted"]) for b in table) / n)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), Brier score (and the base-rate Brier it should beat),
    log loss, expected calibration error (10 equal-frequency bins), lift and capture in the top
    10% and 20%, base rate and row counts for outcomes ``y`` and probabilities ``p``."""
    y = np.asarray(y, dtype="float64")
    p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
    n = int(len(y))
    n_pos = int(y.sum())
    base = float(y.mean()) if n else float("nan")
    both = 0 < n_pos < n
    eps = 1e-6
    pc = np.clip(p, eps, 1 - eps)
    return {
        "rows": n,
        "positives": n_pos,
        "base_rate": base,
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if n else None,
        "brier_base_rate": float(base * (1 - base)) if n else None,
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))) if n else None,
        "lift_top10": lift_at(y, p, 0.1),
        "lift_top20": lift_at(y, p, 0.2),
        "ece": expected_calibration_error(y, p),
        "capture_top10": capture_at(y, p, 0.1),
        "capture_top20": capture_at(y, p, 0.2),
        "mean_predicted": float(p.mean()) if n else None,
    }
