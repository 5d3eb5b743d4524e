"""customer_health_publish: build the tables retention teams and BI tools read, export Parquet.

Runs when `customer_health_score` wrote new scores (asset `customer_health_scores`): dbt builds
and tests `customer_health`, `customer_health_history`, the at-risk list and the alerts, then the
task exports Parquet copies for BI, swaps in the serving copy the web app reads (and copies the
tables to PostgreSQL when configured) and updates the `customer_health` asset, the end of the
chain. `deliver_alerts` then sends the new health alerts to the configured webhook and email.
"""

from __future__ import annotations


from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

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


@task(multiple_outputs=False)
def deliver_alerts() -> dict:
    """Send the new health alerts to the configured webhook and email, each alert once."""
    from customer_health.alert_delivery import deliver_new_alerts
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast

    with fail_fast(AirflowFailException):
        summary = deliver_new_alerts(load_settings())
    if summary is None:
        raise AirflowSkipException("no alert delivery configured (alert_delivery in the YAML)")
    if not summary.ok:
        # the failed sends are kept and retried by the next publish; the run itself says so
        raise AirflowFailException("; ".join(f"{c.channel}: {c.error}" for c in summary.channels
                                             if not c.ok))
    return {"as_of": str(summary.as_of), "sent": summary.sent}


@dag(
    dag_id="customer_health_publish",
    schedule=[scores_asset],
    **dag_defaults(),
    tags=["customer_health", "dbt", "publish"],
    doc_md=__doc__,
)
def customer_health_publish():
    publish_customer_health() >> deliver_alerts()


customer_health_publish()
