"""customer_health_score: score every active customer's churn risk with the dataset's model.

Runs when `customer_health_features` rebuilt the features (asset `customer_health_features`). The
task trains the LightGBM model of this dataset (or reuses the registered one when the data has not
changed), scores the customers active at the as-of date with their top drivers, writes the scores
to the warehouse and updates `customer_health_scores`, which starts `customer_health_publish`.
Re-running it for the same data and model rewrites the same scoring run.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException

from customer_health.assets import ASSET_GROUP, FEATURES, SCORES, task_defaults

features_asset = Asset(FEATURES.name, FEATURES.uri, group=ASSET_GROUP)
scores_asset = Asset(SCORES.name, SCORES.uri, group=ASSET_GROUP)


@task(multiple_outputs=False, outlets=[scores_asset])
def score_customers() -> dict:
    """Train or reuse the model and score; returns the run id, model version and metrics."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import score_step

    with fail_fast(AirflowFailException):
        return asdict(score_step(load_settings()))


@dag(
    dag_id="customer_health_score",
    schedule=[features_asset],
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(),
    tags=["customer_health", "ml"],
    doc_md=__doc__,
)
def customer_health_score():
    score_customers()


customer_health_score()
