"""Security and personal data, tested end to end.

One run of the pipeline through the CLI, with -v and debug logging, on the demo data plus canary
rows: a customer whose latest record carries a recognisable email, and interactions whose free
text is recognisable (one loaded, one quarantined, one on a broken JSON line). Then:

* logs: no email or free-text value of the input shows in stdout, stderr, any file under the home
  folder (dbt's logs and artefacts included), the ingest ledger's and quarantine's reasons, the
  validation results or the status, at-risk and alerts output;
* exports: under privacy.export_personal_data none (the default), hashed and plain, the Parquet
  files, the serving copy, the PostgreSQL copy, the web list's CSV, the API and the alert
  payloads hold exactly what the mode allows (the hash is checked against an HMAC computed here);
* web and API: every route of the app (enumerated from the app, so a new one is covered) refuses
  requests without the token or with a wrong one; every query and path parameter fed hostile
  values answers 4xx or an empty result, never 500, and changes nothing; no SQL in the web
  package or reads.py is put together from request values (an AST check);
* secrets: .env and secrets.yml are git-ignored, the committed configuration names environment
  variables and holds no secret, and a secret from the environment is never echoed.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import hashlib
import hmac
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from fastapi.routing import APIRoute
from pydantic import BaseModel

from customer_health.config import FileConfig, load_settings
from customer_health.pipeline import publish_step
from customer_health.web.app import OPEN_PATHS, create_app
from tests.conftest import REPO
from tests.test_alert_delivery import PASSWORD_ENV, URL_ENV, USER_ENV, receiver, smtp  # noqa: F401

with warnings.catch_warnings():  # Starlette suggests httpx2, which is not in the lock
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY_ENV = "CH_SECURITY_TEST_PII_KEY"
KEY = "k3y-of-the-security-tests-0f9e2c"
TOKEN = "security-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# the latest record of one customer: mixed case and spaces, to check the hash's normalisation
CANARY_EMAIL = "  Zelda.Canary+7f3a@PII-Canary.invalid "
QUARANTINED_EMAIL = "quarantined.canary.51b0@pii-canary.invalid"
LOADED_TEXT = "Canary 7f3a: my daughter Zelda is in hospital, please call me back on 0777 123 456"
QUARANTINED_TEXT = "Canary 51b0: my card number is 4929 1234 5678 9012, refund it now"
BROKEN_TEXT = "Canary c4d2: I am moving to 12 Rue des Lilas, Lyon next month"
CANARY_TEXTS = (LOADED_TEXT, QUARANTINED_TEXT, BROKEN_TEXT)
DEMO_EMAIL = re.compile(r"c\d{6}@example\.com")
CANARY_DOMAIN = re.compile(r"pii-canary\.invalid", re.IGNORECASE)
MODES = ("none", "hashed", "plain")

# The product's CLI with its own logging set up by -v, then everything of customer_health (and
# the root logger) turned up to DEBUG: the most the pipeline ever logs.
DEBUG_CLI = """
import logging, sys
from customer_health import cli
configure = cli._configure_logging
def configure_debug(verbose):
    configure(verbose)
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("customer_health").setLevel(logging.DEBUG)
cli._configure_logging = configure_debug
sys.exit(cli.main(sys.argv[1:]))
"""


# ---------------------------------------------------------------- the data and the runs

def _chosen_customer(landing: Path) -> tuple[str, str]:
    """A customer of the initial snapshot with many interactions in the last month (so scored)."""
    with duckdb.connect() as con:
        last = sorted((landing / "interactions").iterdir())[-1]
        reader = "read_json_auto" if last.suffix == ".jsonl" else (
            "read_parquet" if last.suffix == ".parquet" else "read_csv_auto")
        busy = [r[0] for r in con.execute(
            f"select customer_id from {reader}(?) group by 1 order by count(*) desc, 1 limit 50",
            [str(last)]).fetchall()]
    snapshot = next((landing / "customers").glob("customers_snapshot_*.csv"))
    with snapshot.open(encoding="utf-8") as handle:
        signups = {row["customer_id"]: row["signup_at"] for row in csv.DictReader(handle)}
    customer = next(c for c in busy if c in signups)
    return customer, signups[customer]


def _add_canaries(landing: Path) -> str:
    customer, signup = _chosen_customer(landing)
    lines = [
        {"customer_id": customer, "signup_at": signup, "email": CANARY_EMAIL,
         "updated_at": "2026-02-28T12:00:00Z"},
        {"customer_id": "ZZ-BAD-1", "signup_at": "not a date", "email": QUARANTINED_EMAIL},
    ]
    (landing / "customers" / "zz_canary.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    base = {"customer_id": customer, "occurred_at": "2026-02-20T10:00:00Z", "channel": "email",
            "type": "complaint", "direction": "inbound", "topic": "billing"}
    rows = [json.dumps({**base, "interaction_id": "ZZ-I-1", "sentiment": -0.8, "text": LOADED_TEXT}),
            json.dumps({**base, "interaction_id": "ZZ-I-2", "csat": 9, "text": QUARANTINED_TEXT}),
            '{"interaction_id": "ZZ-I-3", "customer_id": "%s", "text": "%s", "occurred_at": '
            % (customer, BROKEN_TEXT)]
    (landing / "interactions" / "zz_canary.jsonl").write_text("\n".join(rows) + "\n",
                                                              encoding="utf-8")
    return customer


def _config(demo_config: Path, folder: Path, mode: str, **sections) -> Path:
    config = yaml.safe_load(demo_config.read_text())
    config["paths"] = {"home": str(folder / "home"), "landing": str(folder / "landing")}
    config["privacy"] = {"export_personal_data": mode, "hash_key_env": KEY_ENV}
    config.update(sections)
    path = folder / f"customer_health_{mode}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, as an operator runs it."""
    env = {**os.environ, KEY_ENV: KEY, "COLUMNS": "160"}
    result = subprocess.run([sys.executable, "-c", DEBUG_CLI, *args], capture_output=True,
                            text=True, env=env, cwd=folder, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _cli_here(*args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (the quick commands: no second import of everything), its output
    and every log record at DEBUG collected the same way."""
    from customer_health import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(stderr)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    configure = cli._configure_logging

    def configure_debug(verbose):
        configure(verbose)
        logging.getLogger("customer_health").setLevel(logging.DEBUG)

    root.addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            patch.setattr(cli, "_configure_logging", configure_debug)
            patch.setenv(KEY_ENV, KEY)
            code = cli.main(list(args))
    finally:
        root.removeHandler(handler)
    assert code == 0, stderr.getvalue()[-3000:]
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def run(demo, tmp_path_factory):
    """The CLI run (privacy none, the default) and the outputs of status, at-risk and alerts."""
    folder = tmp_path_factory.mktemp("security")
    shutil.copytree(demo["landing"], folder / "landing")
    customer = _add_canaries(folder / "landing")
    config = _config(demo["config"], folder, "none")
    flags = ["--config", str(config), "-v"]
    outputs = {"run": _cli(folder, "run", *flags),
               "status": _cli_here("status", *flags),
               "at-risk": _cli_here("at-risk", "--format", "json", "--band", "critical",
                                    "--band", "at_risk", "--band", "watch", "--band", "healthy",
                                    "--top", "5000", *flags),
               "alerts": _cli_here("alerts", "--format", "json", *flags)}
    settings = load_settings(config)
    return {"folder": folder, "settings": settings, "customer": customer, "outputs": outputs,
            "config": config}


@pytest.fixture(scope="module")
def published(run, demo):
    """The run's dataset published under each privacy mode (hashed and plain on copies)."""
    out = {"none": run["settings"]}
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = KEY
    try:
        for mode in ("hashed", "plain"):
            folder = run["folder"] / mode
            shutil.copytree(run["settings"].home, folder / "home")
            settings = load_settings(_config(demo["config"], folder, mode),
                                     landing=run["settings"].landing)
            publish_step(settings)
            out[mode] = settings
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous
    return out


@pytest.fixture(scope="module")
def personal(run):
    """What counts as personal data of the input: every email and every free text."""
    with duckdb.connect(str(run["settings"].warehouse), read_only=True) as con:
        emails = {r[0] for r in con.execute(
            "select distinct email from raw.customers where email is not null").fetchall()}
        texts = {r[0] for r in con.execute(
            "select distinct text from raw.interactions where text is not null").fetchall()}
    texts |= set(CANARY_TEXTS)
    emails |= {QUARANTINED_EMAIL}
    # the regular expressions below find every one of them
    assert all(DEMO_EMAIL.fullmatch(e) or CANARY_DOMAIN.search(e) for e in emails)
    assert LOADED_TEXT in texts and len(texts) > 100
    out = {"emails": emails, "texts": texts, "fragments": _fragments(texts)}
    # and the search finds each kind of value
    for value in (CANARY_EMAIL, QUARANTINED_EMAIL, sorted(emails)[0], *CANARY_TEXTS,
                  sorted(texts)[0]):
        assert _leaks(f"log line: {json.dumps(value)}", out), value
    return out


def _fragments(texts: set[str]) -> set[str]:
    """The longest phrase of each text: any leak of a text shows its longest phrase."""
    out = set()
    for text in texts:
        parts = re.split(r"[.!?,:;]\s+|\s+-\s+", text)
        out.add(max(parts, key=len).strip())
    assert min(len(f) for f in out) >= 12  # long enough never to be there by chance
    return out


def _leaks(blob: str, personal: dict) -> list[str]:
    """The personal values found in ``blob``."""
    found = DEMO_EMAIL.findall(blob)[:3] + CANARY_DOMAIN.findall(blob)[:3]
    found += [f for f in personal["fragments"] if f in blob][:5]
    return found


def _expected_email(customer_id: str, canary_customer: str) -> str:
    return CANARY_EMAIL.strip() if customer_id == canary_customer else \
        f"{customer_id.lower()}@example.com"


def _hash(email: str) -> str:
    return hmac.new(KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- logs

def _home_files(home: Path) -> str:
    """Every file under home except the databases and the exports (checked for what they hold,
    by mode, below): logs, dbt's artefacts, model cards."""
    texts = []
    for path in sorted(home.rglob("*")):
        if path.is_dir() or path.suffix in (".duckdb", ".wal", ".parquet", ".sqlite", ".gpickle",
                                            ".msgpack", ".lock"):
            continue
        texts.append(path.read_bytes().decode("utf-8", "replace"))
    assert texts
    return "\n".join(texts)


def test_the_run_logs_and_outputs_hold_no_personal_data(run, personal):
    outputs = run["outputs"]
    log = outputs["run"].stderr
    assert "INFO customer_health" in log and "zz_canary.jsonl" in log  # the debug run did log
    assert "zz_canary.jsonl" in outputs["status"].stdout  # status lists the quarantined rows
    home = run["settings"].home
    assert (home / "dbt" / "logs" / "dbt.log").stat().st_size > 10_000
    for name, text in [*((f"{k} stdout", v.stdout) for k, v in outputs.items()),
                       *((f"{k} stderr", v.stderr) for k, v in outputs.items()),
                       ("files under the home", _home_files(home))]:
        assert not _leaks(text, personal), name
        assert KEY not in text, name
    # the at-risk export of the CLI lists customers but no email (privacy none)
    listed = json.loads(outputs["at-risk"].stdout)
    assert len(listed) > 100 and not {"email", "email_hash"} & set(listed[0])


def test_ledger_quarantine_and_validation_results_name_no_personal_data(run, personal):
    with duckdb.connect(str(run["settings"].warehouse), read_only=True) as con:
        ledger = con.execute("select path, status, reason from raw.ingest_ledger "
                             "where path like '%zz_canary%'").fetchall()
        reasons = con.execute("select path, line, rule, reason from raw.quarantine").fetchall()
        results = con.execute("select result_json, failed from raw.validation_results").fetchall()
    # the canary files were read, and their bad rows quarantined with a reason
    assert len(ledger) == 2 and all(status in ("loaded", "partial") for _, status, _ in ledger)
    canary_reasons = [r for r in reasons if "zz_canary" in r[0]]
    assert len(canary_reasons) >= 3, canary_reasons
    assert all(r[1] and r[2] and r[3] for r in canary_reasons)  # line, rule and reason
    blob = json.dumps([ledger, reasons, results], default=str)
    assert not _leaks(blob, personal)


# ---------------------------------------------------------------- exports, by privacy mode

def _parquet(settings) -> dict[str, list[dict]]:
    """Rows of every Parquet export; the history's folder (a file per run) as one table."""
    tables = {path.stem: pq.read_table(path).to_pylist()
              for path in sorted(settings.exports_dir.glob("*.parquet"))}
    runs = sorted((settings.exports_dir / "customer_health_history").glob("*.parquet"))
    assert runs, "the history export is missing"
    tables["customer_health_history"] = [row for path in runs for row in pq.read_table(path).to_pylist()]
    return tables


def _serving(settings) -> dict[str, list[tuple]]:
    with duckdb.connect(str(settings.serving_file), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {t: con.execute(f'select * from "{t}"').fetchall() for t in tables}


def _client(settings) -> TestClient:
    return TestClient(create_app(settings, token=TOKEN), base_url="http://testserver")


ALL_BANDS = [("band", b) for b in ("critical", "at_risk", "watch", "healthy")]


def _web(settings) -> dict:
    """The API's list and one customer, and the list's CSV, every band and row."""
    with _client(settings) as client:
        listed = client.get("/api/v1/at-risk", params=[*ALL_BANDS, ("limit", 500)], headers=AUTH)
        assert listed.status_code == 200
        items = listed.json()["items"]
        while listed.json()["next"]:
            listed = client.get(listed.json()["next"], headers=AUTH)
            items += listed.json()["items"]
        one = client.get(f"/api/v1/customers/{quote(items[0]['customer_id'])}", headers=AUTH)
        exported = client.get("/at-risk.csv", params=[*ALL_BANDS, ("scope", "all")], headers=AUTH)
    assert one.status_code == 200 and exported.status_code == 200
    return {"items": items, "customer": one.json(),
            "csv": list(csv.DictReader(io.StringIO(exported.text)))}


def _everything(settings, web: dict) -> str:
    return json.dumps([_parquet(settings), _serving(settings), web], default=str)


def test_no_personal_data_anywhere_downstream_by_default(run, published, personal):
    settings = published["none"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        # nothing derived from an email or a text outside the raw layer of the warehouse
        for schema, table, column in con.execute(
                "select table_schema, table_name, column_name from information_schema.columns "
                "where table_schema <> 'raw'").fetchall():
            assert column != "text", (schema, table)
            if column in ("email", "email_hash"):
                assert con.execute(f'select count("{column}") from "{schema}"."{table}"'
                                   ).fetchone()[0] == 0, (schema, table, column)
    web = _web(settings)
    assert len(web["items"]) == len(web["csv"]) > 100
    assert not {"Email", "Email hash"} & set(web["csv"][0])
    assert all(i["email"] is None and i["email_hash"] is None for i in web["items"])
    blob = _everything(settings, web)
    assert not _leaks(blob, personal)
    assert not re.search(r"\b[0-9a-f]{64}\b", json.dumps(web))  # no hash either


def test_hashed_exports_carry_the_keyed_hash_and_never_the_email(run, published, personal):
    settings = published["hashed"]
    canary = run["customer"]
    rows = _parquet(settings)["customer_health"]
    assert len(rows) > 100
    for row in rows:
        assert row["email"] is None
        assert row["email_hash"] == _hash(_expected_email(row["customer_id"], canary))
    assert canary in {r["customer_id"] for r in rows}  # the latest record's email is the one hashed
    with duckdb.connect(str(settings.serving_file), read_only=True) as con:
        served = dict(con.execute("select customer_id, email_hash from at_risk_customers").fetchall())
    assert served and all(h == _hash(_expected_email(c, canary)) for c, h in served.items())
    web = _web(settings)
    assert all(i["email_hash"] == _hash(_expected_email(i["customer_id"], canary)) and
               i["email"] is None for i in web["items"])
    assert web["customer"]["email_hash"] and web["customer"]["email"] is None
    assert [r["Email hash"] for r in web["csv"]] == [i["email_hash"] for i in web["items"]]
    assert "Email" not in web["csv"][0]
    assert not _leaks(_everything(settings, web), personal)


def test_plain_exports_carry_the_email_where_documented(run, published, personal):
    from customer_health.reads import AtRiskFilter, at_risk

    settings = published["plain"]
    canary = run["customer"]
    rows = {r["customer_id"]: r for r in _parquet(settings)["customer_health"]}
    assert rows[canary]["email"] == CANARY_EMAIL.strip()
    for cid, row in rows.items():
        assert row["email"] == _expected_email(cid, canary)
        assert row["email_hash"] == _hash(row["email"])
    web = _web(settings)
    assert {(i["customer_id"], i["email"]) for i in web["items"]} == \
        {(c, r["email"]) for c, r in rows.items()}
    assert [r["Email"] for r in web["csv"]] == [i["email"] for i in web["items"]]
    frame = at_risk(settings, AtRiskFilter(bands=("critical", "at_risk", "watch", "healthy"), top=5))
    assert list(frame["email"]) == [rows[c]["email"] for c in frame["customer_id"]]
    # the history and the alerts never carry it, and nothing carries any free text
    exported = _parquet(settings)
    assert not _leaks(json.dumps([exported["customer_health_history"],
                                  exported["health_alerts"]], default=str), personal)
    everything = _everything(settings, web)
    assert not [f for f in personal["fragments"] if f in everything]


def test_the_postgres_copy_holds_what_the_mode_allows(run, published, personal, monkeypatch):
    from customer_health.postgres_export import export_to_postgres
    from tests.postgres import PG, dsn, psycopg2, throwaway_database

    with throwaway_database("customer_health_security") as database:
        monkeypatch.setenv("CH_SECURITY_TEST_PG_DSN", dsn(database))
        copies = {}
        for mode, settings in published.items():
            config = yaml.safe_load(settings.config_file.read_text())
            config["exports"] = {"postgres": {"dsn_env": "CH_SECURITY_TEST_PG_DSN",
                                              "schema": f"ch_{mode}"}}
            path = settings.config_file.with_name(f"pg_{mode}.yml")
            path.write_text(yaml.safe_dump(config))
            export_to_postgres(load_settings(path, home=settings.home, landing=settings.landing))
            with psycopg2.connect(dbname=database, **PG) as con, con.cursor() as cur:
                tables = {}
                for table in ("customer_health", "customer_health_history", "at_risk_customers",
                              "health_alerts"):
                    cur.execute(f"select * from ch_{mode}.{table}")
                    tables[table] = [dict(zip([d[0] for d in cur.description], row))
                                     for row in cur.fetchall()]
            copies[mode] = tables
    for mode, tables in copies.items():
        blob = json.dumps(tables, default=str)
        health = tables["customer_health"]
        assert len(health) > 100 and tables["at_risk_customers"]
        assert not [f for f in personal["fragments"] if f in blob], mode  # never any free text
        if mode == "plain":
            assert all(r["email"] and r["email_hash"] == _hash(r["email"]) for r in health)
            blob = json.dumps([tables["customer_health_history"], tables["health_alerts"]],
                              default=str)
        elif mode == "hashed":
            assert all(r["email"] is None and r["email_hash"] == _hash(
                _expected_email(r["customer_id"], run["customer"])) for r in health)
        else:
            assert all(r["email"] is None and r["email_hash"] is None for r in health)
        assert not _leaks(blob, personal), mode


@pytest.mark.parametrize("mode", MODES)
def test_alert_payloads_never_carry_personal_data(published, personal, mode, tmp_path,
                                                  receiver, smtp):  # noqa: F811
    from customer_health.alert_delivery import deliver_new_alerts
    from tests.web.conftest import _add_alerts

    source = published[mode]
    shutil.copytree(source.serving_file.parent, tmp_path / "home" / "serving")
    _add_alerts(tmp_path / "home" / "serving" / "customer_health.duckdb")
    config = yaml.safe_load(source.config_file.read_text())
    config["alert_delivery"] = {
        "webhook": {"url_env": URL_ENV},
        "email": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "starttls": False,
                  "sender": "customer-health@example.org", "recipients": ["team@example.org"],
                  "username_env": USER_ENV, "password_env": PASSWORD_ENV}}
    path = tmp_path / "alerts.yml"
    path.write_text(yaml.safe_dump(config))
    summary = deliver_new_alerts(load_settings(path, home=tmp_path / "home"))
    assert summary.sent > 0 and len(receiver.requests) == 1 and len(smtp.messages) == 1
    payload = json.dumps(receiver.requests[0]["json"], ensure_ascii=False)
    message = smtp.messages[0]["message"]
    mail = "\n".join([str(message["Subject"]), *(part.get_content() for part in message.walk()
                                                  if part.get_content_maintype() == "text")])
    assert re.search(r"C\d{6}", payload) and re.search(r"C\d{6}", mail)  # customers are named
    for text in (payload, mail):
        assert not _leaks(text, personal)
        assert not re.search(r"[0-9a-f]{64}", text)  # nor their email's hash


def _load_contacts_model():
    path = REPO / "dbt_project" / "models" / "marts" / "health" / "customer_contacts.py"
    spec = importlib.util.spec_from_file_location("customer_contacts_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeDbt:
    """What the Python model uses of dbt: its config and the raw customers source."""

    def __init__(self, mode: str, key_env: str, con: duckdb.DuckDBPyConnection):
        self.values = {"export_personal_data": mode, "pii_hash_key_env": key_env}
        self.con = con
        self.config = self
        self.sources_read = 0

    def __call__(self, **kwargs):
        pass

    def get(self, name):
        return self.values.get(name)

    def source(self, schema, table):
        self.sources_read += 1
        return self.con.sql("select * from customers")


@pytest.mark.parametrize("key", [KEY, None])
def test_the_contacts_model_hashes_with_the_key_or_sha256_without_one(key, monkeypatch):
    model = _load_contacts_model()
    with duckdb.connect() as con:
        con.execute("create table customers as select * from (values "
                    "('A', ' Old@Example.com', date '2025-01-01', null::date, now(), 1), "
                    "('A', ' New.Person@Example.COM ', date '2025-01-01', date '2025-06-01', now(), 2), "
                    "('B', null, date '2025-01-01', null::date, now(), 3), "
                    "('C', 'not an address', date '2025-01-01', null::date, now(), 4)) "
                    "as t(customer_id, email, signup_at, updated_at, _ingested_at, _line)")
        if key:
            monkeypatch.setenv(KEY_ENV, key)
        else:
            monkeypatch.delenv(KEY_ENV, raising=False)
        out = {mode: model.model(_FakeDbt(mode, KEY_ENV, con), None).to_pylist() for mode in MODES}
        none_reader = _FakeDbt("none", KEY_ENV, con)
        assert model.model(none_reader, None).num_rows == 0 and none_reader.sources_read == 0
    normalised = b"new.person@example.com"
    expected = (hmac.new(key.encode(), normalised, hashlib.sha256) if key
                else hashlib.sha256(normalised)).hexdigest()
    assert out["none"] == []
    assert out["hashed"] == [{"customer_id": "A", "email_hash": expected, "email": None}]
    assert out["plain"] == [{"customer_id": "A", "email_hash": expected,
                             "email": "New.Person@Example.COM"}]


def test_the_pii_key_never_reaches_dbt_or_the_logs(published):
    for settings in published.values():
        assert KEY not in _home_files(settings.home)


# ---------------------------------------------------------------- web and API

def _model_fields(annotation) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _parameters(route: APIRoute) -> tuple[list[str], list[str]]:
    """The route's query parameters (a parameter model expanded to its fields) and path ones."""
    query, path = [], []

    def walk(dependant):
        for field in dependant.query_params:
            query.extend(_model_fields(field.field_info.annotation) or [field.alias])
        path.extend(f.alias for f in dependant.path_params)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return query, path


def _routes(app) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            out += [(method, route.path, route) for method in sorted(route.methods)]
    return out


def _sample_path(path: str, customer: str) -> str:
    return path.replace("{customer_id}", quote(customer, safe="")).replace("{override_id}", "1")


WRONG = [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-the-token-at-all"},
         {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": f"Basic {TOKEN}"},
         {"Authorization": TOKEN}, {"Cookie": f"ch_session={TOKEN}"},
         {"Authorization": "Bearer ' or 1=1 --"}]


def test_every_route_refuses_requests_without_the_right_token(published, run):
    settings = published["none"]
    app = create_app(settings, token=TOKEN)
    routes = _routes(app)
    guarded = [(m, p) for m, p, _ in routes if p not in OPEN_PATHS]
    assert len(guarded) >= 10 and any(p.startswith("/api/v1/") for _, p in guarded)
    before = _state(settings)
    with TestClient(app, base_url="http://testserver") as client:
        for method, path in guarded:
            url = _sample_path(path, run["customer"])
            for headers in WRONG:
                response = client.request(method, url, headers=headers, follow_redirects=False,
                                          data={"band": "healthy", "reason": "x", "author": "y",
                                                "expires_at": "2099-01-01"} if method == "POST" else None)
                if path.startswith("/api/"):
                    assert response.status_code == 401, (method, path, headers)
                    assert response.json()["error"] == "unauthorized"
                elif method in ("GET", "HEAD"):
                    assert response.status_code == 303, (method, path, headers)
                    assert response.headers["location"].startswith("/login")
                else:
                    assert response.status_code == 401, (method, path, headers)
                assert TOKEN not in response.text
        assert _state(settings) == before  # nothing written, nothing read out
        # the same requests with the token get through (so the refusals were the token's doing)
        for method, path in guarded:
            response = client.request(method, _sample_path(path, run["customer"]),
                                      headers={**AUTH, "Origin": "http://testserver"},
                                      follow_redirects=False)
            assert response.status_code not in (401, 403), (method, path)


PAYLOADS = ["' or 1=1 --", "\"; drop table customer_health; --", "1; delete from health_alerts",
            "ünïcødé ✓ 客户 🙂 \u202e", "x" * 10_000]


def _state(settings) -> tuple:
    def digest(path: Path):
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None

    with duckdb.connect(str(settings.serving_file), read_only=True) as con:
        counts = [(t, con.execute(f'select count(*) from "{t}"').fetchone()[0]) for (t,) in
                  con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
    return (digest(settings.serving_file), digest(settings.warehouse), digest(settings.app_db),
            counts)


def _empty_answer(path: str, response) -> bool:
    """A correct answer to a filter nothing matches."""
    if path.startswith("/api/v1/") and "items" in (body := response.json()):
        return body["items"] == [] and body["total"] == 0
    if path == "/at-risk.csv":
        return response.text.count("\n") == 1  # the header only
    if path == "/at-risk":
        return "No customer matches" in response.text
    return path in ("/login", "/portfolio", "/")  # the parameter only picks where to go next


def test_hostile_values_in_every_parameter_are_refused_or_match_nothing(published):
    settings = published["hashed"]
    app = create_app(settings, token=TOKEN)
    before = _state(settings)
    tried = 0
    with TestClient(app, base_url="http://testserver") as client:
        for method, path, route in _routes(app):
            query, path_params = _parameters(route)
            for payload in PAYLOADS:
                for name in query:
                    if method != "GET":
                        continue
                    response = client.get(_sample_path(path, "C000001"), params={name: payload},
                                          headers=AUTH, follow_redirects=False)
                    tried += 1
                    assert response.status_code < 500, (path, name, payload[:40])
                    if response.status_code == 200:
                        assert _empty_answer(path, response), (path, name, payload[:40])
                    else:
                        assert 300 <= response.status_code < 500
                for name in path_params:
                    url = path.replace("{" + name + "}", quote(payload, safe=""))
                    url = _sample_path(url, "C000001")
                    response = client.request(method, url, headers={**AUTH, "Origin": "http://testserver"},
                                              follow_redirects=False)
                    tried += 1
                    assert 400 <= response.status_code < 500, (method, path, name, payload[:40])
    assert tried > 100
    assert _state(settings) == before
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main.customer_health").fetchone()[0] > 100


# ---------------------------------------------------------------- SQL is never built from input

SQL_CALLS = {"execute", "executemany", "sql", "query"}


class _SqlBuilt:
    """Finds SQL text built with f-strings, format or % from anything but constants.

    Safe pieces: literals; module-level UPPER_CASE names; a lookup in an UPPER_CASE mapping (its
    values are constants, whatever the key); joins, concatenations and formats of safe pieces;
    locals and list accumulators whose every assignment and append is safe (a list handed to a
    helper of the module counts what the helper appends, a value unpacked from a helper's result
    what the helper returns); parameters with a literal default that every call in the module
    leaves alone or passes a literal, or that a guard (``if x not in (...): raise``) holds to
    literals. A function that runs SQL it receives as a parameter is checked at its callers. A
    request value is none of these, so SQL formatted from one is reported.
    """

    def __init__(self, source: str, filename: str):
        self.tree = ast.parse(source, filename)
        self.filename = filename
        self.functions = {n.name: n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef)}
        self.problems: list[str] = []
        # functions running SQL they receive: name -> index of that parameter (self excluded)
        self.runners: dict[str, int] = {"_query": 1}
        for fn in self.functions.values():
            params = [a.arg for a in fn.args.args if a.arg != "self"]
            for call in ast.walk(fn):
                sql = self._sql_argument(call)
                if isinstance(sql, ast.Name) and sql.id in params:
                    self.runners[fn.name] = params.index(sql.id)

    # -- safety of one expression inside a function
    def safe(self, node, fn, seen=frozenset()) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.JoinedStr):
            return all(self.safe(v.value, fn, seen) for v in node.values
                       if isinstance(v, ast.FormattedValue))
        if isinstance(node, (ast.Tuple, ast.List)):
            return all(self.safe(e, fn, seen) for e in node.elts)
        if isinstance(node, ast.Name):
            return self.safe_name(node.id, fn, seen)
        if isinstance(node, ast.Subscript):
            return isinstance(node.value, ast.Name) and node.value.id.isupper() or \
                self.safe(node.value, fn, seen) and self.safe(node.slice, fn, seen)
        if isinstance(node, ast.BinOp):
            return self.safe(node.left, fn, seen) and self.safe(node.right, fn, seen)
        if isinstance(node, ast.IfExp):
            return self.safe(node.body, fn, seen) and self.safe(node.orelse, fn, seen)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("join", "format"):
            return self.safe(node.func.value, fn, seen) and \
                all(self.safe(a, fn, seen) for a in node.args) and \
                all(self.safe(k.value, fn, seen) for k in node.keywords)
        return False

    def safe_name(self, name: str, fn, seen) -> bool:
        if name.isupper() or (name.startswith("_") and name[1:].isupper()):
            return True
        if fn is None or (name, fn.name) in seen:
            return fn is not None  # a cycle adds nothing unsafe
        seen = seen | {(name, fn.name)}
        values = self.assignments(name, fn)
        params = [a.arg for a in fn.args.args + fn.args.kwonlyargs]
        if name in params:
            return (self.guarded(name, fn) or self.safe_parameter(name, fn)) and \
                all(self.safe(v, fn, seen) for v in values)
        return bool(values) and all(
            self.safe(v[1], v[0], seen) if isinstance(v, tuple) else self.safe(v, fn, seen)
            for v in values)

    @staticmethod
    def guarded(name: str, fn) -> bool:
        """``if name not in (literals): raise ...`` at the top of the function."""
        for node in fn.body:
            if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and \
                    isinstance(node.test.left, ast.Name) and node.test.left.id == name and \
                    isinstance(node.test.ops[0], ast.NotIn) and \
                    isinstance(node.test.comparators[0], (ast.Tuple, ast.Set, ast.List)) and \
                    all(isinstance(e, ast.Constant) for e in node.test.comparators[0].elts) and \
                    isinstance(node.body[-1], ast.Raise):
                return True
        return False

    def assignments(self, name: str, fn) -> list:
        values = []
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets):
                values.append(node.value)
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == name
                                                     for e in t.elts) for t in node.targets):
                target = next(t for t in node.targets if isinstance(t, ast.Tuple))
                index = [getattr(e, "id", None) for e in target.elts].index(name)
                values.extend(self._unpacked(node.value, index))
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and \
                    node.target.id == name:
                values.append(node.value)
            elif isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name) \
                    and node.target.id == name:
                values.append(node.iter)
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Tuple) and any(
                    isinstance(e, ast.Name) and e.id == name for e in node.target.elts):
                # for a, b in ((literal, x), ...): a takes the literals only
                index = [getattr(e, "id", None) for e in node.target.elts].index(name)
                items = node.iter.elts if isinstance(node.iter, (ast.Tuple, ast.List)) else None
                if items and all(isinstance(i, ast.Tuple) and len(i.elts) > index for i in items):
                    values.extend(i.elts[index] for i in items)
                else:
                    values.append(node.iter)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("append", "extend", "insert") and \
                    isinstance(node.func.value, ast.Name) and node.func.value.id == name:
                values.extend(node.args[-1:])
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in self.functions:
                # a list handed to a helper of this module: what the helper adds to it counts
                helper = self.functions[node.func.id]
                for index, arg in enumerate(node.args):
                    if isinstance(arg, ast.Name) and arg.id == name and \
                            index < len(helper.args.args):
                        inner = helper.args.args[index].arg
                        values.extend(self._appends(inner, helper))
        return values

    def _unpacked(self, value, index: int) -> list:
        """What element ``index`` of an unpacked value can be: of a tuple literal, or of what a
        helper of this module returns (checked in the helper: (helper, expression) pairs)."""
        if isinstance(value, ast.Tuple) and index < len(value.elts):
            return [value.elts[index]]
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id in self.functions:
            helper = self.functions[value.func.id]
            returned = [n.value for n in ast.walk(helper) if isinstance(n, ast.Return)]
            if returned and all(isinstance(r, ast.Tuple) and index < len(r.elts) for r in returned):
                return [(helper, r.elts[index]) for r in returned]
        return [ast.Name(id="<unknown>")]  # not provably safe

    def _appends(self, name: str, fn) -> list:
        return [(fn, node.args[-1]) for node in ast.walk(fn)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend", "insert")
                and isinstance(node.func.value, ast.Name) and node.func.value.id == name
                and node.args]

    def safe_parameter(self, name: str, fn) -> bool:
        """A parameter is safe when it has a literal default and every call passes a literal."""
        positional = [a.arg for a in fn.args.args]
        defaults = dict(zip(positional[len(positional) - len(fn.args.defaults):], fn.args.defaults))
        defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d})
        if not isinstance(defaults.get(name), ast.Constant):
            return False
        for call in ast.walk(self.tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == fn.name:
                for keyword in call.keywords:
                    if keyword.arg == name and not isinstance(keyword.value, ast.Constant):
                        return False
                index = positional.index(name)
                if index < len(call.args) and not isinstance(call.args[index], ast.Constant):
                    return False
        return True

    # -- the SQL a call runs
    def _sql_argument(self, node):
        if not isinstance(node, ast.Call):
            return None
        name = node.func.attr if isinstance(node.func, ast.Attribute) else \
            node.func.id if isinstance(node.func, ast.Name) else None
        if name in SQL_CALLS and node.args:
            return node.args[0]
        index = getattr(self, "runners", {}).get(name)
        if index is not None and len(node.args) > index:
            return node.args[index]
        return None

    def check(self) -> list[str]:
        for fn in self.functions.values():
            params = [a.arg for a in fn.args.args if a.arg != "self"]
            for node in ast.walk(fn):
                sql = self._sql_argument(node)
                if sql is None:
                    continue
                if fn.name in self.runners and isinstance(sql, ast.Name) and sql.id in params:
                    continue  # runs what its callers pass: checked at each call
                if not self.safe(sql, fn):
                    self.problems.append(f"{self.filename}:{node.lineno}: SQL built from "
                                         f"{ast.unparse(sql)[:80]!r}")
        return self.problems


def test_no_sql_in_the_web_package_or_reads_is_built_from_request_values():
    files = sorted((REPO / "customer_health" / "web").glob("*.py")) + \
        [REPO / "customer_health" / "reads.py"]
    problems, calls = [], 0
    for path in files:
        checker = _SqlBuilt(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
        problems += checker.check()
        calls += source_count(path)
    assert calls > 20  # the check saw the queries
    assert problems == []


def source_count(path: Path) -> int:
    return len(re.findall(r"\.execute\(|_query\(settings", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("bad", [
    "def f(con, params):\n    con.execute(f\"select * from t where s = '{params.segment}'\")",
    "def f(con, value):\n    con.execute(\"select * from t where s = '%s'\" % value)",
    "def f(con, value):\n    con.execute(\"select * from t where s = '{}'\".format(value))",
    "def f(con, value):\n    sql = 'select * from t where s = ' + value\n    con.execute(sql)",
    "def f(con, params):\n    where = ['true']\n    where.append(f\"s = '{params.q}'\")\n"
    "    con.execute(f\"select * from t where {' and '.join(where)}\")",
    "def f(con, params, column='x'):\n    con.execute(f'select {column} from t')\n"
    "def g(con, params):\n    f(con, params, column=params.sort)",
    "def helper(params, where):\n    where.append(f\"s = '{params.q}'\")\n"
    "def f(con, params):\n    where = []\n    helper(params, where)\n"
    "    con.execute(f\"select * from t where {' and '.join(where)}\")",
])
def test_the_sql_check_catches_sql_formatted_from_input(bad):
    assert _SqlBuilt(bad, "example.py").check()


def test_the_sql_check_accepts_bound_parameters_and_constant_pieces():
    good = ("SORT = {'a': 'a asc'}\n"
            "def f(con, params, table=''):\n"
            "    where, args = ['true'], []\n"
            "    for column in ('segment', 'owner'):\n"
            "        where.append(f'lower({table}{column}) = lower(?)')\n"
            "    args.append(params.segment)\n"
            "    con.execute(f\"select * from t where {' and '.join(where)} order by {SORT[params.sort]}\", args)\n"
            "def g(con, params):\n    f(con, params, table='h.')\n")
    assert _SqlBuilt(good, "example.py").check() == []


# ---------------------------------------------------------------- secrets

def test_secret_files_are_git_ignored():
    for name in (".env", "secrets.yml", "dags/.env", "deploy/secrets.yml"):
        result = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO)
        assert result.returncode == 0, f"{name} is not git-ignored"


SECRET_WORDS = re.compile(r"password|passwd|secret|token|dsn|api_?key|credential|(^|_)url$|(^|_)key$")


def _secret_like_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        for inner in (getattr(annotation, "__args__", None) or (annotation,)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names += _secret_like_fields(inner, key + ".")
        if SECRET_WORDS.search(name) and not name.endswith("_env"):
            names.append(key)
    return names


def test_the_configuration_holds_names_of_environment_variables_never_secrets():
    # no setting of the configuration can hold a secret: secrets come from the environment
    assert _secret_like_fields(FileConfig) == []
    committed = subprocess.run(["git", "show", "HEAD:customer_health.yml"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
    env_values = []

    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).endswith("_env") and value is not None:
                    env_values.append((f"{path}{key}", value))
                walk(value, f"{path}{key}.")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(yaml.safe_load(committed))
    assert {k for k, _ in env_values} >= {"serve.token_env", "privacy.hash_key_env"}
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", v) for _, v in env_values), env_values
    assert not re.search(r"://[^/\s:@]+:[^@\s]+@", committed)  # no URL with a password in it


def test_a_secret_from_the_environment_is_never_echoed(tmp_path, monkeypatch, caplog):
    from customer_health.postgres_export import PostgresExportError, export_to_postgres

    password = "Pg-s3cret-4b1d-never-shown"
    config = tmp_path / "customer_health.yml"
    config.write_text(yaml.safe_dump({"exports": {"postgres": {"dsn_env": "CH_SECURITY_DSN"}}}))
    settings = load_settings(config, home=tmp_path / "home")
    warehouse = duckdb.connect()  # the tables an export reads, empty
    for table in settings.options.exports.postgres.tables:
        warehouse.execute(f"create table {table} (customer_id varchar)")
    caplog.set_level(logging.DEBUG)
    for dsn in (f"postgresql://bi:{password}@127.0.0.1:1/analytics?connect_timeout=2",
                f"host=127.0.0.1 port=1 user=bi password={password} dbname=analytics",
                f"host=127.0.0.1 port=1 password='{password}"):  # not even a valid string
        monkeypatch.setenv("CH_SECURITY_DSN", dsn)
        with pytest.raises(PostgresExportError) as err:
            export_to_postgres(settings, con=warehouse)
        message = str(err.value)
        assert "CH_SECURITY_DSN" in message or "127.0.0.1" in message  # it says what failed
        assert password not in message and password not in repr(err.value)
        cause = err.value.__cause__
        assert cause is None or password not in str(cause)
    assert password not in caplog.text


def test_the_web_token_and_the_pii_key_are_never_in_an_answer(published):
    settings = published["hashed"]
    with _client(settings) as client:
        bodies = [client.get(p, headers=AUTH).text for p in
                  ("/api/v1/at-risk", "/api/v1/alerts", "/api/v1/openapi.json")]
        bodies.append(client.post("/login", data={"token": "wrong"}).text)
    for body in bodies:
        assert TOKEN not in body and KEY not in body
