"""A new deployment: Airflow runs the latest slot of every cron schedule as soon as the DAG
appears (catchup off), before ingest has loaded anything. The retrain DAG's run is then skipped,
not failed (the real-scheduler tests hit this when the retrain run takes the warehouse pool
before the first ingest; here it is checked every time).

The task runs in a subprocess, so this test process never imports Airflow.
"""

from __future__ import annotations

import os
import subprocess
import sys

from orchestration_harness import DAGS_FOLDER

CALL_THE_TASK = f"""
import sys
sys.path.insert(0, {str(DAGS_FOLDER)!r})
from airflow.sdk.exceptions import AirflowSkipException
import customer_health_retrain as dag_file
try:
    dag_file.retrain_and_score.function()
except AirflowSkipException as exc:
    print("SKIPPED", exc)
"""


def test_the_retrain_run_of_a_new_deployment_is_skipped_before_any_data(tmp_path):
    (tmp_path / "landing").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CUSTOMER_HEALTH_"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), GX_ANALYTICS_ENABLED="false",
               CUSTOMER_HEALTH_HOME=str(tmp_path / "home"),
               CUSTOMER_HEALTH_LANDING=str(tmp_path / "landing"))
    done = subprocess.run([sys.executable, "-c", CALL_THE_TASK], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED no warehouse yet" in done.stdout, done.stdout + done.stderr
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()
