"""`customer-health doctor`: check a deployment and say, check by check, what to fix.

``diagnose`` runs every check and returns a ``Diagnosis``: one ``Check`` per thing looked at, each
``ok``, ``warn``, ``fail`` or ``skip`` (not configured, or not checkable because an earlier check
failed), with what was found and one sentence saying what to do. Only a ``fail`` makes the
deployment unhealthy; a warning is worth reading but the pipeline still runs.

Doctor changes nothing: the warehouse is opened read-only, writability is probed with an unnamed
temporary file that disappears on close, and no network check sends data (PostgreSQL: a login;
Redis: PING; Airflow: its public health endpoint; SMTP: a TCP connect). Secrets are never shown:
environment variables are named, never printed, and hosts are shown without user or password.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from customer_health.config import (DBT_PROJECT_DIR, AlertDeliveryConfig, ConfigError, Settings,
                                    load_settings)

if TYPE_CHECKING:
    from rich.console import Console

Status = Literal["ok", "warn", "fail", "skip"]
AIRFLOW_URL_VARIABLE = "AIRFLOW__API__BASE_URL"
HEALTH_PATH = "/api/v2/monitor/health"
# How long the warehouse may stay locked by a writer before doctor calls it busy.
BUSY_WAIT_SECONDS = 2.0
NETWORK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its status, what was found and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Diagnosis:
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status == "warn"]

    @property
    def healthy(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "failed": len(self.failed),
                "warnings": len(self.warnings), "checks": [asdict(c) for c in self.checks]}


def diagnose(config: str | os.PathLike | None = None, *, home: str | os.PathLike | None = None,
             landing: str | os.PathLike | None = None,
             warehouse: str | os.PathLike | None = None, airflow_url: str | None = None,
             serving: bool = False, busy_wait_seconds: float = BUSY_WAIT_SECONDS,
             timeout: float = NETWORK_TIMEOUT_SECONDS) -> Diagnosis:
    """Check the deployment that these arguments (as for every command) point at.

    ``airflow_url`` defaults to ``AIRFLOW__API__BASE_URL``; ``serving`` says this deployment runs
    `customer-health serve`, so a missing token fails instead of warning.
    """
    diagnosis = Diagnosis()
    try:
        settings = load_settings(config, home=home, landing=landing, warehouse=warehouse)
    except ConfigError as exc:
        diagnosis.checks.append(Check(
            "configuration", "fail", str(exc),
            "Fix the problems listed in the configuration file (or point --config / "
            "CUSTOMER_HEALTH_CONFIG at the right one); the other checks need it."))
        return diagnosis
    add = diagnosis.checks.append
    add(Check("configuration", "ok", f"{settings.config_file} loads and validates"))
    diagnosis.checks.extend(check_paths(settings))
    diagnosis.checks.extend(check_landing(settings))
    facts = WarehouseFacts()
    add(check_warehouse(settings, facts, busy_wait_seconds))
    add(check_model(settings, facts))
    add(check_dbt())
    diagnosis.checks.extend(check_airflow(airflow_url, timeout))
    add(check_postgres_export(settings, timeout))
    diagnosis.checks.extend(check_alert_delivery(settings, timeout))
    add(check_serve_token(settings, serving))
    add(check_batch_ready_queue(settings, timeout))
    return diagnosis


# ---------------------------------------------------------------------------------------------
# folders


def writable_folder(path: Path) -> tuple[bool, str, Path]:
    """Can the pipeline write in ``path`` (creating it and its missing parents if need be)?
    (answer, what was found, the existing folder or file that decided it).

    Probed by creating an unnamed temporary file, not by permission bits: root ignores those,
    and a read-only mount or a full quota does not show in them.
    """
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return False, f"{existing} is a file, so the folder {path} cannot be created", existing
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".customer-health-doctor-"):
            pass
    except OSError as exc:
        return False, f"cannot write in {existing} ({exc.strerror or exc})", existing
    if existing == path:
        return True, f"{path} is writable", existing
    return True, f"{path} does not exist yet; the first run creates it ({existing} is writable)", existing


def check_paths(settings: Settings) -> list[Check]:
    """Every folder the pipeline writes: home, warehouse, exports, models, serving copy, app DB."""
    home = "paths.home, --home or CUSTOMER_HEALTH_HOME"
    folders = (
        ("home folder", settings.home, home),
        ("warehouse folder", settings.warehouse.parent,
         "paths.warehouse, --warehouse or CUSTOMER_HEALTH_WAREHOUSE"),
        ("exports folder", settings.exports_dir, home),
        ("models folder", settings.models_dir, home),
        ("serving copy folder", settings.serving_file.parent, home),
        ("app database folder", settings.app_db.parent, home),
        ("dbt artefacts folder", settings.dbt_target_dir, home),
    )
    checks = []
    for name, folder, setting in folders:
        ok, detail, decider = writable_folder(folder)
        if ok:
            checks.append(Check(name, "ok", detail))
            continue
        first = (f"Remove or rename the file {decider}" if decider.exists() and not decider.is_dir()
                 else f"Let the user running the pipeline write in {decider}")
        checks.append(Check(name, "fail", detail, f"{first}, or choose another folder with {setting}."))
    return checks


def check_landing(settings: Settings) -> list[Check]:
    """The landing folder exists, can be listed, and has the entity sub-folders."""
    from customer_health.landing_files import ENTITIES, entity_files

    landing = settings.landing
    where = "paths.landing, --landing or CUSTOMER_HEALTH_LANDING"
    if not landing.exists():
        return [Check("landing folder", "fail", f"{landing} does not exist",
                      f"Create {landing} with {', '.join(f'{e}/' for e in ENTITIES)} inside, "
                      f"or point {where} at the folder where deliveries arrive.")]
    if not landing.is_dir():
        return [Check("landing folder", "fail", f"{landing} is a file, not a folder",
                      f"Point {where} at the folder where deliveries arrive.")]
    try:
        os.listdir(landing)
    except OSError as exc:
        return [Check("landing folder", "fail", f"cannot list {landing} ({exc.strerror or exc})",
                      f"Give the user running the pipeline read access to {landing}.")]
    present, missing, unreadable, files = [], [], [], 0
    for entity in ENTITIES:
        folder = landing / entity
        if not folder.is_dir():
            missing.append(entity)
            continue
        try:
            os.listdir(folder)
            files += len(entity_files(folder))
            present.append(entity)
        except OSError as exc:
            unreadable.append(f"{entity}/ ({exc.strerror or exc})")
    if unreadable:
        return [Check("landing folder", "fail", f"cannot list {', '.join(unreadable)} in {landing}",
                      "Give the user running the pipeline read access to those folders.")]
    if not present:
        return [Check("landing folder", "warn",
                      f"{landing} has none of the entity folders {', '.join(ENTITIES)}",
                      f"Deliveries go to {landing}/<entity>/: create customers/, transactions/ "
                      "and interactions/ there (files elsewhere are never read).")]
    detail = f"{landing}: {files:,} delivery file(s) in {', '.join(f'{e}/' for e in present)}"
    if missing:
        return [Check("landing folder", "warn", f"{detail}; no {', '.join(f'{e}/' for e in missing)}",
                      f"Create {', '.join(f'{landing / e}/' for e in missing)} if that feed is "
                      "delivered; without it the pipeline runs on the other feeds and says what "
                      "it could not use.")]
    return [Check("landing folder", "ok", detail)]


# ---------------------------------------------------------------------------------------------
# warehouse and model


@dataclass
class WarehouseFacts:
    """What the warehouse check read, for the model check (None: not known)."""

    # True once the warehouse was read, or is known not to exist yet (no dataset)
    known: bool = False
    dataset_id: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    last_run: dict[str, Any] | None = None


def _read_warehouse(path: Path, facts: WarehouseFacts, wait_seconds: float) -> None:
    """Read the facts through a read-only connection, retrying while a writer holds the file."""
    from customer_health.warehouse import WarehouseBusy, connect

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with connect(path, read_only=True) as con:
                _read_facts(con, facts)
            return
        except WarehouseBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def _read_facts(con, facts: WarehouseFacts) -> None:
    import duckdb

    def rows(sql: str) -> list[tuple]:
        try:
            return con.execute(sql).fetchall()
        except duckdb.CatalogException:
            return []

    found = rows("select value from raw.pipeline_meta where key = 'dataset_id'")
    facts.dataset_id = found[0][0] if found else None
    for table in ("customers", "transactions", "interactions"):
        found = rows(f"select count(*) from raw.{table}")
        facts.rows[table] = int(found[0][0]) if found else 0
    found = rows("select count(*) from raw.ingest_ledger")
    facts.rows["files"] = int(found[0][0]) if found else 0
    try:
        found = rows("select score_source, score_note, model_version, as_of from scoring.runs "
                     "order by scored_at desc limit 1")
    except duckdb.BinderException:  # a warehouse from before score_source existed
        found = []
    if found:
        source, note, version, as_of = found[0]
        facts.last_run = {"score_source": source or "model", "model_version": version,
                          "as_of": str(as_of), "note": json.loads(note) if note else {}}


def check_warehouse(settings: Settings, facts: WarehouseFacts,
                    busy_wait_seconds: float = BUSY_WAIT_SECONDS) -> Check:
    """The warehouse opens read-only (not locked by a writer for long) and holds raw data."""
    import duckdb

    from customer_health.warehouse import WarehouseBusy

    path = settings.warehouse
    if not path.exists():
        facts.known = True
        return Check("warehouse", "warn", f"{path} does not exist yet: no data loaded yet",
                     "Run `customer-health run` to load the landing files and score them.")
    if path.is_dir():
        return Check("warehouse", "fail", f"{path} is a folder, not a DuckDB file",
                     "Move that folder away, or point --warehouse / paths.warehouse at a file.")
    try:
        _read_warehouse(path, facts, busy_wait_seconds)
    except WarehouseBusy:
        return Check(
            "warehouse", "warn",
            f"{path} is held by a writer (still after {busy_wait_seconds:g} s): a run is probably "
            "in progress",
            f"Nothing to fix while a run is in progress; if none is, find the process holding "
            f"{path} (e.g. `fuser {path}`) and stop it: BI tools and notebooks should read the "
            f"serving copy {settings.serving_file} instead.")
    except (duckdb.Error, OSError) as exc:
        return Check("warehouse", "fail", f"{path} cannot be read: {' '.join(str(exc).split())}",
                     f"Restore {path} from a backup, or move it aside and run `customer-health "
                     "run` to rebuild it from the landing files (the score history starts anew).")
    facts.known = True
    raw = {k: v for k, v in facts.rows.items() if k != "files"}
    if not any(raw.values()):
        return Check("warehouse", "warn", f"{path} opens read-only but holds no data: no data "
                     "loaded yet", "Run `customer-health run` to load the landing files.")
    counts = ", ".join(f"{k} {v:,}" for k, v in raw.items())
    return Check("warehouse", "ok", f"{path} opens read-only; raw rows: {counts}, from "
                 f"{facts.rows.get('files', 0):,} landing file(s)")


def _bounds_fix() -> str:
    return ("Nothing to fix if the history is still short: `customer-health run` trains a model "
            "as soon as it reaches model.min_labelled_rows, min_positives and min_cutoffs "
            "(`customer-health train` tries now).")


def check_model(settings: Settings, facts: WarehouseFacts) -> Check:
    """The live model of this dataset is in the registry and loads; else why the scorecard scores."""
    from ml import registry
    from ml.errors import ModelNotFound

    models = settings.models_dir
    if not facts.known:
        return Check("live model", "skip", "not checked: the warehouse could not be read, so the "
                     "dataset (whose model scores) is unknown", "See the warehouse check.")
    if facts.dataset_id is None:
        return Check("live model", "warn", "no dataset yet, so no model: the first run trains one "
                     "(or, while the history is too short, scores with the rule-based scorecard)",
                     "Run `customer-health run`.")
    ds = facts.dataset_id
    try:
        live = registry.live_version(models, ds)
    except ModelNotFound as exc:  # LIVE is unreadable; its message says what to do
        return Check("live model", "fail", str(exc),
                     f"Fix or delete {models / registry.LIVE_FILE}; the next run makes its model live.")
    if live:
        try:
            model = registry.load(models, live, dataset_id=ds)
        except Exception as exc:  # a damaged artefact: whatever LightGBM or json raise
            return Check("live model", "fail", f"live model {live} in {models} does not load: "
                         f"{' '.join(str(exc).split())[:300]}",
                         "Run `customer-health model rollback` to the previous model, or "
                         "`customer-health train` for a new one.")
        auc = registry.backtest_mean_roc_auc(model.card())
        quality = f", backtest mean ROC AUC {auc:.3f}" if auc is not None else ""
        return Check("live model", "ok", f"live model {live} of this dataset in {models}{quality}")
    mine = [r for r in registry.describe(models) if r["dataset_id"] == ds]
    others = len(registry.list_versions(models)) - len(mine)
    last = facts.last_run or {}
    if last.get("score_source") == "scorecard":
        reasons = "; ".join((last.get("note") or {}).get("reasons") or []) or "no model could be trained"
        return Check("live model", "warn", f"no model for this dataset in {models}: the pipeline "
                     f"scores with the rule-based scorecard because: {reasons}", _bounds_fix())
    if mine:
        return Check("live model", "warn", f"{len(mine)} model(s) of this dataset in {models} but "
                     "none is live: the next run trains or picks one",
                     f"Make one live with `customer-health model promote {mine[-1]['version']}`, "
                     "or let the next run decide.")
    elsewhere = (f" ({others} model(s) of other datasets are there: is --home the right one?)"
                 if others else "")
    return Check("live model", "warn", f"no model for this dataset in {models}{elsewhere}: the "
                 "next run trains one, or scores with the rule-based scorecard while the history "
                 "is too short", _bounds_fix())


# ---------------------------------------------------------------------------------------------
# dbt


def check_dbt(project_dir: Path = DBT_PROJECT_DIR) -> Check:
    """The dbt project and its profile are there and name an installed adapter (dbt is not run)."""
    import importlib.util

    import yaml

    project_file, profiles_file = project_dir / "dbt_project.yml", project_dir / "profiles.yml"
    reinstall = "Restore the project's dbt_project/ folder (e.g. from git)."
    for path in (project_file, profiles_file):
        if not path.is_file():
            return Check("dbt project", "fail", f"{path} is missing", reinstall)
    try:
        project = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
        profiles = yaml.safe_load(profiles_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return Check("dbt project", "fail", f"cannot read the dbt project: {exc}", reinstall)
    missing = [p for p in project.get("model-paths", ["models"]) if not (project_dir / p).is_dir()]
    if missing:
        return Check("dbt project", "fail", f"model folder(s) {', '.join(missing)} missing in "
                     f"{project_dir}", reinstall)
    name = project.get("profile")
    profile = profiles.get(name) if isinstance(profiles, dict) else None
    if not isinstance(profile, dict):
        return Check("dbt project", "fail", f"{profiles_file} has no profile {name!r} (the profile "
                     f"{project_file.name} names)", f"Add the profile {name!r} to {profiles_file}.")
    target = os.environ.get("DBT_TARGET") or profile.get("target")
    output = (profile.get("outputs") or {}).get(target)
    via = "DBT_TARGET" if os.environ.get("DBT_TARGET") else f"profile {name!r}"
    if not isinstance(output, dict):
        return Check("dbt project", "fail", f"target {target!r} (from {via}) is not an output of "
                     f"profile {name!r} in {profiles_file}",
                     f"Use one of {', '.join(profile.get('outputs') or {}) or 'no outputs'} or add it.")
    adapter = output.get("type")
    if importlib.util.find_spec(f"dbt.adapters.{adapter}") is None:
        return Check("dbt project", "fail", f"target {target!r} needs the dbt-{adapter} adapter, "
                     "which is not installed", f"Install dbt-{adapter} in the pipeline's "
                     f"environment (`pip install dbt-{adapter}`), or choose another target.")
    return Check("dbt project", "ok", f"{project_dir}: profile {name!r}, target {target!r} "
                 f"(dbt-{adapter} installed)")


# ---------------------------------------------------------------------------------------------
# network services


def shown_url(url: str) -> str:
    """``url`` without user and password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _fetch_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def check_airflow(airflow_url: str | None, timeout: float = NETWORK_TIMEOUT_SECONDS,
                  fetch: Callable[[str, float], Any] = _fetch_json) -> list[Check]:
    """Airflow's API server answers its health endpoint; its scheduler, triggerer and
    dag-processor are alive."""
    base = (airflow_url or os.environ.get(AIRFLOW_URL_VARIABLE) or "").strip()
    if not base:
        return [Check("airflow", "skip", f"not configured (no --airflow-url, no {AIRFLOW_URL_VARIABLE})")]
    # the health endpoint needs no login: credentials in the URL are dropped, never sent or shown
    url = shown_url(base.rstrip("/") + HEALTH_PATH)
    where = url
    fix_url = (f"Start Airflow's API server (`airflow api-server`, or `make airflow`), or fix "
               f"--airflow-url / {AIRFLOW_URL_VARIABLE}.")
    try:
        health = fetch(url, timeout)
    except urllib.error.HTTPError as exc:
        return [Check("airflow", "fail", f"{where} answered HTTP {exc.code}: not an Airflow 3 API "
                      "server, or the base URL is wrong", fix_url)]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [Check("airflow", "fail", f"cannot reach {where} ({reason})", fix_url)]
    if not isinstance(health, dict) or "scheduler" not in health:
        return [Check("airflow", "fail", f"{where} did not answer with Airflow's health report",
                      fix_url)]
    database = (health.get("metadatabase") or {}).get("status")
    checks = [Check("airflow", "ok", f"{shown_url(base)} answers; metadata database {database}")
              if database == "healthy" else
              Check("airflow", "fail", f"{shown_url(base)} answers but its metadata database is "
                    f"{database or 'unknown'}", "Check that Airflow's metadata database is up and "
                    "that sql_alchemy_conn points at it.")]
    components = (
        ("scheduler", "scheduler", "fail", "no DAG runs while it is down",
         "Start `airflow scheduler` (or restart it) and check its log."),
        ("triggerer", "triggerer", "warn",
         "the landing watcher runs in it: new files wait for the hourly safety net",
         "Start `airflow triggerer` so that new landing files start the pipeline at once."),
        ("dag_processor", "dag-processor", "warn",
         "changes to the DAG files in dags/ are not picked up",
         "Start `airflow dag-processor`."),
    )
    for key, label, severity, consequence, fix in components:
        info = health.get(key) or {}
        status = info.get("status")
        beat = next((v for k, v in info.items() if k.endswith("heartbeat") and v), None)
        seen = f", last heartbeat {beat}" if beat else ""
        if status == "healthy":
            checks.append(Check(f"airflow {label}", "ok", f"healthy{seen}"))
        else:
            state = "never started" if status is None else status
            checks.append(Check(f"airflow {label}", severity, f"{state}{seen}: {consequence}", fix))
    return checks


def check_postgres_export(settings: Settings, timeout: float = NETWORK_TIMEOUT_SECONDS) -> Check:
    """exports.postgres: its DSN variable is set and the server takes the login."""
    config = settings.options.exports.postgres
    if config is None:
        return Check("postgres export", "skip", "not configured (exports.postgres is null)")
    import psycopg2

    from customer_health.postgres_export import (PostgresDsnError, describe_target, dsn_from_env,
                                                  scrub_secrets)

    try:
        dsn, params = dsn_from_env(config)
    except PostgresDsnError as exc:
        return Check("postgres export", "fail", str(exc),
                     f"Set {config.dsn_env} in the pipeline's environment to the connection "
                     "string, or set exports.postgres to null.")
    target = describe_target(params)
    try:
        pg = psycopg2.connect(dsn, connect_timeout=max(1, int(timeout)),
                              application_name="customer-health doctor")
    except psycopg2.Error as exc:
        return Check("postgres export", "fail",
                     f"cannot connect to PostgreSQL at {target} (from {config.dsn_env}): "
                     f"{scrub_secrets(str(exc), params)}",
                     f"Start the server or fix host, port, user or password in {config.dsn_env}.")
    try:
        with pg.cursor() as cur:
            cur.execute("select case when exists (select 1 from pg_namespace where nspname = %s) "
                        "then has_schema_privilege(%s, 'CREATE') "
                        "else has_database_privilege(current_database(), 'CREATE') end, "
                        "current_user", [config.schema_name, config.schema_name])
            can_create, user = cur.fetchone()
    finally:
        pg.close()
    if not can_create:
        return Check("postgres export", "fail",
                     f"{target}: role {user} may not create tables in schema {config.schema_name}",
                     f"As the schema's owner: GRANT CREATE ON SCHEMA {config.schema_name} TO {user} "
                     "(or GRANT CREATE ON DATABASE when the schema does not exist yet).")
    return Check("postgres export", "ok", f"{target} takes the login of {config.dsn_env}; schema "
                 f"{config.schema_name} writable by {user}")


def _tcp_reachable(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_alert_delivery(settings: Settings, timeout: float = NETWORK_TIMEOUT_SECONDS) -> list[Check]:
    """alert_delivery: each channel's secrets are in the environment, and the SMTP server
    accepts connections. Nothing is sent."""
    config = settings.options.alert_delivery
    if config.webhook is None and config.email is None:
        return [Check("alert delivery", "skip",
                      "not configured (alert_delivery.webhook and .email are null)")]
    checks = []
    if config.webhook is not None:
        checks.append(_channel_secrets(settings, "webhook") or Check(
            "alert webhook", "ok",
            f"{config.webhook.url_env} holds an http(s) URL (not called: that would post a message)"))
    if config.email is not None:
        email = config.email
        why = _tcp_reachable(email.smtp_host, email.smtp_port, timeout)
        checks.append(_channel_secrets(settings, "email") or (
            Check("alert email", "fail", f"cannot connect to the SMTP server {email.smtp_host}:"
                  f"{email.smtp_port} ({why})", "Fix alert_delivery.email.smtp_host / smtp_port, "
                  "or open the way to that server from this machine.") if why else
            Check("alert email", "ok",
                  f"SMTP server {email.smtp_host}:{email.smtp_port} accepts connections")))
    return checks


def _channel_secrets(settings: Settings, channel: str) -> Check | None:
    """A failed check when the secrets of one delivery channel are missing from the environment
    (the same test alert delivery makes), else None."""
    from customer_health.alert_delivery import AlertDeliveryConfigError, configured_channels

    only = {channel: getattr(settings.options.alert_delivery, channel)}
    alone = replace(settings, options=settings.options.model_copy(
        update={"alert_delivery": AlertDeliveryConfig(**only)}))
    try:
        configured_channels(alone)
    except AlertDeliveryConfigError as exc:
        return Check(f"alert {channel}", "fail", str(exc),
                     "Set that variable in the pipeline's environment (it holds a secret, so never "
                     "in the configuration file), or switch the channel off.")
    return None


def check_serve_token(settings: Settings, serving: bool) -> Check:
    """serve.token_env holds a usable token (the web app and API refuse to start without one)."""
    from customer_health.web.auth import MissingToken, read_token

    name = settings.options.serve.token_env
    try:
        read_token(settings)
    except MissingToken as exc:
        if not os.environ.get(name, "").strip() and not serving:
            return Check("web app token", "warn", f"{name} is not set: `customer-health serve` "
                         "refuses to start without it (fine if this deployment does not serve)",
                         f"Before serving, set {name} to a long random token (e.g. `python3 -c "
                         "'import secrets; print(secrets.token_urlsafe(32))'`).")
        return Check("web app token", "fail", str(exc).split(";")[0],
                     f"Set {name} to a long random token (e.g. `python3 -c 'import secrets; "
                     "print(secrets.token_urlsafe(32))'`).")
    return Check("web app token", "ok", f"{name} holds a token")


def airflow_connection(conn_id: str) -> tuple[str, dict[str, Any]] | None:
    """(variable, {host, port, password, db}) of Airflow connection ``conn_id`` from its
    ``AIRFLOW_CONN_<ID>`` variable (URI or JSON), None when the variable is unset."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    if value.startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra or "{}")
        return variable, {"scheme": data.get("conn_type"), "host": data.get("host"),
                          "port": data.get("port"), "password": data.get("password"),
                          "db": extra.get("db", 0)}
    parts = urllib.parse.urlsplit(value)
    query = urllib.parse.parse_qs(parts.query)
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return variable, {"scheme": parts.scheme, "host": parts.hostname, "port": parts.port,
                      "password": password, "db": query.get("db", ["0"])[0]}


def check_batch_ready_queue(settings: Settings, timeout: float = NETWORK_TIMEOUT_SECONDS) -> Check:
    """orchestration.batch_ready_queue: its Redis (the Airflow connection) answers PING."""
    queue = settings.options.orchestration.batch_ready_queue
    if queue is None:
        return Check("batch-ready queue", "skip",
                     "not configured (orchestration.batch_ready_queue is null)")
    variable = f"AIRFLOW_CONN_{queue.conn_id.upper()}"
    try:
        conn = airflow_connection(queue.conn_id)
    except (ValueError, AttributeError) as exc:
        return Check("batch-ready queue", "fail", f"{variable} is not an Airflow connection URI "
                     f"or JSON ({type(exc).__name__})",
                     f"Set {variable} to e.g. redis://:PASSWORD@HOST:6379/?db=1.")
    if conn is None:
        return Check("batch-ready queue", "warn",
                     f"{variable} is not set here, so connection {queue.conn_id!r} cannot be "
                     "checked (it may live in Airflow's metadata database)",
                     f"Set {variable} (e.g. redis://:PASSWORD@HOST:6379/?db=1) where Airflow and "
                     f"doctor run, or check it with `airflow connections get {queue.conn_id}`.")
    _, c = conn
    host, port = c["host"] or "localhost", int(c["port"] or 6379)
    import redis

    try:
        client = redis.Redis(host=host, port=port, db=int(c["db"] or 0), password=c["password"],
                             socket_connect_timeout=timeout, socket_timeout=timeout)
        client.ping()
        client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        why = " ".join(str(exc).split())
        if c["password"]:
            why = why.replace(c["password"], "***")
        return Check("batch-ready queue", "fail", f"Redis at {host}:{port} (from {variable}) does "
                     f"not answer: {why}",
                     f"Start Redis at {host}:{port} or fix host, port or password in {variable}.")
    return Check("batch-ready queue", "ok", f"Redis at {host}:{port} (from {variable}) answers; "
                 f"channels {', '.join(queue.channels)}")


# ---------------------------------------------------------------------------------------------
# output

_STYLE = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]",
          "skip": "[dim]skip[/]"}


def print_diagnosis(console: "Console", diagnosis: Diagnosis) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="customer-health doctor", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("found")
    table.add_column("what to do")
    for c in diagnosis.checks:
        table.add_row(c.name, _STYLE[c.status], escape(c.detail), escape(c.fix))
    console.print(table)
    failed, warned = len(diagnosis.failed), len(diagnosis.warnings)
    if failed:
        console.print(f"[bold red]{failed} check(s) failed[/], {warned} warning(s): fix the "
                      "failures above.")
    else:
        console.print(f"[green]No check failed[/] ({warned} warning(s)).")
