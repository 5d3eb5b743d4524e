"""customer_health_retrain: train a new churn model and rescore with the live one.

Runs weekly (`orchestration.retrain_cron`) and when `customer_health_score` finds the population
drifted from the live model's training rows (asset `customer_health_drift`). The features are
rebuilt for the latest date, a new model is trained and backtested, and it goes live only when
the promotion guard finds its backtest not worse than the live model's beyond
`model.promotion_tolerance`. The customers are then scored by the live model and
`customer_health_scores` starts `customer_health_publish`.
"""

from __future__ import annotations

from dataclasses import asdict

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from customer_health.airflow_triggers import asset_or_cron
from customer_health.assets import ASSET_GROUP, DRIFT, SCORES, dag_defaults
from customer_health.config import load_settings

settings = load_settings()
drift_asset = Asset(DRIFT.name, DRIFT.uri, group=ASSET_GROUP)
scores_asset = Asset(SCORES.name, SCORES.uri, group=ASSET_GROUP)


@task(multiple_outputs=False, outlets=[scores_asset])
def retrain_and_score() -> dict:
    """Train, backtest and judge a new model, then score; returns which model scores and why."""
    from customer_health.errors import fail_fast
    from customer_health.pipeline import retrain_step

    current = load_settings()
    if not current.warehouse.exists():
        # A new deployment: Airflow runs the latest retrain_cron slot as soon as the DAG appears,
        # usually before ingest has loaded anything. Nothing to retrain is not a failure.
        raise AirflowSkipException(f"no warehouse yet at {current.warehouse}: nothing to retrain")
    with fail_fast(AirflowFailException):
        return asdict(retrain_step(current))


@dag(
    dag_id="customer_health_retrain",
    schedule=asset_or_cron(drift_asset, settings.options.orchestration.retrain_cron),
    **dag_defaults(),
    tags=["customer_health", "ml"],
    doc_md=__doc__,
)
def customer_health_retrain():
    retrain_and_score()


customer_health_retrain()
