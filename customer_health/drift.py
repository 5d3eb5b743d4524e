"""Drift: how far today's customers and scores have moved from what the model was trained on.

Population stability index (PSI) per feature and for the churn risk, comparing the current
scoring rows with the rows the model trained on (the eligible, labelled rows of its training
as-of dates, profiled when the model was trained: ``ml.reference``). Common reading: below 0.1 stable, 0.1 to the
warning threshold moderate, above it the model sees a population it was not trained on and
should be retrained.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ml import reference

from customer_health.config import Settings
from customer_health.warehouse import connect

# PSI per column: ml.reference (the training side is profiled once, when a model is trained)
psi = reference.psi


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
    from ml.predict import raw_scores

    try:
        model = load(settings.models_dir, model_version)
    except (ModelNotFound, ValueError):
        return None
    first, last = model.training.get("train_as_of_min"), model.training.get("train_as_of_max")
    profiled = model.reference is not None
    with connect(settings.warehouse, read_only=True) as con:
        # with a profile of its training rows saved with the model, only today's rows are read
        frame = con.execute(
            "select * from main.fct_customer_features where is_eligible and (is_scoring_date or "
            "(? and churned is not null and as_of between ? and ?))",
            [not profiled, first, last]).df()
    current = frame[frame["is_scoring_date"]]
    training = frame[~frame["is_scoring_date"] & frame["churned"].notna()]
    if current.empty or not (profiled or len(training)):
        return None
    options = settings.options.drift
    ranked = sorted(model.features, key=lambda f: -model.feature_importance.get(f, 0.0))[:options.features]

    def risk(rows_: pd.DataFrame) -> pd.Series:
        raw = raw_scores(model, dataset.feature_matrix(rows_, model.features, model.categories))
        return pd.Series(model.calibrator.predict(raw))

    if profiled:
        rows = [(f, reference.psi_against(model.reference[f], current[f])) for f in ranked]
        rows.insert(0, (reference.RISK, reference.psi_against(model.reference[reference.RISK],
                                                              risk(current))))
    else:  # a model saved before profiles: re-read and re-score its training rows
        rows = [(f, psi(training[f], current[f])) for f in ranked]
        rows.insert(0, (reference.RISK, psi(risk(training), risk(current))))
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
