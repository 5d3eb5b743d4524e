"""The CLI end to end on simulated data: what a data engineer and a retention manager see."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_health.cli import main
from tests.e2e.conftest import cli


def table(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_run_prints_a_ranked_at_risk_list_with_reasons(scored, capsys):
    out = cli(capsys, "at-risk", *scored["flags"], "--format", "json", "--top", "15")
    rows = json.loads(out)
    assert rows, "the demo data always has customers at risk"
    assert {r["health_band"] for r in rows} <= {"at_risk", "critical"}
    revenue = [r["revenue_at_risk"] for r in rows]
    assert revenue == sorted(revenue, reverse=True)
    assert all(r["reasons"] and r["recommended_action"] for r in rows)
    shown = cli(capsys, "at-risk", *scored["flags"], "--top", "5")
    assert "At-risk customers" in shown and rows[0]["customer_id"] in shown


def test_customer_health_follows_the_output_contract(scored):
    health = table(scored["warehouse"], "select * from main.customer_health")
    assert health["customer_id"].is_unique
    assert health["churn_risk"].between(0, 1).all()
    assert health["health_score"].between(0, 100).all()
    assert set(health["health_band"]) <= {"healthy", "watch", "at_risk", "critical"}
    drivers = json.loads(health.sort_values("churn_risk").iloc[-1]["top_drivers"])
    assert drivers and {"feature", "sentence", "value", "typical"} <= set(drivers[0])
    assert (health["revenue_at_risk"] - health["churn_risk"] * health["revenue_12m"].clip(lower=0)).abs().max() < 0.01
    exported = pd.read_parquet(scored["home"] / "exports" / "customer_health.parquet")
    assert len(exported) == len(health)


def test_a_second_run_changes_nothing(scored, capsys):
    before = table(scored["warehouse"], "select * from main.customer_health order by customer_id")
    history_before = table(scored["warehouse"], "select count(*) as n from main.customer_health_history")
    out = cli(capsys, "run", *scored["flags"])
    assert "files: none new" in out and "reused" in out
    after = table(scored["warehouse"], "select * from main.customer_health order by customer_id")
    pd.testing.assert_frame_equal(before, after)
    assert table(scored["warehouse"], "select count(*) as n from main.customer_health_history").equals(history_before)
    assert len(list((scored["home"] / "models").glob("v*"))) == 1


def test_features_ignore_events_after_as_of(scored, demo, tmp_path, capsys):
    as_of = (pd.Timestamp(demo["cutoff"]) - pd.Timedelta(days=75)).date().isoformat()
    warehouse = tmp_path / "early.duckdb"
    shutil.copy(scored["warehouse"], warehouse)
    cli(capsys, "features", "--config", str(demo["config"]), "--warehouse", str(warehouse),
        "--as-of", as_of)
    features = table(warehouse, f"select * from main.fct_customer_features where as_of = date '{as_of}'")
    assert len(features) > 0
    assert (features["days_since_last_purchase"].dropna() >= 0).all()
    assert (features["days_since_last_inbound"].dropna() >= 0).all()
    spend = table(warehouse, f"""
        select customer_id, sum(case when type = 'refund' then -abs(amount)
                                     when type = 'cancellation' then 0 else amount end) as spend
        from raw.transactions
        where occurred_at >= date '{as_of}' + interval 1 day - interval 30 day
          and occurred_at < date '{as_of}' + interval 1 day
        group by 1""")
    merged = features.merge(spend, on="customer_id", how="left").fillna({"spend": 0})
    assert (merged["spend_30d"] - merged["spend"]).abs().max() < 0.01


def test_status_shows_ledger_quarantine_and_model(scored, capsys):
    out = cli(capsys, "status", *scored["flags"])
    assert "Ingest ledger" in out and "Current scores" in out and "roc_auc" in out
    assert "Drift of model" in out and "churn_risk" in out


def test_drift_warns_when_the_population_moves(scored, tmp_path):
    import yaml

    from customer_health.config import load_settings
    from customer_health.drift import compute_drift
    from customer_health.reads import current_run

    settings = load_settings(str(scored["flags"][1]), home=scored["home"])
    version = current_run(settings)["model_version"]
    report = compute_drift(settings, version)
    assert report.table.loc[0, "what"] == "churn_risk" and len(report.table) == 11
    # the same data with a threshold no real population meets: every row is flagged
    config = yaml.safe_load(open(scored["flags"][1]))
    config["drift"] = {"psi_warning": 1e-9, "features": 3}
    strict = tmp_path / "strict.yml"
    strict.write_text(yaml.safe_dump(config))
    flagged = compute_drift(load_settings(str(strict), home=scored["home"]), version)
    assert len(flagged.table) == 4 and set(flagged.drifted) == set(flagged.table["what"])


def test_evaluate_compares_with_the_oracle(scored, demo, capsys):
    out = cli(capsys, "evaluate", *scored["flags"], "--truth", str(demo["truth"]))
    assert "model ROC AUC" in out and "oracle ROC AUC" in out


def test_at_risk_filters_and_csv(scored, capsys):
    health = table(scored["warehouse"], "select segment, account_owner from main.customer_health "
                   "where health_band in ('at_risk', 'critical')")
    segment = health["segment"].mode()[0]
    rows = pd.read_csv(io.StringIO(cli(capsys, "at-risk", *scored["flags"], "--format", "csv",
                                       "--segment", segment, "--top", "500")))
    assert len(rows) == (health["segment"] == segment).sum()
    assert set(rows["segment"]) == {segment}


@pytest.mark.parametrize("sent, never_sent, measured", [
    (("customers", "transactions"),
     ("activity_score", "logins_30d", "tickets_opened_90d", "open_tickets", "complaints_90d", "last_csat",
      "negative_feedback_share_90d"),
     ("days_since_last_purchase", "purchases_90d", "spend_90d", "revenue_12m", "tenure_days")),
    (("customers", "interactions"),
     ("days_since_last_purchase", "purchases_90d", "spend_90d", "revenue_12m", "recency_score"),
     ("activity_score", "active_days_30d", "logins_30d", "days_since_last_inbound")),
], ids=["transactions only", "interactions only"])
def test_a_business_without_one_feed_still_gets_scores(demo, tmp_path, capsys, sent, never_sent, measured):
    landing = tmp_path / "landing"
    for entity in sent:
        shutil.copytree(demo["landing"] / entity, landing / entity)
    flags = ["--config", str(demo["config"]), "--home", str(tmp_path / "home"), "--landing", str(landing)]
    out = cli(capsys, "run", *flags)
    missing = ({"transactions", "interactions"} - set(sent)).pop()
    assert f"no {missing}" in out
    if missing == "interactions":
        assert "features without data, not used" in out and "logins_30d" in out
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    health = table(warehouse, "select * from main.customer_health")
    assert len(health) > 0 and health["churn_risk"].notna().all()
    # what was never sent is null (not observed), what was sent is measured
    features = table(warehouse, "select * from main.fct_customer_features where is_scoring_date and is_eligible")
    for column in never_sent:
        assert features[column].isna().all(), column
    for column in measured:
        assert features[column].notna().all(), column


def test_docs_describe_every_column_users_read(scored, capsys):
    out = cli(capsys, "docs", *scored["flags"])
    target = scored["home"] / "dbt" / "target"
    assert str(target / "index.html") in out and (target / "index.html").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = ("fct_customer_features", "dim_customers", "customer_health", "customer_health_history",
             "at_risk_customers", "health_alerts")
    for name in marts:
        node = manifest["nodes"][f"model.customer_health.{name}"]
        built = catalog["nodes"][f"model.customer_health.{name}"]["columns"]
        described = {c.lower() for c, col in node["columns"].items() if col["description"].strip()}
        assert node["description"].strip(), name
        assert {c.lower() for c in built} <= described, (name, sorted(set(built) - described))
    consumers = {e["name"] for e in manifest["exposures"].values()}
    assert {"at_risk_list", "alerts_list", "bi_tools", "churn_model"} <= consumers


def test_a_model_of_another_dataset_is_never_used(scored, demo, tmp_path, capsys):
    home = tmp_path / "other"
    shutil.copytree(scored["home"] / "models", home / "models")
    out = cli(capsys, "run", "--config", str(demo["config"]), "--home", str(home),
              "--landing", str(demo["landing"]))
    assert "trained" in out
    versions = table(home / "warehouse.duckdb", "select distinct model_version from main.customer_health")
    assert versions["model_version"].tolist() == ["v0002"]


def test_a_backfill_goes_to_history_and_keeps_the_current_list(scored, demo, tmp_path, capsys):
    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    flags = ["--config", str(demo["config"]), "--home", str(home), "--landing", str(demo["landing"])]
    warehouse = home / "warehouse.duckdb"
    current = table(warehouse, "select distinct as_of from main.customer_health")["as_of"].tolist()
    past = (pd.Timestamp(current[0]) - pd.Timedelta(days=60)).date().isoformat()

    cli(capsys, "run", *flags, "--as-of", past)
    assert table(warehouse, "select distinct as_of from main.customer_health")["as_of"].tolist() == current
    runs = table(warehouse, "select as_of, count(*) as n from main.customer_health_history group by 1 order by 1")
    assert [d.date().isoformat() for d in pd.to_datetime(runs["as_of"])] == [past, pd.Timestamp(current[0]).date().isoformat()]

    # the next regular run compares with the run before it by as-of date: the backfill
    cli(capsys, "run", *flags)
    health = table(warehouse, "select * from main.customer_health")
    assert health["previous_score"].notna().mean() > 0.5
    assert set(health["trend"]) - {"new"}


def test_demo_data_never_deletes_files_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "landing" / "transactions" / "my_export.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("keep me")
    code = main(["demo-data", "--customers", "10", "--months", "2", "--out",
                 str(tmp_path / "landing"), "--truth", str(tmp_path / "truth")])
    assert code == 2 and "did not write" in capsys.readouterr().err
    assert mine.read_text() == "keep me"


def test_reading_before_anything_is_published_says_what_to_do(tmp_path, capsys):
    (tmp_path / "landing" / "transactions").mkdir(parents=True)
    assert main(["ingest", "--home", str(tmp_path)]) == 0
    assert main(["at-risk", "--home", str(tmp_path)]) == 2
    assert "run `customer-health run`" in capsys.readouterr().err


def test_a_lagging_feed_holds_the_scoring_date_back(demo, tmp_path, capsys):
    landing = tmp_path / "landing"
    shutil.copytree(demo["landing"], landing)
    months = sorted((landing / "interactions").iterdir())
    months[-1].unlink()  # the interactions feed is a month behind
    flags = ["--config", str(demo["config"]), "--home", str(tmp_path / "home"), "--landing", str(landing)]
    out = cli(capsys, "run", *flags)
    assert "feeds end on different dates" in out
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    last_interaction = table(warehouse, "select cast(max(occurred_at) as date) as d from raw.interactions")["d"][0]
    as_of = table(warehouse, "select distinct as_of from main.customer_health")["as_of"].tolist()
    assert [pd.Timestamp(d).date() for d in as_of] == [pd.Timestamp(last_interaction).date()]
    # a date past what every feed reached is refused
    later = (pd.Timestamp(last_interaction) + pd.Timedelta(days=10)).date().isoformat()
    assert main(["features", *flags, "--as-of", later]) == 2
    assert "after the data every feed has reached" in capsys.readouterr().err


def test_new_band_thresholds_make_a_new_run_and_history_agrees(scored, demo, tmp_path, capsys):
    import yaml

    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    config = yaml.safe_load(demo["config"].read_text())
    config["bands"]["healthy"] = 90
    path = tmp_path / "strict.yml"
    path.write_text(yaml.safe_dump(config))
    cli(capsys, "run", "--config", str(path), "--home", str(home), "--landing", str(demo["landing"]))
    mismatched = table(home / "warehouse.duckdb", """
        select count(*) as n from main.customer_health c
        join main.customer_health_history h using (run_id, customer_id)
        where c.health_band <> h.health_band""")
    assert mismatched["n"][0] == 0
    runs = table(home / "warehouse.duckdb", "select count(distinct run_id) as n from main.customer_health_history")
    assert runs["n"][0] == 2


def test_alerts_are_raised_once_and_never_on_a_rerun(scored, demo, tmp_path, capsys):
    import yaml

    home = tmp_path / "home"
    shutil.copytree(scored["home"], home)
    warehouse = home / "warehouse.duckdb"
    flags = ["--home", str(home), "--landing", str(demo["landing"])]
    alerts = lambda: table(warehouse, "select * from main.health_alerts")  # noqa: E731
    # the first run of a dataset is the baseline; rerunning the same data adds no alert
    assert len(alerts()) == 0
    out = cli(capsys, "run", "--config", str(demo["config"]), *flags)
    assert "0 new alerts" in out and len(alerts()) == 0

    # stricter thresholds for one segment: a new run in which some of its customers enter a band
    before = table(warehouse, "select customer_id, health_band, health_score, segment from main.customer_health")
    segment = before["segment"].mode()[0]
    config = yaml.safe_load(demo["config"].read_text())
    config["bands"]["by_segment"] = {segment.upper(): {"healthy": 95, "watch": 85, "at_risk": 75}}
    strict = tmp_path / "strict.yml"
    strict.write_text(yaml.safe_dump(config))
    cli(capsys, "run", "--config", str(strict), *flags)
    after = table(warehouse, "select customer_id, health_band, health_score, segment, run_id "
                             "from main.customer_health")
    expected_band = after["health_score"].map(
        lambda s: "healthy" if s >= 95 else "watch" if s >= 85 else "at_risk" if s >= 75 else "critical")
    mine = after["segment"] == segment
    assert (after.loc[mine, "health_band"] == expected_band[mine]).all()
    assert after.loc[~mine].merge(before, on=["customer_id", "health_band"]).shape[0] == (~mine).sum()

    severity = {"healthy": 0, "watch": 1, "at_risk": 2, "critical": 3}
    both = after.merge(before, on="customer_id", suffixes=("", "_before"))
    entered = both[both["health_band"].isin(["at_risk", "critical"])
                   & (both["health_band"].map(severity) > both["health_band_before"].map(severity))]
    raised = alerts()
    assert len(entered) > 0
    assert sorted(raised["customer_id"]) == sorted(entered["customer_id"])
    assert set(raised["rule"]) <= {"entered_at_risk", "entered_critical"}
    assert (raised["rule"] == "entered_" + raised["health_band"]).all()
    assert set(raised["segment"]) == {segment} and raised["alert_id"].is_unique
    assert set(raised["detected_in_run_id"]) == set(after["run_id"])
    assert raised["message"].str.startswith("Entered the ").all()

    # the same run again (and the history it wrote) adds nothing
    cli(capsys, "run", "--config", str(strict), *flags)
    assert len(alerts()) == len(raised)
    listed = json.loads(cli(capsys, "alerts", "--config", str(strict), *flags, "--format", "json"))
    assert sorted(r["alert_id"] for r in listed) == sorted(raised["alert_id"])
    assert "Alerts raised by this run: " + str(len(raised)) in cli(capsys, "status", "--config", str(strict), *flags)
    assert json.loads(cli(capsys, "alerts", "--config", str(strict), *flags, "--since", "2999-01-01",
                          "--format", "json")) == []
    exported = pd.read_parquet(home / "exports" / "health_alerts.parquet")
    assert len(exported) == len(raised)
    history = home / "exports" / "customer_health_history"   # a file per run, read as one table
    runs = pd.read_parquet(history)
    assert set(after["run_id"]) <= set(runs["run_id"])
    assert len(list(history.iterdir())) == runs["run_id"].nunique() and not runs.duplicated(
        ["run_id", "customer_id"]).any()

    # with a webhook configured, deliver-alerts sends the new alerts once
    posted = []
    with _webhook_receiver(posted) as url:
        config["alert_delivery"] = {"webhook": {"url_env": "TEST_ALERT_WEBHOOK"}}
        strict.write_text(yaml.safe_dump(config))
        os.environ["TEST_ALERT_WEBHOOK"] = url
        try:
            out = cli(capsys, "deliver-alerts", "--config", str(strict), *flags)
            again = cli(capsys, "deliver-alerts", "--config", str(strict), *flags)
        finally:
            del os.environ["TEST_ALERT_WEBHOOK"]
    assert len(posted) == 1, (out, again)  # one batch, and nothing the second time
    shown = sum(customer in posted[0] for customer in raised["customer_id"])
    assert shown == min(len(raised), 20)  # one section per alert, 20 at most, the rest counted
    assert f"{len(raised)} new alert" in posted[0]
    assert url not in out + again


@contextmanager
def _webhook_receiver(posted: list[str]):
    """A local Slack-style webhook: records each POST body, answers 200."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret"
    finally:
        server.shutdown()


def test_the_action_follows_the_strongest_drivers_feature(scored):
    from customer_health.config import load_settings

    playbook = load_settings(scored["flags"][1]).options.playbook
    health = table(scored["warehouse"], "select top_drivers, recommended_action from main.customer_health")
    firsts = health["top_drivers"].map(lambda d: (json.loads(d) or [{}])[0])
    expected = firsts.map(lambda d: playbook.get(d.get("feature"))
                          or playbook.get(d.get("dimension")) or playbook["default"])
    assert (health["recommended_action"] == expected).all()
    assert firsts.map(lambda d: d.get("feature") in playbook).any()


def test_publish_copies_the_output_tables_to_postgres_for_bi(scored, demo, tmp_path, capsys,
                                                            monkeypatch):
    import yaml

    from tests.postgres import dsn, psycopg2, throwaway_database

    config = yaml.safe_load(Path(demo["config"]).read_text())
    config["exports"] = {"postgres": {"dsn_env": "BI_WAREHOUSE_DSN", "schema": "health"}}
    with_export = tmp_path / "customer_health.yml"
    with_export.write_text(yaml.safe_dump(config))
    flags = ["--config", str(with_export), "--home", str(scored["home"]),
             "--landing", str(demo["landing"])]
    with throwaway_database("customer_health_bi") as database:
        monkeypatch.setenv("BI_WAREHOUSE_DSN", dsn(database))
        out = cli(capsys, "publish", *flags)
        assert "PostgreSQL copy: 4 tables" in out and "in schema health on" in out
        assert database in out and "password" not in out
        with psycopg2.connect(dsn(database)) as pg, pg.cursor() as cur:
            for name in ("customer_health", "customer_health_history", "at_risk_customers",
                         "health_alerts"):
                cur.execute(f"select count(*) from health.{name}")
                copied = cur.fetchone()[0]
                assert copied == len(table(scored["warehouse"], f"select * from main.{name}")), name
            cur.execute("select customer_id, health_band from health.customer_health "
                        "order by customer_id")
            in_pg = cur.fetchall()
    in_duckdb = table(scored["warehouse"], "select customer_id, health_band from "
                                           "main.customer_health order by customer_id")
    assert in_pg == list(in_duckdb.itertuples(index=False, name=None))
