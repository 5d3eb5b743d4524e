"""What the Airflow DAGs in dags/ share: asset names and URIs, the warehouse pool, task defaults.

Plain constants, so the pipeline package stays importable without Airflow. The assets chain the
DAGs: LANDING (new files, watched by the triggerer) -> ingest -> RAW_LANDING -> features ->
FEATURES -> score -> SCORES -> publish -> CUSTOMER_HEALTH; score -> DRIFT -> retrain -> SCORES.
A URI names what an asset event announces.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import NamedTuple

ASSET_GROUP = "customer_health"


class AssetName(NamedTuple):
    name: str
    uri: str


LANDING = AssetName("customer_health_landing", "x-customer-health://landing")
RAW_LANDING = AssetName("customer_health_raw", "x-customer-health://warehouse/raw")
FEATURES = AssetName("customer_health_features",
                     "x-customer-health://warehouse/main.fct_customer_features")
SCORES = AssetName("customer_health_scores", "x-customer-health://warehouse/scoring.churn_scores")
CUSTOMER_HEALTH = AssetName("customer_health", "x-customer-health://warehouse/main.customer_health")
DRIFT = AssetName("customer_health_drift", "x-customer-health://models/drift")

# DuckDB allows one writer process: every task of every customer-health DAG takes the one slot
# of this pool. Create it once per Airflow installation:
#   airflow pools set customer_health_warehouse 1 "DuckDB warehouse: one writer at a time"
WAREHOUSE_POOL = "customer_health_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "DuckDB warehouse of customer_health: one writer at a time"


def task_defaults() -> dict:
    """default_args of every customer-health DAG: the pool, retries and a time limit."""
    return {
        "owner": "customer-health",
        "pool": WAREHOUSE_POOL,
        # A retry mostly outwaits a warehouse held by another process (a CLI run, a BI tool).
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        # A stuck task must not hold the pool's only slot forever.
        "execution_timeout": timedelta(hours=2),
    }


def dag_defaults() -> dict:
    """Settings every customer-health DAG shares: one run at a time, no catch-up, task defaults."""
    return {
        "start_date": datetime(2025, 1, 1, tzinfo=timezone.utc),
        "catchup": False,
        "max_active_runs": 1,  # with the pool's single slot: one warehouse writer
        "default_args": task_defaults(),
    }
