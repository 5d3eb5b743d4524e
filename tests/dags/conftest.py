"""Airflow fixtures: a throwaway AIRFLOW_HOME with SQLite metadata and the DAGs parsed from dags/.

Airflow reads its configuration when it is first imported, so the environment is set before any
``import airflow``; nothing in this package imports Airflow at module level.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from customer_health.assets import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
AIRFLOW = Path(sys.executable).parent / "airflow"

log = logging.getLogger(__name__)


def airflow_env(home: Path) -> dict[str, str]:
    """Environment of an isolated Airflow: SQLite metadata, our DAGs only, logs under home."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Paused DAGs ignore asset events; a deployment unpauses them once, the tests at creation.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "false",
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory):
    """A migrated Airflow metadata database with the warehouse pool, for the whole session."""
    if "airflow" in sys.modules:
        pytest.fail("airflow was imported before the test AIRFLOW_HOME was set up")
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in airflow_env(home).items():
            mp.setenv(key, value)
        started = time.perf_counter()
        done = subprocess.run([str(AIRFLOW), "db", "migrate"], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"airflow db migrate failed:\n{done.stdout}\n{done.stderr}")
        log.info("airflow db migrate took %.1f s", time.perf_counter() - started)

        from airflow.models.pool import Pool

        Pool.create_or_update_pool(WAREHOUSE_POOL, slots=1, description=WAREHOUSE_POOL_DESCRIPTION,
                                   include_deferred=False)
        yield home


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path):
    """The DAG files of dags/, parsed the way the DAG processor parses them."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
