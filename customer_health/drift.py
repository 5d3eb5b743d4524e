"""Drift: how far today's customers and scores have moved from what the model was trained on.

Population stability index (PSI) per feature and for the churn risk, comparing the current
scoring rows with the rows the model trained on (the eligible, labelled rows of its training
as-of dates, re-read from the feature mart). Common reading: below 0.1 stable, 0.1 to the
warning threshold moderate, above it the model sees a population it was not trained on and
should be retrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from customer_health.config import Settings
from customer_health.warehouse import connect

BINS = 10
# An empty bin would make the index infinite; this share stands in for "almost none".
_FLOOR = 1e-4


def psi(reference: pd.Series, current: pd.Series) -> float:
    """PSI of ``current`` against ``reference``: decile bins of the reference (numbers) or its
    categories (text), plus one bin for missing values."""
    if reference.dtype == object or isinstance(reference.dtype, pd.StringDtype):
        ref_bins, cur_bins = reference.astype("string").fillna("(missing)"), current.astype("string").fillna("(missing)")
    else:
        ref = pd.to_numeric(reference, errors="coerce").astype("float64")
        cur = pd.to_numeric(current, errors="coerce").astype("float64")
        edges = np.unique(np.nanquantile(ref, np.linspace(0, 1, BINS + 1)[1:-1])) if ref.notna().any() else []
        ref_bins = np.where(ref.isna(), -1, np.searchsorted(edges, ref, side="right"))
        cur_bins = np.where(cur.isna(), -1, np.searchsorted(edges, cur, side="right"))
    ref_share = pd.Series(ref_bins).value_counts(normalize=True)
    cur_share = pd.Series(cur_bins).value_counts(normalize=True)
    shares = pd.concat([ref_share, cur_share], axis=1).fillna(0.0).clip(lower=_FLOOR)
    r, c = shares.iloc[:, 0], shares.iloc[:, 1]
    return float(((c - r) * np.log(c / r)).sum())


@dataclass(frozen=True)
class DriftReport:
    model_version: str
    reference: str
    table: pd.DataFrame  # what (feature name or "churn_risk"), psi, level
    threshold: float

    @property
    def drifted(self) -> list[str]:
        return list(self.table.loc[self.table["psi"] > self.threshold, "what"])


def _level(value: float, threshold: float) -> str:
    return "drift" if value > threshold else "moderate" if value > 0.1 else "stable"


def compute_drift(settings: Settings, model_version: str) -> DriftReport | None:
    """Drift of the current scoring rows against the training rows of ``model_version``.

    None when the version is not a trained model (the rule-based scorecard) or its training
    rows are no longer in the feature mart.
    """
    from ml import dataset
    from ml.errors import ModelNotFound
    from ml.registry import load

    try:
        model = load(settings.models_dir, model_version)
    except (ModelNotFound, ValueError):
        return None
    first, last = model.training.get("train_as_of_min"), model.training.get("train_as_of_max")
    with connect(settings.warehouse, read_only=True) as con:
        frame = con.execute(
            "select * from main.fct_customer_features "
            "where is_eligible and ((churned is not null and as_of between ? and ?) or is_scoring_date)",
            [first, last]).df()
    reference = frame[~frame["is_scoring_date"] & frame["churned"].notna()]
    current = frame[frame["is_scoring_date"]]
    if reference.empty or current.empty:
        return None
    options = settings.options.drift
    ranked = sorted(model.features, key=lambda f: -model.feature_importance.get(f, 0.0))
    rows = [(f, psi(reference[f], current[f])) for f in ranked[:options.features]]

    def risk(rows_: pd.DataFrame) -> pd.Series:
        raw = model.booster.predict(dataset.feature_matrix(rows_, model.features, model.categories),
                                    raw_score=True)
        return pd.Series(model.calibrator.predict(raw))

    rows.insert(0, ("churn_risk", psi(risk(reference), risk(current))))
    table = pd.DataFrame(rows, columns=["what", "psi"])
    table["level"] = [_level(v, options.psi_warning) for v in table["psi"]]
    table["psi"] = table["psi"].round(3)
    return DriftReport(model_version, f"training as-of dates {first} to {last}", table, options.psi_warning)


@dataclass(frozen=True)
class RetrainDecision:
    due: bool
    reason: str


def retrain_due(settings: Settings, now: datetime | None = None) -> RetrainDecision:
    """Whether drift calls for a retrain now: the live model sees drift past ``psi_warning``
    and is older than ``orchestration.retrain_cooldown_hours`` (a lasting drift, such as a
    customer base that ages, retrains at most once per cooldown)."""
    from ml.registry import live_version, read_card

    from customer_health.warehouse import dataset_id

    orchestration = settings.options.orchestration
    if not orchestration.retrain_on_drift:
        return RetrainDecision(False, "orchestration.retrain_on_drift is off")
    with connect(settings.warehouse, read_only=True) as con:
        ds = dataset_id(con)
    live = live_version(settings.models_dir, ds)
    if live is None:
        return RetrainDecision(False, "no live model yet")
    report = compute_drift(settings, live)
    if report is None or not report.drifted:
        return RetrainDecision(False, f"no drift past {settings.options.drift.psi_warning:g}")
    created = datetime.fromisoformat(read_card(settings.models_dir, live)["created_at"])
    age_hours = ((now or datetime.now(timezone.utc)) - created).total_seconds() / 3600
    what = ", ".join(report.drifted)
    if age_hours < orchestration.retrain_cooldown_hours:
        return RetrainDecision(False, f"drift in {what}, but model {live} is {age_hours:.1f} h "
                                      f"old (cooldown {orchestration.retrain_cooldown_hours:g} h)")
    return RetrainDecision(True, f"drift past {report.threshold:g} in {what} (model {live})")
