"""CSM overrides: recorded with an audit trail, shown beside the model's score, never replacing it,
and expired after their day."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from customer_health.web.app import create_app
from customer_health.web.overrides import OverrideError, OverrideStore
from tests.web.conftest import AUTH, TOKEN, TestClient, digest, login

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path):
    clock = Clock()
    return OverrideStore(tmp_path / "app.sqlite", clock=clock), clock


def audit_rows(path) -> list[dict]:
    if not path.exists():  # nothing was ever written
        return []
    with sqlite3.connect(path) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("select * from override_audit order by audit_id")]


def test_create_keeps_an_audit_row_and_applies_through_its_day(store):
    s, clock = store
    o = s.create("C1", "watch", "Renewal signed yesterday", "Ann Lee", "2026-03-20",
                 model={"health_score": 22, "health_band": "critical", "run_id": "r1"})
    assert (o.band, o.status, o.applies, o.model_score, o.model_band) == ("watch", "active", True, 22, "critical")
    assert o.created_at == "2026-03-10T09:30:00+00:00" and o.expires_at == "2026-03-20"
    [row] = audit_rows(s.path)
    assert {k: row[k] for k in ("override_id", "customer_id", "action", "band", "reason", "author",
                                "expires_at", "model_score", "model_band", "at")} == {
        "override_id": o.override_id, "customer_id": "C1", "action": "created", "band": "watch",
        "reason": "Renewal signed yesterday", "author": "Ann Lee", "expires_at": "2026-03-20",
        "model_score": 22, "model_band": "critical", "at": "2026-03-10T09:30:00+00:00"}
    assert s.active_bands() == {"C1": "watch"}
    clock.now = datetime(2026, 3, 20, 23, 59, tzinfo=timezone.utc)  # the last day still counts
    assert s.current("C1").applies
    clock.now = datetime(2026, 3, 21, 0, 0, tzinfo=timezone.utc)
    expired = s.current("C1")
    assert (expired.status, expired.applies) == ("expired", False)
    assert s.active_bands() == {}


def test_a_new_override_supersedes_and_removal_ends_it(store):
    s, _ = store
    first = s.create("C1", "watch", "reason one", "Ann", "2026-04-01")
    second = s.create("C1", "healthy", "reason two", "Bob", "2026-05-01")
    statuses = {o.override_id: o.status for o in s.for_customer("C1")}
    assert statuses == {first.override_id: "superseded", second.override_id: "active"}
    assert s.active_bands() == {"C1": "healthy"}
    removed = s.remove("C1", second.override_id, "Cleo", "customer churned anyway")
    assert (removed.status, removed.removed_by) == ("removed", "Cleo")
    assert s.current("C1") is None and s.active_bands() == {}
    assert [r["action"] for r in audit_rows(s.path)] == ["created", "created", "removed"]
    with pytest.raises(OverrideError, match="already removed"):
        s.remove("C1", second.override_id, "Cleo", "again")


@pytest.mark.parametrize("band, reason, author, expires, field", [
    ("great", "r", "a", "2026-03-20", "band"),
    ("watch", "  ", "a", "2026-03-20", "reason"),
    ("watch", "r", "", "2026-03-20", "author"),
    ("watch", "r", "a", "2026-03-09", "expires_at"),
    ("watch", "r", "a", "2027-06-01", "expires_at"),
    ("watch", "r", "a", "next week", "expires_at"),
    ("watch", "r" * 1001, "a", "2026-03-20", "reason"),
])
def test_invalid_overrides_are_refused_and_nothing_is_written(store, band, reason, author, expires, field):
    s, _ = store
    with pytest.raises(OverrideError) as err:
        s.create("C1", band, reason, author, expires)
    assert err.value.field == field
    assert s.for_customer("C1") == [] and audit_rows(s.path) == []


def test_the_audit_trail_is_append_only(store):
    s, _ = store
    s.create("C1", "watch", "r", "a", "2026-03-20")
    with sqlite3.connect(s.path) as con:
        for sql in ("update override_audit set band = 'healthy'", "delete from override_audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    assert len(audit_rows(s.path)) == 1


def test_other_tables_in_app_sqlite_are_left_alone(store):
    s, _ = store
    with sqlite3.connect(s.path) as con:  # what alert delivery keeps in the same file
        con.execute("create table alert_deliveries (alert_id text, channel text)")
        con.execute("insert into alert_deliveries values ('a1', 'webhook')")
    s.create("C1", "watch", "r", "a", "2026-03-20")
    with sqlite3.connect(s.path) as con:
        assert con.execute("select * from alert_deliveries").fetchall() == [("a1", "webhook")]


# ---------------------------------------------------------------- through the app

def _critical(con) -> tuple[str, int]:
    return con.execute("select customer_id, health_score from customer_health where health_band = "
                       "'critical' order by revenue_at_risk desc limit 1").fetchone()


def test_an_override_is_shown_beside_the_model_score_and_never_changes_it(client, settings, con):
    cid, score = _critical(con)
    serving_before = digest(settings.serving_file)
    login(client)
    expires = (date.today() + timedelta(days=14)).isoformat()
    response = client.post(f"/customers/{cid}/overrides", follow_redirects=False,
                           data={"band": "watch", "reason": "Signed a two-year renewal on Monday",
                                 "author": "Ann Lee", "expires_at": expires})
    assert response.status_code == 303 and response.headers["location"] == f"/customers/{cid}#override"
    page = client.get(f"/customers/{cid}").text
    assert "Signed a two-year renewal on Monday" in page and "Ann Lee" in page
    assert f'data-testid="health-score">{score}<' in page  # the model's score, as it was
    body = client.get(f"/api/v1/customers/{cid}", headers=AUTH).json()
    assert (body["health_score"], body["health_band"]) == (score, "critical")
    assert body["override"]["band"] == "watch" and body["override"]["applies"] is True
    assert body["override"]["model_score"] == score and body["override"]["expires_at"] == expires
    row = next(i for i in client.get("/api/v1/at-risk", params={"q": cid}, headers=AUTH).json()["items"])
    assert (row["health_band"], row["override_band"]) == ("critical", "watch")
    # the CSM band can be sorted on like any column
    top = client.get("/api/v1/at-risk", params={"sort": "override_band", "limit": 1}, headers=AUTH).json()
    assert top["items"][0]["customer_id"] == cid
    assert digest(settings.serving_file) == serving_before
    [audit] = audit_rows(settings.app_db)
    assert (audit["customer_id"], audit["action"], audit["author"]) == (cid, "created", "Ann Lee")


def test_an_expired_override_is_shown_as_expired_and_no_longer_applies(settings, con):
    cid, score = _critical(con)
    clock = Clock(datetime.now(timezone.utc))
    with TestClient(create_app(settings, token=TOKEN, clock=clock)) as client:
        login(client)
        client.post(f"/customers/{cid}/overrides",
                    data={"band": "healthy", "reason": "Outage credit agreed", "author": "Bob",
                          "expires_at": (clock.now.date() + timedelta(days=2)).isoformat()})
        clock.now += timedelta(days=3)
        body = client.get(f"/api/v1/customers/{cid}", headers=AUTH).json()
        assert body["override"]["status"] == "expired" and body["override"]["applies"] is False
        assert body["health_score"] == score
        row = client.get("/api/v1/at-risk", params={"q": cid}, headers=AUTH).json()["items"][0]
        assert row["override_band"] is None
        page = client.get(f"/customers/{cid}").text
        assert 'data-testid="override-status">expired<' in page and "no longer applies" in page


def test_a_bad_override_form_says_why_and_writes_nothing(client, settings, con):
    cid, _ = _critical(con)
    login(client)
    page = client.post(f"/customers/{cid}/overrides",
                       data={"band": "watch", "reason": "", "author": "Ann",
                             "expires_at": (date.today() + timedelta(days=3)).isoformat()})
    assert page.status_code == 422 and "Not recorded: reason" in page.text
    assert 'value="Ann"' in page.text  # what was typed is kept
    assert client.post("/customers/NOPE/overrides",
                       data={"band": "watch", "reason": "r", "author": "a",
                             "expires_at": date.today().isoformat()}).status_code == 404
    assert audit_rows(settings.app_db) == []


def test_removing_an_override_through_the_page(client, settings, con):
    cid, _ = _critical(con)
    login(client)
    client.post(f"/customers/{cid}/overrides",
                data={"band": "watch", "reason": "r", "author": "Ann",
                      "expires_at": (date.today() + timedelta(days=3)).isoformat()})
    oid = client.get(f"/api/v1/customers/{cid}", headers=AUTH).json()["override"]["override_id"]
    response = client.post(f"/customers/{cid}/overrides/{oid}/remove",
                           data={"author": "Cleo", "reason": "no longer true"}, follow_redirects=False)
    assert response.status_code == 303
    body = client.get(f"/api/v1/customers/{cid}", headers=AUTH).json()
    assert body["override"] is None and body["override_history"][0]["status"] == "removed"
    assert [r["action"] for r in audit_rows(settings.app_db)] == ["created", "removed"]
