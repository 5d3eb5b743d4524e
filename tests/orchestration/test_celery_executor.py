"""The distributed mode without Docker: CeleryExecutor, PostgreSQL metadata, Redis broker.

The deployment of docker-compose.yml, on the machine's own servers: Airflow's metadata in a
fresh PostgreSQL database (dropped afterwards), Celery's broker on Redis, its results in
PostgreSQL, and a Celery worker process (concurrency 2) that runs every task. As on one
machine, the landing folder watcher starts the chain by itself; the test waits until
ingest -> features -> score -> publish completed and checks that the Celery worker ran the
tasks (they went to this run's own Celery queue, which only the worker serves).

Needs PostgreSQL (CUSTOMER_HEALTH_PG_HOST / PORT / USER / PASSWORD, default 127.0.0.1:5432 as
postgres) and Redis on 127.0.0.1:6379; without either the test says which and skips.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import time
from urllib.parse import quote

import pytest

from customer_health.assets import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION
from orchestration_data import (make_dataset, read_export, record_latency, redis_client, settled,
                                unused_redis_db)
from orchestration_harness import CHAIN, AirflowProcesses, show_logs_on_failure
from tests.postgres import PG, throwaway_database

pytestmark = pytest.mark.slow

CUSTOMERS, MONTHS = 400, 12
TIMEOUT = 300


@pytest.fixture
def metadata_database():
    """A new PostgreSQL database for Airflow's metadata; dropped (connections closed) after."""
    with throwaway_database("customer_health_airflow") as name:
        yield name


def sqlalchemy_url(database: str, driver: str = "postgresql+psycopg2") -> str:
    password = f":{quote(PG['password'], safe='')}" if PG["password"] else ""
    return f"{driver}://{quote(PG['user'], safe='')}{password}@{PG['host']}:{PG['port']}/{database}"


def test_the_chain_completes_on_celery_workers_with_postgres_and_redis(
        tmp_path, tmp_path_factory, metadata_database, pytestconfig, request):
    if importlib.util.find_spec("asyncpg") is None:
        pytest.fail("Airflow 3 also opens its PostgreSQL metadata database through an async "
                    "driver, asyncpg (the official Airflow image has it): it is not installed")
    redis = redis_client(0)
    if redis is None:
        pytest.skip("no Redis server at 127.0.0.1:6379: the CeleryExecutor test needs it as "
                    "Celery's broker")
    broker_db = unused_redis_db(redis)
    # A queue of this run only: a worker of another run on the same Redis never takes its tasks.
    queue = f"customer_health_test_{secrets.token_hex(4)}"
    dataset = make_dataset(tmp_path / "data", CUSTOMERS, MONTHS)
    airflow = AirflowProcesses(
        tmp_path / "airflow", executor="CeleryExecutor",
        sql_alchemy_conn=sqlalchemy_url(metadata_database),
        env={**dataset.env(),
             "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
             "AIRFLOW__CELERY__RESULT_BACKEND":
                 sqlalchemy_url(metadata_database, "db+postgresql+psycopg2"),
             "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
             "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue})
    show_logs_on_failure(request.node, airflow)
    clock = time.monotonic()
    try:
        airflow.cli("db", "migrate")
        airflow.cli("pools", "set", WAREHOUSE_POOL, "1", WAREHOUSE_POOL_DESCRIPTION)
        migrated = time.monotonic() - clock
        airflow.start_components(celery_queue=queue, concurrency=2)
        airflow.wait_for(lambda: read_export(dataset), TIMEOUT,
                         "the chain to publish customer_health", interval=0.5,
                         fail_on_task_failure=True)
        published = time.monotonic() - clock
        runs = settled(airflow, TIMEOUT, "every DAG run to finish")

        states = {(d, r["dag_run_id"]): r["state"] for d, rs in runs.items() for r in rs}
        assert set(states.values()) == {"success"}, states
        for dag_id in CHAIN:
            assert runs[dag_id], f"{dag_id} never ran"
        tasks = airflow.task_instances()
        ran = [t for t in tasks if t["state"] in ("success", "skipped") and t["pid"]]
        assert {t["dag_id"] for t in ran if t["state"] == "success"} >= set(CHAIN)
        # Every task went to this run's queue, which only the Celery worker serves, and the
        # worker's log shows it executing each of them.
        assert {t["queue"] for t in tasks} == {queue}, {t["queue"] for t in tasks}
        worker_log = airflow.logs["celery-worker"].read_text(encoding="utf-8", errors="replace")
        executed = re.findall(r"Task execute_workload\[[0-9a-f-]+\] succeeded", worker_log)
        assert len(executed) >= len(ran), (len(executed), len(ran), worker_log[-3000:])
        assert read_export(dataset)["rows"] > 0
        record_latency(pytestconfig, tmp_path_factory.getbasetemp(),
                       "CeleryExecutor + PostgreSQL + Redis: Airflow start -> customer_health",
                       published - migrated, customers=CUSTOMERS, months=MONTHS,
                       tasks_on_celery=len(executed))
    finally:
        survivors = airflow.stop()
        # The Redis keys of this run's queue (the broker database is otherwise left alone).
        broker = type(redis)(host="127.0.0.1", port=6379, db=broker_db)
        broker.delete(queue, f"_kombu.binding.{queue}")
    assert not survivors, f"processes outlived the test: {survivors}"
