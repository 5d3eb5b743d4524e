"""customer_health_ingest: load the new landing files into the DuckDB warehouse.

Every landing file (customers, transactions, interactions) is loaded exactly once: the ingest
ledger remembers each file by content, Great Expectations gates each batch, and broken rows go to
quarantine. When new rows were loaded the task updates the `customer_health_raw` asset, which
starts `customer_health_features`; when nothing new arrived it is skipped and the chain stays quiet.

Runs hourly as a safety net; trigger it by hand (or from the tool that drops the files) to pick up
a delivery at once. Landing folder and configuration: `CUSTOMER_HEALTH_LANDING`,
`CUSTOMER_HEALTH_HOME`, `CUSTOMER_HEALTH_CONFIG`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from customer_health.assets import ASSET_GROUP, RAW_LANDING, task_defaults

raw_landing_asset = Asset(RAW_LANDING.name, RAW_LANDING.uri, group=ASSET_GROUP)

log = logging.getLogger("customer_health_ingest")


@task(multiple_outputs=False, outlets=[raw_landing_asset])
def ingest_landing() -> dict:
    """Load new landing files; skip (no asset event) when no new rows were loaded."""
    from customer_health.config import load_settings
    from customer_health.errors import fail_fast
    from customer_health.pipeline import ingest_step

    settings = load_settings()
    with fail_fast(AirflowFailException):
        report = ingest_step(settings)
    for outcome in report.failed:
        log.warning("%s: %s (%s)", outcome.path, outcome.status, outcome.reason)
    summary = report.summary()
    log.info("ingest summary: %s", summary)
    if summary["rows_loaded"] == 0:
        raise AirflowSkipException(f"no new rows under {settings.landing}")
    return summary


@dag(
    dag_id="customer_health_ingest",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(),
    tags=["customer_health", "ingest"],
    doc_md=__doc__,
)
def customer_health_ingest():
    ingest_landing()


customer_health_ingest()
