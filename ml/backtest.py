"""Point-in-time backtest: would the model have ranked and calibrated churn well in the past?

For each of the latest labelled as-of dates (a cutoff), a model is trained only on rows whose churn
outcome was already known at the cutoff (as_of + horizon <= cutoff), then scores the customers
active at the cutoff and is compared with who actually churned. Nothing after a cutoff leaks into
its model.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ml import dataset
from ml.catalogue import Catalogue, load_catalogue
from ml.errors import InsufficientData
from ml.metrics import classification_metrics
from ml.predict import predict
from ml.train import train

COLUMNS = ["cutoff", "status", "trained_through", "best_iteration", "rows", "positives", "base_rate",
           "roc_auc", "pr_auc", "brier", "brier_base_rate", "lift_top10", "lift_top20", "mean_predicted", "detail"]


def backtest(
    frame: pd.DataFrame,
    *,
    horizon_days: int,
    n_cutoffs: int = 3,
    params: Mapping[str, Any] | None = None,
    catalogue: Catalogue | None = None,
    num_threads: int | None = None,
    **bounds: int,
) -> pd.DataFrame:
    """One row per cutoff (oldest first) with the metrics of a model trained before it.

    ``horizon_days`` is the churn horizon used to build the labels. ``bounds`` (min_rows,
    min_positives, min_cutoffs, min_valid_positives) go to ``train``; a cutoff without enough
    history gets status "skipped" and the reason in ``detail`` instead of metrics.
    """
    catalogue = catalogue or load_catalogue()
    data = dataset.prepare(frame)
    rows = dataset.labelled(data)
    cutoffs = sorted(rows["as_of"].unique())[-int(n_cutoffs):] if n_cutoffs > 0 else []
    out: list[dict[str, Any]] = []
    for cutoff in cutoffs:
        cutoff = pd.Timestamp(cutoff)
        record: dict[str, Any] = {c: None for c in COLUMNS}
        record["cutoff"] = cutoff.date().isoformat()
        history = data.loc[data["as_of"] <= cutoff - pd.Timedelta(days=int(horizon_days))]
        target = rows.loc[rows["as_of"] == cutoff]
        try:
            model = train(history, dataset_id="backtest", params=params, catalogue=catalogue,
                          num_threads=num_threads, **bounds)
        except InsufficientData as exc:
            record.update(status="skipped", detail="; ".join(exc.problems), rows=len(target),
                          positives=int(target["churned"].sum()))
            out.append(record)
            continue
        scored = predict(model, target)
        m = classification_metrics(target["churned"].to_numpy(), scored["churn_risk"].to_numpy())
        record.update({k: m[k] for k in COLUMNS if k in m})
        record.update(status="ok", trained_through=model.training["valid_as_of"],
                      best_iteration=model.training["best_iteration"],
                      detail=f"trained on {model.training['train_rows'] + model.training['valid_rows']} rows "
                             f"with as_of <= {model.training['valid_as_of']}")
        out.append(record)
    return pd.DataFrame(out, columns=COLUMNS)
