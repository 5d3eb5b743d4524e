"""The portfolio's backtest panel: does the score deserve trust, and did red customers churn?

It reads the live model's card and its last backtest fold from the model registry (the same
files ``customer-health report`` draws) and reuses that report's charts: the churn rate of each
band on the last fold and the ROC curve against the baselines. The dataset id comes from the
registry's LIVE file (one dataset per home), so the warehouse is never opened.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from customer_health import backtest_report as report
from customer_health.config import Settings

log = logging.getLogger(__name__)

METRICS = (("ROC AUC", "roc_auc", "{:.3f}"), ("PR AUC", "pr_auc", "{:.3f}"),
           ("Brier score", "brier", "{:.4f}"), ("calibration error (ECE)", "ece", "{:.3f}"),
           ("lift in the riskiest 10%", "lift_top10", "{:.2f}"),
           ("churners caught in the riskiest 20%", "capture_top20", "{:.0%}"))


@dataclass
class BacktestPanel:
    version: str | None = None
    trained_at: str | None = None
    note: str | None = None                      # why there is no backtest to show
    folds_evaluated: int = 0
    metrics: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # label, model, baselines
    fold_as_of: str | None = None
    fold_rows: int = 0
    fold_churners: int = 0
    band_rates: list[dict[str, Any]] = field(default_factory=list)
    churn_by_band_svg: str | None = None
    roc_svg: str | None = None
    skipped: list[str] = field(default_factory=list)


def _live_version(settings: Settings, current_version: str | None) -> str | None:
    from ml import registry

    try:
        state = json.loads((settings.models_dir / registry.LIVE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    live = dict(state.get("live") or {})
    for dataset_id in live:
        version = registry.live_version(settings.models_dir, dataset_id)
        if version and (len(live) == 1 or version == current_version):
            return version
    # no LIVE entry (e.g. scores from the scorecard): the version that scored, if it is a model
    if current_version and current_version in registry.list_versions(settings.models_dir):
        return current_version
    return None


def _fmt(template: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return template.format(value)


def build(settings: Settings, current_version: str | None) -> BacktestPanel:
    """The panel of the live model (a panel with a note when there is no model or backtest)."""
    from ml import registry

    version = _live_version(settings, current_version)
    if version is None:
        return BacktestPanel(note="No trained model yet: the scores come from the rule-based "
                                  "scorecard until the history is long enough to train one.")
    card = registry.read_card(settings.models_dir, version)
    bt = card.get("backtest") or {}
    panel = BacktestPanel(version=version, trained_at=card.get("created_at"),
                          folds_evaluated=int(bt.get("folds_evaluated") or 0))
    mean, base = bt.get("mean") or {}, bt.get("baseline_mean") or {}
    panel.skipped = [f"{f.get('as_of')}: {f['skipped']}" for f in bt.get("folds") or []
                     if f.get("skipped")]
    pairs = settings.models_dir / version / registry.LAST_FOLD_FILE
    if not panel.folds_evaluated or not pairs.is_file():
        panel.note = ("This model has no backtest yet: no earlier as-of date had enough known "
                      "outcomes to test on (each needs two churn horizons of history). The "
                      "validation metrics of its training are shown instead.")
        mean = card.get("metrics") or {}
        base = {k: v for k, v in (mean.get("baselines") or {}).items() if isinstance(v, dict)}
    panel.metrics = [(label, _fmt(f, mean.get(key)),
                      {name: _fmt(f, values.get(key)) for name, values in sorted(base.items())})
                     for label, key, f in METRICS]
    if panel.note is None:
        _draw_last_fold(panel, pd.read_parquet(pairs), settings)
    return panel


def _draw_last_fold(panel: BacktestPanel, fold: pd.DataFrame, settings: Settings) -> None:
    y = fold["churned"].to_numpy(dtype="float64")
    p = fold["churn_risk"].to_numpy(dtype="float64")
    panel.fold_as_of = str(pd.Timestamp(fold["as_of"].iloc[0]).date()) if len(fold) else None
    panel.fold_rows, panel.fold_churners = len(fold), int(y.sum())
    segment = fold["segment"].to_numpy() if "segment" in fold else None
    band = report.assign_bands(report.health_score(p), segment, settings.options.bands)
    rates, counts = [], []
    for b in report.BANDS:
        rows = band == b
        counts.append(int(rows.sum()))
        rates.append(float(y[rows].mean()) if rows.any() else float("nan"))
        panel.band_rates.append({"band": b, "customers": counts[-1],
                                 "churned": int(y[rows].sum()), "rate": rates[-1]})
    panel.churn_by_band_svg = report.bar_chart(
        "Churn rate by health band", list(report.BANDS), rates,
        [report.BAND_COLOURS[b] for b in report.BANDS], "health band on the fold date",
        "share who churned", value_format="{:.0%}", y_max=1.0,
        captions=[f"{r:.0%} of {n:,}" if n else "none" for r, n in zip(rates, counts)])
    if 0 < y.sum() < len(y):
        from sklearn.metrics import roc_auc_score

        series = []
        for name, risk in [("model", p)] + [(c[len("risk_"):], fold[c].to_numpy(dtype="float64"))
                                            for c in fold.columns if c.startswith("risk_")]:
            fpr, tpr = report.roc_points(y, risk)
            series.append((f"{name} (AUC {roc_auc_score(y, risk):.3f})", fpr, tpr,
                           report.SERIES_COLOURS.get(name, "#984ea3")))
        panel.roc_svg = report.line_chart("ROC curve", series, "false positive rate",
                                          "true positive rate")
