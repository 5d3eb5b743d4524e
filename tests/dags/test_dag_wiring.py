"""The DAG files in dags/ parse cleanly and chain ingest, features, score, publish by assets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from customer_health import assets

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"

CHAIN = ["customer_health_ingest", "customer_health_features", "customer_health_score",
         "customer_health_publish"]
ALL_DAGS = CHAIN + ["customer_health_retrain", "customer_health_backfill"]
OUTLETS = {
    "customer_health_ingest": {assets.RAW_LANDING},
    "customer_health_features": {assets.FEATURES},
    "customer_health_score": {assets.SCORES, assets.DRIFT},
    "customer_health_publish": {assets.CUSTOMER_HEALTH},
    "customer_health_retrain": {assets.SCORES},
    "customer_health_backfill": {assets.CUSTOMER_HEALTH},
}
# What starts each DAG besides a person: the assets it waits for.
STARTED_BY = {
    "customer_health_ingest": {assets.LANDING},
    "customer_health_features": {assets.RAW_LANDING},
    "customer_health_score": {assets.FEATURES},
    "customer_health_publish": {assets.SCORES},
    "customer_health_retrain": {assets.DRIFT},
}
HEAVY = ("pandas", "numpy", "duckdb", "lightgbm", "great_expectations", "dbt", "sklearn")


def _keys(objects) -> set[tuple[str, str]]:
    return {(a.name, a.uri) for a in objects}


def _inputs(dag) -> list:
    """The assets a DAG's schedule waits for (one asset, or all/any of several)."""
    condition = dag.timetable.asset_condition
    return list(getattr(condition, "objects", [condition]))


def test_every_dag_file_imports_and_holds_the_dag_it_is_named_after(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(ALL_DAGS)
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc == str(DAGS_FOLDER / f"{dag_id}.py")
        assert dag.doc_md and dag.tags


def test_outlets_of_each_dag_schedule_the_next(dagbag):
    for dag_id in ALL_DAGS:
        outlets = {(a.name, a.uri) for task in dagbag.dags[dag_id].tasks for a in task.outlets}
        assert outlets == {tuple(a) for a in OUTLETS[dag_id]}, dag_id
    for dag_id, inputs in STARTED_BY.items():
        assert _keys(_inputs(dagbag.dags[dag_id])) == {tuple(a) for a in inputs}, dag_id
    assert type(dagbag.dags["customer_health_backfill"].timetable).__name__ == "NullTimetable"


def test_new_landing_data_starts_ingest_through_watchers_and_a_safety_net(dagbag):

    from customer_health.airflow_triggers import LandingFilesTrigger
    from customer_health.config import load_settings

    ingest = dagbag.dags["customer_health_ingest"]
    settings = load_settings()
    assert ingest.timetable.timetable.expression == settings.options.orchestration.safety_net_cron
    assert not ingest.catchup
    (landing,) = _inputs(ingest)
    triggers = {w.name: w.trigger for w in landing.watchers}
    folder = triggers["customer_health_landing_folder"]
    assert isinstance(folder, LandingFilesTrigger)
    assert folder.landing == str(settings.landing)
    # the queue watcher is off in the shipped configuration (no broker assumed)
    assert "customer_health_batch_ready" not in triggers


def test_the_batch_ready_queue_adds_a_redis_watcher_when_configured(tmp_path, airflow_home):
    import yaml

    from customer_health.airflow_triggers import watchers
    from customer_health.config import load_settings

    config = tmp_path / "customer_health.yml"
    config.write_text(yaml.safe_dump({"orchestration": {"batch_ready_queue": {
        "channels": ["erp.batch_ready"], "conn_id": "erp_redis"}}}), encoding="utf-8")
    found = {w.name: w.trigger for w in watchers(load_settings(config, home=tmp_path))}
    queue = found["customer_health_batch_ready"]
    classpath, kwargs = queue.serialize()
    # MessageQueueTrigger hands the redis+pubsub scheme to the Redis provider's trigger
    assert classpath == "airflow.providers.redis.triggers.redis_await_message.AwaitMessageTrigger"
    assert kwargs["poll_interval"] == 1
    assert kwargs["channels"] == ["erp.batch_ready"] and kwargs["redis_conn_id"] == "erp_redis"
    assert found["customer_health_landing_folder"].landing == str(tmp_path / "landing")


def test_the_retrain_dag_runs_weekly_and_on_drift(dagbag):
    retrain = dagbag.dags["customer_health_retrain"]
    assert retrain.timetable.timetable.expression == "0 3 * * 1"
    assert not retrain.catchup


def test_features_can_be_rebuilt_as_of_an_earlier_date(dagbag):
    assert dagbag.dags["customer_health_features"].params["as_of"] is None


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_one_warehouse_writer_at_a_time_with_shared_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    defaults = assets.task_defaults()
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert (task.pool, task.pool_slots) == (assets.WAREHOUSE_POOL, 1)
        assert task.retries == defaults["retries"] > 0
        assert task.retry_delay == defaults["retry_delay"]
        assert task.execution_timeout == defaults["execution_timeout"]


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_parsing_a_dag_file_loads_no_heavy_library(dag_id, airflow_home):
    """The DAG processor parses every file often: pandas, dbt, GX and LightGBM load in tasks."""
    code = (f"import runpy, sys; runpy.run_path({str(DAGS_FOLDER / f'{dag_id}.py')!r}); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", done.stdout


def test_the_pipeline_package_imports_without_airflow():
    code = "import sys, customer_health.assets; assert 'airflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
