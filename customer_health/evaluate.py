"""Compare the published churn risk with a demo ground truth: model AUC beside the oracle AUC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from customer_health.config import Settings
from customer_health.errors import UsageError
from customer_health.reads import current_scores


@dataclass(frozen=True)
class Evaluation:
    customers: int
    churn_rate: float
    model_auc: float
    oracle_auc: float

    @property
    def gap(self) -> float:
        return self.oracle_auc - self.model_auc


def evaluate_against_truth(settings: Settings, truth_dir: Path) -> Evaluation:
    """AUC of churn_risk and of the true probabilities on the customers both know."""
    from sklearn.metrics import roc_auc_score  # scikit-learn takes ~2 s to import; only needed here

    truth_file = truth_dir / "ground_truth.csv"
    if not truth_file.exists():
        raise FileNotFoundError(f"{truth_file}: no ground truth here; write it with demo-data")
    truth = pd.read_csv(truth_file, dtype={"customer_id": str})
    joined = truth.merge(current_scores(settings), on="customer_id", how="inner")
    # Truth customers are the ones active at the cutoff: nearly all must be scored, or the
    # truth belongs to another dataset (or another as-of date).
    if len(joined) < 0.8 * len(truth) or joined["churned"].nunique() < 2:
        raise UsageError(
            f"{truth_file}: only {len(joined):,} of its {len(truth):,} customers are scored in "
            f"{settings.warehouse}; is this the ground truth of this dataset and as-of date?")
    return Evaluation(
        customers=len(joined),
        churn_rate=float(joined["churned"].mean()),
        model_auc=float(roc_auc_score(joined["churned"], joined["churn_risk"])),
        oracle_auc=float(roc_auc_score(joined["churned"], joined["true_churn_probability"])),
    )
