"""customer_health_score: score every active customer's churn risk with the dataset's model.

Runs when `customer_health_features` rebuilt the features (asset `customer_health_features`). The
task scores the customers active at the as-of date with the live model (the first run trains
it), writes the scores with their top drivers to the warehouse and updates
`customer_health_scores`, which starts `customer_health_publish`. Re-running it for the same data
and model rewrites the same scoring run.

Then `check_drift` compares today's customers with the live model's training rows; past
`drift.psi_warning` (and the retrain cooldown) it updates `customer_health_drift`, which starts
`customer_health_retrain`. Otherwise it is skipped.
"""

from __future__ import annotations

from dataclasses import asdict

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from customer_health.assets import ASSET_GROUP, DRIFT, FEATURES, SCORES, dag_defaults

features_asset = Asset(FEATURES.name, FEATURES.uri, group=ASSET_GROUP)
scores_asset = Asset(SCORES.name, SCORES.uri, group=ASSET_GROUP)
drift_asset = Asset(DRIFT.name, DRIFT.uri, group=ASSET_GROUP)


@task(multiple_outputs=False, outlets=[scores_asset])
def score_customers() -> dict:
    """Score with the live model (train the first); returns the run id, model and metrics."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import score_step

    with fail_fast(AirflowFailException):
        return asdict(score_step(load_settings()))


@task(multiple_outputs=False, outlets=[drift_asset])
def check_drift() -> dict:
    """Ask for a retrain when the population drifted from the live model's training rows."""
    from customer_health.config import load_settings
    from customer_health.drift import retrain_due
    from customer_health.errors import fail_fast

    with fail_fast(AirflowFailException):
        decision = retrain_due(load_settings())
    if not decision.due:
        raise AirflowSkipException(decision.reason)
    return {"reason": decision.reason}


@dag(
    dag_id="customer_health_score",
    schedule=[features_asset],
    **dag_defaults(),
    tags=["customer_health", "ml"],
    doc_md=__doc__,
)
def customer_health_score():
    score_customers() >> check_drift()


customer_health_score()
