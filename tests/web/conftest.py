"""A served dataset for the web tests: the e2e pipeline run's serving copy and models, copied.

Each test gets its own copy of the home (serving copy, models, no app.sqlite yet), so overrides
written by one test never show in another. The pipeline's first run raises no alerts (it is the
baseline), so the copy's health_alerts gets a few made from its own customers, to page and filter.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

with warnings.catch_warnings():  # Starlette suggests httpx2, which is not in the lock
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from customer_health.config import load_settings
from customer_health.web.app import create_app

TOKEN = "web-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _add_alerts(serving: Path) -> None:
    """Alerts of three rules on three dates, from the copy's own customers."""
    with duckdb.connect(str(serving)) as con:
        rows = con.execute("select customer_id, as_of, health_score, health_band, segment, "
                           "account_owner, run_id from customer_health order by customer_id").fetchall()
        alerts = []
        for i, (cid, as_of, score, band, segment, owner, run) in enumerate(rows):
            rule = ("entered_critical" if band == "critical" else "entered_at_risk" if band == "at_risk"
                    else "score_drop" if i % 7 == 0 else None)
            if rule is None:
                continue
            day = as_of - timedelta(days=30 * (i % 3))
            alerts.append((f"a{i:05d}", cid, rule, run, day, day, day, score, score + 20, band,
                           f"Test alert {rule} for {cid}.", segment, owner))
        con.executemany("insert into health_alerts (alert_id, customer_id, rule, detected_in_run_id, "
                        "as_of, window_start, window_end, health_score, previous_score, health_band, "
                        "message, segment, account_owner, created_at) "
                        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())", alerts)


@pytest.fixture(scope="session")
def served_home(scored, tmp_path_factory) -> Path:  # noqa: F811
    """The scored dataset's serving copy and models (no warehouse: the web app never opens it)."""
    home = tmp_path_factory.mktemp("served") / "home"
    for folder in ("serving", "models"):
        shutil.copytree(scored["home"] / folder, home / folder)
    _add_alerts(home / "serving" / "customer_health.duckdb")
    return home


@pytest.fixture
def settings(served_home, demo, tmp_path):  # noqa: F811
    home = tmp_path / "home"
    shutil.copytree(served_home, home)
    return load_settings(demo["config"], home=home, landing=demo["landing"])


@pytest.fixture
def client(settings) -> TestClient:
    with TestClient(create_app(settings, token=TOKEN), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def con(settings):
    """A read-only connection to the test's serving copy, to compute what the API should say."""
    with duckdb.connect(str(settings.serving_file), read_only=True) as c:
        yield c


def login(client: TestClient) -> None:
    response = client.post("/login", data={"token": TOKEN, "next": "/at-risk"}, follow_redirects=False)
    assert response.status_code == 303, response.text


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
