"""`customer-health doctor`: a healthy deployment passes, and each thing that breaks a deployment is
reported through the CLI as a failure (exit 1) or a warning (exit 0) with what to fix.

The healthy case is the shared scored demo run; the broken ones are small homes built here.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from customer_health.cli import main
from customer_health.doctor import check_dbt
from customer_health.landing_files import snapshot
from customer_health.warehouse import connect

TOKEN = "doctor-test-token-0123456789"
SECRET = "s3cret-Pa55word"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Nothing from the caller's environment decides what doctor finds."""
    for name in ("CUSTOMER_HEALTH_CONFIG", "CUSTOMER_HEALTH_HOME", "CUSTOMER_HEALTH_LANDING",
                 "CUSTOMER_HEALTH_WAREHOUSE", "AIRFLOW__API__BASE_URL", "DBT_TARGET",
                 "AIRFLOW_CONN_CUSTOMER_HEALTH_REDIS", "DOCTOR_TEST_DSN", "DOCTOR_TEST_HOOK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUSTOMER_HEALTH_TOKEN", TOKEN)


def doctor(capsys, *args: str) -> tuple[int, dict[str, dict]]:
    """Run `customer-health doctor --json`; (exit code, {check name: check})."""
    capsys.readouterr()  # drop what fixtures printed (the scored run prints its at-risk list)
    code = main(["doctor", "--json", *args])
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] == (code == 0)
    return code, {c["name"]: c for c in report["checks"]}


def failures(checks: dict[str, dict]) -> dict[str, dict]:
    return {name: c for name, c in checks.items() if c["status"] == "fail"}


def deployment(folder: Path, **sections) -> list[str]:
    """A config with these sections, an empty home and a landing folder with its entity folders."""
    for entity in ("customers", "transactions", "interactions"):
        (folder / "landing" / entity).mkdir(parents=True, exist_ok=True)
    config = folder / "customer_health.yml"
    config.write_text(yaml.safe_dump(sections))
    return ["--config", str(config), "--home", str(folder / "home"),
            "--landing", str(folder / "landing")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --- a healthy deployment -----------------------------------------------------------------------

def test_a_scored_deployment_passes_and_doctor_changes_nothing(scored, demo, capsys):
    before = listing(scored["home"])
    code, checks = doctor(capsys, *scored["flags"])
    assert code == 0, failures(checks)
    assert not failures(checks)
    for name in ("configuration", "home folder", "warehouse folder", "exports folder",
                 "models folder", "serving copy folder", "app database folder", "landing folder",
                 "warehouse", "live model", "dbt project", "web app token"):
        assert checks[name]["status"] == "ok", checks[name]
    delivered = len(snapshot(demo["landing"]))
    assert f"from {delivered} landing file(s)" in checks["warehouse"]["detail"]
    assert "live model v0001" in checks["live model"]["detail"]
    for name in ("airflow", "postgres export", "alert delivery", "batch-ready queue"):
        assert checks[name]["status"] == "skip" and "not configured" in checks[name]["detail"]
    assert listing(scored["home"]) == before, "doctor left files behind or removed some"

    # the readable table for people
    assert main(["doctor", *scored["flags"]]) == 0
    out = capsys.readouterr().out
    assert "live model" in out and "No check failed" in out


# --- configuration, folders, landing ------------------------------------------------------------

def test_a_configuration_error_is_shown_as_it_is(tmp_path, capsys):
    flags = deployment(tmp_path, bands={"healthy": 50, "watch": 60, "at_risk": 40})
    code, checks = doctor(capsys, *flags)
    assert code == 1
    assert list(checks) == ["configuration"]
    detail = checks["configuration"]["detail"]
    assert "customer_health.yml" in detail and "healthy > watch > at_risk" in detail
    assert checks["configuration"]["fix"]


def test_an_unwritable_home_fails_with_the_file_in_its_way(tmp_path, capsys):
    # chmod does not stop root: a home whose parent is a file cannot be created by anyone
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    flags = deployment(tmp_path)
    code = main(["doctor", *flags, "--home", str(blocker / "home")])
    out = capsys.readouterr().out
    assert code == 1
    row = next(line for line in out.splitlines() if "home folder" in line)
    assert "fail" in row  # the table's row for the home folder
    assert "failed" in out.splitlines()[-1]
    code, checks = doctor(capsys, *flags, "--home", str(blocker / "home"))
    assert f"{blocker} is a file" in checks["home folder"]["detail"]
    assert f"Remove or rename the file {blocker}" in checks["home folder"]["fix"]
    for name in ("home folder", "models folder", "exports folder", "serving copy folder",
                 "app database folder"):
        assert checks[name]["status"] == "fail"
        assert "--home" in checks[name]["fix"]


def test_a_missing_landing_fails_and_missing_entity_folders_warn(tmp_path, capsys):
    flags = deployment(tmp_path)
    code, checks = doctor(capsys, *flags, "--landing", str(tmp_path / "nowhere"))
    assert code == 1
    assert checks["landing folder"]["status"] == "fail"
    assert "nowhere does not exist" in checks["landing folder"]["detail"]
    assert "customers/" in checks["landing folder"]["fix"]

    shutil.rmtree(tmp_path / "landing" / "interactions")
    code, checks = doctor(capsys, *flags)
    assert code == 0, failures(checks)  # a business may send no interactions: a warning
    assert checks["landing folder"]["status"] == "warn"
    assert "no interactions/" in checks["landing folder"]["detail"]
    # an empty home: nothing loaded yet, which is a warning too
    assert checks["warehouse"]["status"] == "warn"
    assert "customer-health run" in checks["warehouse"]["fix"]


# --- warehouse ----------------------------------------------------------------------------------

def test_a_corrupt_warehouse_fails(tmp_path, capsys):
    flags = deployment(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "warehouse.duckdb").write_bytes(b"\x00garbage, not DuckDB\xff" * 500)
    code, checks = doctor(capsys, *flags)
    assert code == 1
    assert checks["warehouse"]["status"] == "fail"
    assert "not a valid DuckDB database" in checks["warehouse"]["detail"]
    assert "backup" in checks["warehouse"]["fix"]
    assert checks["live model"]["status"] == "skip"


def _small_warehouse(path: Path, note: dict | None = None) -> None:
    with connect(path) as con:
        con.execute("insert into raw.pipeline_meta values ('dataset_id', 'doctor-test')")
        con.execute("insert into raw.customers (customer_id) values ('c1'), ('c2')")
        if note is not None:
            con.execute("insert into scoring.runs (run_id, scored_at, as_of, model_version, "
                        "customers_scored, score_source, score_note) values "
                        "('r1', now(), current_date, 'scorecard', 2, 'scorecard', ?)",
                        [json.dumps(note)])


def test_a_warehouse_held_by_a_writer_is_a_warning(tmp_path, capsys):
    flags = deployment(tmp_path)
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    _small_warehouse(warehouse)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
         "print('holding', flush=True); time.sleep(60)", str(warehouse)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        code, checks = doctor(capsys, *flags)
    finally:
        holder.kill()
        holder.wait()
    assert code == 0, failures(checks)
    assert checks["warehouse"]["status"] == "warn"
    assert "held by a writer" in checks["warehouse"]["detail"]
    assert "serving copy" in checks["warehouse"]["fix"]

    code, checks = doctor(capsys, *flags)  # released: readable again
    assert checks["warehouse"]["status"] == "ok" and "customers 2," in checks["warehouse"]["detail"]


# --- model --------------------------------------------------------------------------------------

def test_no_model_warns_that_the_scorecard_scores_and_why(tmp_path, capsys):
    flags = deployment(tmp_path)
    reason = "only 12 labelled rows (model.min_labelled_rows is 500)"
    _small_warehouse(tmp_path / "home" / "warehouse.duckdb", note={"reasons": [reason]})
    code, checks = doctor(capsys, *flags)
    assert code == 0, failures(checks)
    model = checks["live model"]
    assert model["status"] == "warn"
    assert "rule-based scorecard" in model["detail"] and reason in model["detail"]
    assert "min_labelled_rows" in model["fix"]


def test_a_home_without_the_models_of_its_warehouse_warns(scored, demo, tmp_path, capsys):
    code, checks = doctor(capsys, "--config", str(demo["config"]), "--home", str(tmp_path),
                          "--warehouse", str(scored["warehouse"]), "--landing", str(demo["landing"]))
    assert code == 0, failures(checks)
    assert checks["live model"]["status"] == "warn"
    assert f"no model for this dataset in {tmp_path / 'models'}" in checks["live model"]["detail"]


def test_a_damaged_live_model_fails(scored, demo, tmp_path, capsys):
    shutil.copytree(scored["home"] / "models", tmp_path / "models")
    (tmp_path / "models" / "v0001" / "model.txt").write_text("tree\nnot a LightGBM model\n")
    code, checks = doctor(capsys, "--config", str(demo["config"]), "--home", str(tmp_path),
                          "--warehouse", str(scored["warehouse"]), "--landing", str(demo["landing"]))
    assert code == 1
    assert checks["live model"]["status"] == "fail"
    assert "v0001" in checks["live model"]["detail"] and "does not load" in checks["live model"]["detail"]
    assert "model rollback" in checks["live model"]["fix"]


# --- dbt ----------------------------------------------------------------------------------------

def test_a_dbt_profile_that_does_not_match_the_project_fails(tmp_path):
    from customer_health.config import DBT_PROJECT_DIR

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR / "models", project / "models")
    shutil.copy(DBT_PROJECT_DIR / "dbt_project.yml", project)
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    (project / "profiles.yml").write_text(yaml.safe_dump({"someone_else": profiles["customer_health"]}))
    check = check_dbt(project)
    assert check.status == "fail" and "no profile 'customer_health'" in check.detail

    profiles["customer_health"]["target"] = "snowflake"
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles))
    check = check_dbt(project)
    assert check.status == "fail" and "'snowflake'" in check.detail


# --- Airflow ------------------------------------------------------------------------------------

def test_an_unreachable_airflow_fails_naming_the_url(tmp_path, capsys, monkeypatch):
    flags = deployment(tmp_path)
    url = f"http://127.0.0.1:{closed_port()}"
    code, checks = doctor(capsys, *flags, "--airflow-url", url)
    assert code == 1
    assert checks["airflow"]["status"] == "fail"
    assert f"{url}/api/v2/monitor/health" in checks["airflow"]["detail"]
    assert "airflow api-server" in checks["airflow"]["fix"]

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", url)  # Airflow's own setting is read too
    code, checks = doctor(capsys, *flags)
    assert code == 1 and checks["airflow"]["status"] == "fail"


@pytest.fixture
def airflow_stub():
    """An HTTP server answering /airflow/api/v2/monitor/health with ``state["health"]``."""
    state: dict = {"paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["paths"].append(self.path)
            body = json.dumps(state["health"]).encode()
            self.send_response(200 if self.path == "/airflow/api/v2/monitor/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/airflow/"
    yield state
    server.shutdown()
    server.server_close()


def _health(scheduler="healthy", triggerer="healthy", dag_processor="healthy"):
    beat = "2026-11-20T10:00:00+00:00"
    return {"metadatabase": {"status": "healthy"},
            "scheduler": {"status": scheduler, "latest_scheduler_heartbeat": beat},
            "triggerer": {"status": triggerer, "latest_triggerer_heartbeat": beat},
            "dag_processor": {"status": dag_processor, "latest_dag_processor_heartbeat": beat}}


def test_airflow_component_health_is_reported(tmp_path, capsys, airflow_stub):
    flags = deployment(tmp_path)
    with_login = airflow_stub["url"].replace("http://", f"http://admin:{SECRET}@")
    airflow_stub["health"] = _health()
    code, checks = doctor(capsys, *flags, "--airflow-url", with_login)
    assert code == 0, failures(checks)
    assert airflow_stub["paths"] == ["/airflow/api/v2/monitor/health"]
    for name in ("airflow", "airflow scheduler", "airflow triggerer", "airflow dag-processor"):
        assert checks[name]["status"] == "ok", checks[name]
    assert SECRET not in json.dumps(checks)

    # no triggerer ever started: the landing watcher is down, the hourly safety net still runs
    airflow_stub["health"] = _health(triggerer=None)
    code, checks = doctor(capsys, *flags, "--airflow-url", airflow_stub["url"])
    assert code == 0
    assert checks["airflow triggerer"]["status"] == "warn"
    assert "never started" in checks["airflow triggerer"]["detail"]
    assert "airflow triggerer" in checks["airflow triggerer"]["fix"]

    airflow_stub["health"] = _health(scheduler="unhealthy")
    code, checks = doctor(capsys, *flags, "--airflow-url", airflow_stub["url"])
    assert code == 1
    assert checks["airflow scheduler"]["status"] == "fail"
    assert "airflow scheduler" in checks["airflow scheduler"]["fix"]


# --- optional integrations ----------------------------------------------------------------------

def test_a_postgres_export_without_its_variable_fails_naming_it(tmp_path, capsys):
    flags = deployment(tmp_path, exports={"postgres": {"dsn_env": "DOCTOR_TEST_DSN"}})
    code, checks = doctor(capsys, *flags)
    assert code == 1
    assert checks["postgres export"]["status"] == "fail"
    assert "DOCTOR_TEST_DSN is not set" in checks["postgres export"]["detail"]
    assert "DOCTOR_TEST_DSN" in checks["postgres export"]["fix"]


def test_an_unreachable_postgres_fails_naming_the_host_never_the_password(tmp_path, capsys,
                                                                           monkeypatch):
    flags = deployment(tmp_path, exports={"postgres": {"dsn_env": "DOCTOR_TEST_DSN"}})
    port = closed_port()
    monkeypatch.setenv("DOCTOR_TEST_DSN", f"postgresql://bi:{SECRET}@127.0.0.1:{port}/analytics")
    code = main(["doctor", *flags])
    table = capsys.readouterr().out
    code_json, checks = doctor(capsys, *flags)
    assert code == code_json == 1
    assert checks["postgres export"]["status"] == "fail"
    assert f"host 127.0.0.1 port {port} database analytics" in checks["postgres export"]["detail"]
    assert SECRET not in table and SECRET not in json.dumps(checks)


def test_a_reachable_postgres_export_passes(tmp_path, capsys, monkeypatch):
    from tests.postgres import admin_connection, dsn

    admin_connection().close()  # skips, saying why, without a server
    flags = deployment(tmp_path, exports={"postgres": {"dsn_env": "DOCTOR_TEST_DSN"}})
    monkeypatch.setenv("DOCTOR_TEST_DSN", dsn("postgres"))
    code, checks = doctor(capsys, *flags)
    assert code == 0, failures(checks)
    assert checks["postgres export"]["status"] == "ok"
    assert "schema customer_health writable" in checks["postgres export"]["detail"]


def test_alert_delivery_without_its_secret_or_server_fails(tmp_path, capsys, monkeypatch):
    port = closed_port()
    flags = deployment(tmp_path, alert_delivery={
        "webhook": {"url_env": "DOCTOR_TEST_HOOK"},
        "email": {"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "ch@example.com",
                  "recipients": ["team@example.com"], "username_env": None, "password_env": None}})
    code, checks = doctor(capsys, *flags)
    assert code == 1
    assert checks["alert webhook"]["status"] == "fail"
    assert "DOCTOR_TEST_HOOK" in checks["alert webhook"]["detail"]
    assert checks["alert email"]["status"] == "fail"
    assert f"127.0.0.1:{port}" in checks["alert email"]["detail"]

    hook = f"https://hooks.example.com/services/{SECRET}"
    monkeypatch.setenv("DOCTOR_TEST_HOOK", hook)
    code, checks = doctor(capsys, *flags)
    assert checks["alert webhook"]["status"] == "ok"
    assert SECRET not in json.dumps(checks)


def test_the_web_token_warns_unless_the_deployment_serves(tmp_path, capsys, monkeypatch):
    flags = deployment(tmp_path)
    monkeypatch.delenv("CUSTOMER_HEALTH_TOKEN")
    code, checks = doctor(capsys, *flags)
    assert code == 0 and checks["web app token"]["status"] == "warn"
    code, checks = doctor(capsys, *flags, "--serving")
    assert code == 1 and checks["web app token"]["status"] == "fail"
    assert "CUSTOMER_HEALTH_TOKEN" in checks["web app token"]["fix"]
    monkeypatch.setenv("CUSTOMER_HEALTH_TOKEN", "tiny-tok")
    code, checks = doctor(capsys, *flags)
    assert code == 1 and "too short" in checks["web app token"]["detail"]
    assert "tiny-tok" not in json.dumps(checks)


def test_an_unreachable_batch_ready_queue_fails_naming_the_host(tmp_path, capsys, monkeypatch):
    flags = deployment(tmp_path, orchestration={"batch_ready_queue": {}})
    code, checks = doctor(capsys, *flags)
    assert code == 0 and checks["batch-ready queue"]["status"] == "warn"
    assert "AIRFLOW_CONN_CUSTOMER_HEALTH_REDIS is not set" in checks["batch-ready queue"]["detail"]

    port = closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_HEALTH_REDIS", f"redis://:{SECRET}@127.0.0.1:{port}/?db=1")
    code, checks = doctor(capsys, *flags)
    assert code == 1
    queue = checks["batch-ready queue"]
    assert queue["status"] == "fail" and f"127.0.0.1:{port}" in queue["detail"]
    assert "AIRFLOW_CONN_CUSTOMER_HEALTH_REDIS" in queue["fix"]
    assert SECRET not in json.dumps(checks)
