"""customer_health_publish: build the tables retention teams and BI tools read, export Parquet.

Runs when `customer_health_score` wrote new scores (asset `customer_health_scores`): dbt builds
and tests `customer_health`, `customer_health_history`, the at-risk list and the alerts, then the
task exports Parquet copies for BI and updates the `customer_health` asset, the end of the chain.
"""

from __future__ import annotations


from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException

from customer_health.assets import ASSET_GROUP, CUSTOMER_HEALTH, SCORES, dag_defaults

scores_asset = Asset(SCORES.name, SCORES.uri, group=ASSET_GROUP)
customer_health_asset = Asset(CUSTOMER_HEALTH.name, CUSTOMER_HEALTH.uri, group=ASSET_GROUP)


@task(multiple_outputs=False, outlets=[customer_health_asset])
def publish_customer_health() -> dict:
    """dbt build of the health marts and Parquet exports; returns customers per band."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import publish_step

    with fail_fast(AirflowFailException):
        s = publish_step(load_settings())
    return {"customers": s.customers, "bands": s.bands, "exported": s.exported,
            "dbt_nodes_passed": s.dbt.passed}


@dag(
    dag_id="customer_health_publish",
    schedule=[scores_asset],
    **dag_defaults(),
    tags=["customer_health", "dbt", "publish"],
    doc_md=__doc__,
)
def customer_health_publish():
    publish_customer_health()


customer_health_publish()
