"""customer_health_features: build the point-in-time customer features with dbt.

Runs when `customer_health_ingest` loaded new rows (asset `customer_health_raw`): dbt builds and
tests the staging, intermediate and feature models (everything but the scored marts), then the
task updates `customer_health_features`, which starts `customer_health_score`.

The `as_of` parameter (a date, default: the latest date every feed has reached) rebuilds the
features as of an earlier day; the chain then scores that day into `customer_health_history`
(a backfill), while `customer_health` keeps showing the latest date.
"""

from __future__ import annotations


from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from customer_health.assets import ASSET_GROUP, FEATURES, RAW_LANDING, dag_defaults

raw_landing_asset = Asset(RAW_LANDING.name, RAW_LANDING.uri, group=ASSET_GROUP)
features_asset = Asset(FEATURES.name, FEATURES.uri, group=ASSET_GROUP)


@task(multiple_outputs=False, outlets=[features_asset])
def build_features(params: dict | None = None) -> dict:
    """dbt build of the feature models, as of ``params['as_of']`` or the latest data."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import features_step

    as_of = (params or {}).get("as_of")
    with fail_fast(AirflowFailException):
        result = features_step(load_settings(), as_of=as_of)
    return {"as_of": as_of, "dbt_command": result.command, "dbt_nodes_passed": result.passed}


@dag(
    dag_id="customer_health_features",
    schedule=[raw_landing_asset],
    **dag_defaults(),
    params={
        "as_of": Param(None, type=["null", "string"], format="date",
                       description="Build the features as of this date (YYYY-MM-DD); "
                                   "empty means the latest data."),
    },
    tags=["customer_health", "dbt"],
    doc_md=__doc__,
)
def customer_health_features():
    build_features()


customer_health_features()
