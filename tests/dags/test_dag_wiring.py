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
OUTLETS = {
    "customer_health_ingest": assets.RAW_LANDING,
    "customer_health_features": assets.FEATURES,
    "customer_health_score": assets.SCORES,
    "customer_health_publish": assets.CUSTOMER_HEALTH,
}


def _keys(objects) -> set[tuple[str, str]]:
    return {(a.name, a.uri) for a in objects}


def test_every_dag_file_imports_and_holds_the_dag_it_is_named_after(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(CHAIN)
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc == str(DAGS_FOLDER / f"{dag_id}.py")
        assert dag.doc_md and dag.tags


def test_outlets_of_each_dag_schedule_the_next(dagbag):
    for dag_id in CHAIN:
        outlets = {(a.name, a.uri) for task in dagbag.dags[dag_id].tasks for a in task.outlets}
        assert outlets == {tuple(OUTLETS[dag_id])}, dag_id
    for producer, consumer in zip(CHAIN, CHAIN[1:]):
        schedule = dagbag.dags[consumer].timetable.asset_condition
        assert _keys(schedule.objects) == {tuple(OUTLETS[producer])}, consumer


def test_ingest_runs_hourly_without_catchup(dagbag):
    ingest = dagbag.dags["customer_health_ingest"]
    assert ingest.timetable.expression == "0 * * * *"
    assert not ingest.catchup


def test_features_can_be_rebuilt_as_of_an_earlier_date(dagbag):
    assert dagbag.dags["customer_health_features"].params["as_of"] is None


@pytest.mark.parametrize("dag_id", CHAIN)
def test_one_warehouse_writer_at_a_time_with_shared_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    defaults = assets.task_defaults()
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert (task.pool, task.pool_slots) == (assets.WAREHOUSE_POOL, 1)
        assert task.retries == defaults["retries"] > 0
        assert task.retry_delay == defaults["retry_delay"]
        assert task.execution_timeout == defaults["execution_timeout"]


@pytest.mark.parametrize("dag_id", CHAIN)
def test_dag_files_import_only_airflow_and_the_assets_module_at_top_level(dag_id):
    tree = ast.parse((DAGS_FOLDER / f"{dag_id}.py").read_text(encoding="utf-8"))
    modules = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
    heavy = {m for m in modules if m.split(".")[0] not in
             {"__future__", "airflow", "collections", "dataclasses", "datetime", "logging"}}
    assert heavy <= {"customer_health.assets"}, heavy


def test_the_pipeline_package_imports_without_airflow():
    code = "import sys, customer_health.assets; assert 'airflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
