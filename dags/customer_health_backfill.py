"""customer_health_backfill: rescore a range of past as-of dates into customer_health_history.

Trigger it by hand with `start`, `end` and `every_days` (for example the Mondays of last
quarter). Each date is one mapped task: the features as they were on that date, then the scores
of a model that learnt only from outcomes known by then (never made live). The history then
holds what the scores would have been; `customer_health` keeps showing the latest date, and
backfilled dates raise no alerts. The last tasks publish the history and rebuild the features
of the latest date. A date scored before is rewritten as the same run (safe to repeat).
"""

from __future__ import annotations

from dataclasses import asdict

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from customer_health.assets import ASSET_GROUP, CUSTOMER_HEALTH, dag_defaults

customer_health_asset = Asset(CUSTOMER_HEALTH.name, CUSTOMER_HEALTH.uri, group=ASSET_GROUP)


@task
def plan_dates(params: dict | None = None) -> list[str]:
    """The as-of dates to rescore, from the run's parameters."""
    from customer_health.errors import fail_fast
    from customer_health.pipeline import backfill_dates

    params = params or {}
    with fail_fast(AirflowFailException):
        return backfill_dates(params["start"], params["end"], int(params["every_days"]))


@task(max_active_tis_per_dag=1)
def rescore(as_of: str) -> dict:
    """Point-in-time features and scores of one past date."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import rescore_step

    with fail_fast(AirflowFailException):
        return asdict(rescore_step(load_settings(), as_of))


@task(outlets=[customer_health_asset])
def publish_history() -> dict:
    """Publish the new history rows (customer_health keeps the latest date)."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import publish_step

    with fail_fast(AirflowFailException):
        summary = publish_step(load_settings())
    return {"customers": summary.customers, "bands": summary.bands}


@task
def restore_latest_features() -> dict:
    """Leave the feature mart as of the latest date, as the regular chain has it."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import features_step

    with fail_fast(AirflowFailException):
        return {"dbt_nodes_passed": features_step(load_settings(), spine="full").passed}


@dag(
    dag_id="customer_health_backfill",
    schedule=None,
    **dag_defaults(),
    params={
        "start": Param(type="string", format="date", description="First as-of date (YYYY-MM-DD)"),
        "end": Param(type="string", format="date", description="Last as-of date (YYYY-MM-DD)"),
        "every_days": Param(7, type="integer", minimum=1, description="Days between dates"),
    },
    tags=["customer_health", "backfill"],
    doc_md=__doc__,
)
def customer_health_backfill():
    scored = rescore.expand(as_of=plan_dates())
    scored >> publish_history() >> restore_latest_features()


customer_health_backfill()
