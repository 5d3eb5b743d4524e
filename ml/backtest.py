"""Rolling time-based backtest: how well would the training procedure have predicted the past?

The folds are the last ``folds`` labelled as-of dates (eligible customers with a known outcome).
For each fold date F a model is trained with exactly the procedure of ``ml.train.train`` on the
rows whose outcome was already known at F, i.e. ``as_of + label_delay_days <= F`` (the churn label
needs two churn horizons after its as-of date, so pass ``label_delay_days = 2 x horizon_days``);
every later row is dropped from its training frame. The model then scores the customers eligible
at F, and the fold reports ROC AUC, PR AUC, Brier score, expected calibration error and lift and
capture in the top 10% and 20% against their outcomes. A fold whose training history is too thin
is reported as skipped with the reason, never silently dropped.

When ``ml.scorecard`` is present, each fold also scores the rule-based scorecard and the recency
baseline (each calibrated on the outcomes known at the fold date, like the model), so the card
shows what the model adds over them.

The backtest is part of the model card (``Backtest.to_dict``: per fold and the mean over the
evaluated folds); the risks and outcomes of the last fold are kept (``Backtest.last_fold``) so
the backtest report can draw its curves without retraining.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ml import calibration, dataset
from ml.errors import InsufficientData
from ml.metrics import classification_metrics

log = logging.getLogger(__name__)

BACKTEST_SCHEMA = 1
# Metrics averaged over the folds (the mean row of the card's backtest table).
FOLD_METRICS = ("roc_auc", "pr_auc", "brier", "ece", "lift_top10", "lift_top20", "capture_top10",
                "capture_top20", "base_rate", "mean_predicted")
LAST_FOLD_FILE = "backtest_last_fold.parquet"


@dataclass
class Backtest:
    """Result of ``run``: settings, one entry per fold (oldest first), the mean over the evaluated
    folds, and the last evaluated fold's rows (as_of, customer_id, churn_risk, churned, segment when
    the frame has one, and one ``risk_<baseline>`` column per baseline)."""

    settings: dict[str, Any]
    folds: list[dict[str, Any]]
    mean: dict[str, float | None]
    baseline_mean: dict[str, dict[str, float | None]] = field(default_factory=dict)
    last_fold: pd.DataFrame | None = None

    @property
    def evaluated(self) -> list[dict[str, Any]]:
        return [f for f in self.folds if not f.get("skipped")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready card section ("backtest" in card.json)."""
        return {
            "schema": BACKTEST_SCHEMA,
            "settings": dict(self.settings),
            "folds_evaluated": len(self.evaluated),
            "folds": list(self.folds),
            "mean": dict(self.mean),
            "baseline_mean": {k: dict(v) for k, v in self.baseline_mean.items()},
        }


def _date(x: Any) -> str:
    return pd.Timestamp(x).date().isoformat()


def fold_dates(frame: pd.DataFrame, folds: int) -> list[pd.Timestamp]:
    """The last ``folds`` labelled as-of dates of a ``prepare``d frame, oldest first."""
    dates = sorted(dataset.labelled(frame)["as_of"].unique())
    return [pd.Timestamp(d) for d in dates[-int(folds):]] if folds > 0 else []


def known_at(frame: pd.DataFrame, fold_as_of: pd.Timestamp, label_delay_days: int) -> pd.DataFrame:
    """The rows of a ``prepare``d frame whose outcome was observable at ``fold_as_of``:
    ``as_of + label_delay_days <= fold_as_of``. Everything later is dropped, labelled or not."""
    cutoff = pd.Timestamp(fold_as_of) - pd.Timedelta(days=int(label_delay_days))
    return frame.loc[frame["as_of"] <= cutoff]


def _risk(model: Any, rows: pd.DataFrame, num_threads: int | None) -> np.ndarray:
    """Calibrated churn risk of ``rows`` (no explanations: cheaper than ``ml.predict``)."""
    from ml.predict import raw_scores  # lazy, like ml.train

    X = dataset.feature_matrix(rows, model.features, model.categories)
    return model.calibrator.predict(raw_scores(model, X, num_threads))


def _fold_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    m = classification_metrics(y, p)
    return {k: m[k] for k in ("rows", "positives", *FOLD_METRICS)}


def _mean(folds: list[Mapping[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in FOLD_METRICS:
        values = [f[key] for f in folds if f.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


# ---------------------------------------------------------------- baselines (ml.scorecard)

Baseline = Callable[[pd.DataFrame], np.ndarray]


def available_baselines(scorecard: Any = None) -> dict[str, Baseline]:
    """Baselines to score each fold with: name -> f(rows) -> uncalibrated risk (higher = riskier).

    From ``ml.scorecard`` when present: the rule-based scorecard (definition ``scorecard``, None
    for its defaults) and the recency baseline. Empty when the module is absent.
    """
    try:
        from ml import scorecard as sc
    except ImportError:
        return {}
    out: dict[str, Baseline] = {}
    if hasattr(sc, "scorecard_risk"):
        out["scorecard"] = lambda rows: sc.scorecard_risk(rows, scorecard)
    if hasattr(sc, "recency_risk"):
        out["recency"] = lambda rows: sc.recency_risk(rows)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _baseline_probabilities(baseline: Baseline, calibration_rows: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """A baseline's risks on ``rows`` turned into probabilities the way the model's are, point in
    time: Platt scaling fitted on the fold's calibration date (the latest outcomes known at the fold
    date). Without both outcomes there, the raw risks are returned (ranking metrics still hold)."""
    risk = np.asarray(baseline(rows), dtype="float64")
    y = calibration_rows["churned"].to_numpy(dtype="float64")
    if len(y) == 0 or y.sum() in (0, len(y)):
        return np.clip(risk, 0.0, 1.0)
    cal = calibration.fit_calibrator(_logit(baseline(calibration_rows)), y, "sigmoid")
    return cal.predict(_logit(risk))


# ---------------------------------------------------------------- the backtest

def run(
    frame: pd.DataFrame,
    *,
    dataset_id: str,
    folds: int = 4,
    label_delay_days: int,
    params: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Baseline] | None = None,
    **train_kwargs: Any,
) -> Backtest:
    """Backtest the training procedure on the last ``folds`` labelled as-of dates of ``frame``.

    ``label_delay_days``: days after its as-of date until a row's outcome is known (2 x the churn
    horizon for this pipeline's labels); 0 would let folds learn from outcomes still in the future.
    ``params`` and ``train_kwargs`` go to ``ml.train.train`` unchanged, so each fold is trained like
    the production model. ``baselines`` defaults to ``available_baselines`` (with the
    ``scorecard`` definition from ``train_kwargs``, if any); each is calibrated on the fold's own
    calibration date and measured on the same rows as the model.
    """
    from ml.train import train  # lazy: ml.train imports LightGBM

    if label_delay_days < 0:
        raise ValueError("label_delay_days must be >= 0")
    data = dataset.prepare(frame)
    if baselines is None:
        baselines = available_baselines(train_kwargs.get("scorecard"))
    num_threads = train_kwargs.get("num_threads")
    results: list[dict[str, Any]] = []
    last: pd.DataFrame | None = None
    for fold_as_of in fold_dates(data, folds):
        entry: dict[str, Any] = {"as_of": _date(fold_as_of)}
        history = known_at(data, fold_as_of, label_delay_days)
        rows = dataset.labelled(data.loc[data["as_of"] == fold_as_of])
        try:
            model = train(history, dataset_id=dataset_id, params=params, **train_kwargs)
        except InsufficientData as exc:
            entry["skipped"] = "; ".join(exc.problems)
            results.append(entry)
            continue
        t = model.training
        entry.update(train_as_of_min=t["train_as_of_min"], train_as_of_max=t["train_as_of_max"],
                     calibration_as_of=t["valid_as_of"],
                     train_rows=int(t["train_rows"]), calibration_rows=int(t["valid_rows"]),
                     best_iteration=int(t["best_iteration"]))
        y = rows["churned"].to_numpy(dtype="float64")
        risk = _risk(model, rows, num_threads)
        entry.update(_fold_metrics(y, risk))
        pairs = pd.DataFrame({"as_of": rows["as_of"].to_numpy(), "customer_id": rows["customer_id"].to_numpy(),
                              "churn_risk": risk, "churned": y})
        if "segment" in rows.columns:  # bands may have thresholds of their own per segment
            pairs["segment"] = dataset.category_text(rows["segment"]).to_numpy()
        entry["baselines"] = {}
        cal_rows = dataset.labelled(history.loc[history["as_of"] == pd.Timestamp(t["valid_as_of"])])
        for name, baseline in baselines.items():
            try:
                b_risk = _baseline_probabilities(baseline, cal_rows, rows)
            except Exception as exc:  # a broken baseline must not cost the model its backtest
                log.warning("baseline %s failed on fold %s: %s", name, entry["as_of"], exc)
                entry["baselines"][name] = {"error": str(exc)}
                continue
            entry["baselines"][name] = _fold_metrics(y, b_risk)
            pairs[f"risk_{name}"] = b_risk
        results.append(entry)
        last = pairs
    evaluated = [f for f in results if not f.get("skipped")]
    names = sorted({n for f in evaluated for n, m in f.get("baselines", {}).items() if "error" not in m})
    baseline_mean = {n: _mean([f["baselines"][n] for f in evaluated
                               if "error" not in f["baselines"].get(n, {"error": 1})]) for n in names}
    settings = {"folds": int(folds), "label_delay_days": int(label_delay_days),
                "fold_rule": "last labelled as-of dates; training rows with as_of + label_delay_days <= fold date",
                "ece_bins": "10 equal-frequency bins"}
    return Backtest(settings=settings, folds=results, mean=_mean(evaluated) if evaluated else {},
                    baseline_mean=baseline_mean, last_fold=last)

