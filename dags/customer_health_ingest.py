"""customer_health_ingest: load the new landing files into the DuckDB warehouse.

Starts by itself when data arrives: the asset `customer_health_landing` is watched by the
triggerer (new or changed files in the landing folder, and "batch ready" messages on a queue when
`orchestration.batch_ready_queue` is set), and a safety-net schedule
(`orchestration.safety_net_cron`, hourly by default) catches anything a trigger missed.

Every landing file (customers, transactions, interactions) is loaded exactly once: the ingest
ledger remembers each file by content, Great Expectations gates each batch, and broken rows go to
quarantine. When new rows were loaded the task updates the `customer_health_raw` asset, which
starts `customer_health_features`; when nothing new arrived it is skipped and the chain stays
quiet. Landing folder and configuration: `CUSTOMER_HEALTH_LANDING`, `CUSTOMER_HEALTH_HOME`,
`CUSTOMER_HEALTH_CONFIG`.
"""

from __future__ import annotations

import logging

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from customer_health.airflow_triggers import asset_or_cron, watchers
from customer_health.assets import ASSET_GROUP, LANDING, RAW_LANDING, dag_defaults
from customer_health.config import load_settings

settings = load_settings()
landing_asset = Asset(LANDING.name, LANDING.uri, group=ASSET_GROUP, watchers=watchers(settings))
raw_landing_asset = Asset(RAW_LANDING.name, RAW_LANDING.uri, group=ASSET_GROUP)

log = logging.getLogger("customer_health_ingest")


@task(multiple_outputs=False, outlets=[raw_landing_asset])
def ingest_landing() -> dict:
    """Load new landing files; skip (no asset event) when no new rows were loaded."""
    from customer_health.errors import fail_fast
    from customer_health.pipeline import ingest_step

    current = load_settings()
    with fail_fast(AirflowFailException):
        report = ingest_step(current)
    for outcome in report.failed:
        log.warning("%s: %s (%s)", outcome.path, outcome.status, outcome.reason)
    summary = report.summary()
    log.info("ingest summary: %s", summary)
    if summary["rows_loaded"] == 0:
        raise AirflowSkipException(f"no new rows under {current.landing}")
    return summary


@dag(
    dag_id="customer_health_ingest",
    schedule=asset_or_cron(landing_asset, settings.options.orchestration.safety_net_cron),
    **dag_defaults(),
    tags=["customer_health", "ingest"],
    doc_md=__doc__,
)
def customer_health_ingest():
    ingest_landing()


customer_health_ingest()
