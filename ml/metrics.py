"""Classification metrics for churn probabilities: ranking, calibration and lift.

All results are plain Python floats/ints (JSON-ready); metrics that need both classes are None
when only one class is present.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def lift_at(y: np.ndarray, p: np.ndarray, fraction: float = 0.1) -> float | None:
    """Churn rate among the top ``fraction`` of rows by ``p`` divided by the overall churn rate.

    Ties at the cut-off are shared pro rata (the expected value under random tie-breaking), so
    step-shaped (isotonic) probabilities do not make the number depend on row order.
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    n = len(y)
    base = y.mean() if n else 0.0
    if n == 0 or base == 0:
        return None
    k = max(1, int(math.ceil(fraction * n)))
    cut = np.sort(p)[::-1][k - 1]
    above = p > cut
    equal = p == cut
    share = (k - above.sum()) / equal.sum()
    positives = y[above].sum() + share * y[equal].sum()
    return float((positives / k) / base)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), Brier score (and the base-rate Brier it should beat),
    log loss, lift in the top 10% and 20%, base rate and row counts for outcomes ``y`` and
    probabilities ``p``."""
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
        "mean_predicted": float(p.mean()) if n else None,
    }
