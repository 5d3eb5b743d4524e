"""The REST API: filters, paging, sorting, one customer, alerts, and hostile input everywhere."""

from __future__ import annotations

import math
from urllib.parse import quote

import pytest

from customer_health.web.params import SORT_KEYS
from tests.web.conftest import AUTH, digest


def get(client, path, **params):
    response = client.get(path, params=params, headers=AUTH)
    return response


def ok(client, path, **params) -> dict:
    response = get(client, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def count(con, where: str = "true", args=()) -> int:
    return con.execute(f"select count(*) from customer_health where {where}", list(args)).fetchone()[0]


# ---------------------------------------------------------------- filters

def test_default_list_is_the_at_risk_bands_ranked_by_revenue_at_risk(client, con):
    body = ok(client, "/api/v1/at-risk", limit=500)
    assert body["bands"] == ["critical", "at_risk"]
    assert body["total"] == count(con, "health_band in ('critical', 'at_risk')") == len(body["items"])
    risk = [i["revenue_at_risk"] for i in body["items"]]
    assert risk == sorted(risk, reverse=True)
    assert [i["rank"] for i in body["items"]] == list(range(1, body["total"] + 1))
    assert body["revenue_at_risk"] == pytest.approx(sum(risk))
    first = body["items"][0]
    assert first["url"].endswith(f"/api/v1/customers/{first['customer_id']}")


def test_band_is_repeatable(client, con):
    body = ok(client, "/api/v1/at-risk", band=["watch", "healthy"], limit=500)
    assert body["bands"] == ["watch", "healthy"]
    assert {i["health_band"] for i in body["items"]} <= {"watch", "healthy"}
    assert body["total"] == count(con, "health_band in ('watch', 'healthy')")


def test_segment_and_owner_match_without_regard_to_case(client, con):
    segment, owner = con.execute(
        "select segment, account_owner from customer_health where health_band = 'critical' "
        "group by all order by count(*) desc limit 1").fetchone()
    for value in (segment, segment.upper()):
        body = ok(client, "/api/v1/at-risk", segment=value, limit=500)
        assert body["total"] == count(con, "health_band in ('critical', 'at_risk') and segment = ?", [segment])
        assert {i["segment"] for i in body["items"]} == {segment}
    body = ok(client, "/api/v1/at-risk", owner=owner.lower(), segment=segment, limit=500)
    assert body["total"] == count(con, "health_band in ('critical', 'at_risk') and segment = ? "
                                       "and account_owner = ?", [segment, owner]) > 0
    assert ok(client, "/api/v1/at-risk", segment="no such segment")["total"] == 0


def test_min_revenue_and_search(client, con):
    threshold = con.execute("select median(revenue_12m) from customer_health").fetchone()[0]
    body = ok(client, "/api/v1/at-risk", min_revenue=threshold, band=["critical", "at_risk", "watch", "healthy"],
              limit=500)
    assert body["total"] == count(con, "revenue_12m >= ?", [threshold])
    assert min(i["revenue_12m"] for i in body["items"]) >= threshold
    some = con.execute("select customer_id from customer_health where health_band = 'critical' "
                       "order by customer_id limit 1").fetchone()[0]
    part = some[:-1].lower()  # e.g. "c00012" matches C000120 .. C000129
    body = ok(client, "/api/v1/at-risk", q=part, limit=500)
    assert body["total"] == count(con, "health_band in ('critical', 'at_risk') and "
                                       "contains(lower(customer_id), ?)", [part]) >= 1
    assert all(part in i["customer_id"].lower() for i in body["items"])
    exact = ok(client, "/api/v1/at-risk", q=some)
    assert [i["customer_id"] for i in exact["items"]] == [some]
    # the rank stays the customer's place in the whole list, not in the search result
    full = {i["customer_id"]: i["rank"] for i in ok(client, "/api/v1/at-risk", limit=500)["items"]}
    assert exact["items"][0]["rank"] == full[some]


def test_empty_parameters_mean_no_filter(client):
    assert ok(client, "/api/v1/at-risk", segment="", owner="", q="", min_revenue="")["total"] == \
        ok(client, "/api/v1/at-risk")["total"]


# ---------------------------------------------------------------- paging

def test_pages_add_up_to_the_whole_list(client):
    whole = ok(client, "/api/v1/at-risk", limit=500)
    ids, url, pages = [], "/api/v1/at-risk?limit=7", 0
    while url:
        body = client.get(url, headers=AUTH).json()
        assert body["total"] == whole["total"] and body["limit"] == 7
        assert len(body["items"]) == min(7, whole["total"] - len(ids))
        ids += [i["customer_id"] for i in body["items"]]
        url, pages = body["next"], pages + 1
    assert ids == [i["customer_id"] for i in whole["items"]]
    assert pages == math.ceil(whole["total"] / 7)


def test_page_and_offset_boundaries(client):
    total = ok(client, "/api/v1/at-risk")["total"]
    by_page = ok(client, "/api/v1/at-risk", page=2, limit=5)
    by_offset = ok(client, "/api/v1/at-risk", offset=5, limit=5)
    assert by_page["items"] == by_offset["items"] and by_page["offset"] == 5 and by_offset["page"] == 2
    assert by_page["previous"] and "page=1" in by_page["previous"]
    assert "offset=10" in by_offset["next"]
    last = ok(client, "/api/v1/at-risk", offset=total - 1, limit=5)
    assert len(last["items"]) == 1 and last["next"] is None
    beyond = ok(client, "/api/v1/at-risk", page=10_000, limit=5)
    assert beyond["items"] == [] and beyond["total"] == total and beyond["next"] is None
    first = ok(client, "/api/v1/at-risk", limit=1)
    assert first["previous"] is None and len(first["items"]) == 1
    default = ok(client, "/api/v1/at-risk")
    assert default["limit"] == 50


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 501}, {"limit": -1}, {"limit": "abc"}, {"page": 0}, {"page": -3},
    {"offset": -1}, {"page": 2, "offset": 10}, {"page": "1.5"}, {"offset": 10**12}, {"limit": 10**20},
])
def test_bad_paging_is_422_with_a_clear_message(client, params):
    response = get(client, "/api/v1/at-risk", **params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["errors"] and body["errors"][0]["parameter"] in params
    assert body["message"]


# ---------------------------------------------------------------- sort

SEVERITY = {"critical": 0, "at_risk": 1, "watch": 2, "healthy": 3}


def _key(column: str, value):
    if column in ("health_band", "override_band"):
        return SEVERITY[value]
    if column in ("segment", "account_owner"):
        return value.lower()
    return value


@pytest.mark.parametrize("column", SORT_KEYS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_column_sorts_both_ways_nulls_last(client, column, order):
    items = ok(client, "/api/v1/at-risk", sort=column, order=order, limit=500,
               band=["critical", "at_risk", "watch", "healthy"])["items"]
    assert items
    values = [i[column] for i in items]
    present = [_key(column, v) for v in values if v is not None]
    assert present == sorted(present, reverse=order == "desc")
    assert all(v is None for v in values[len(present):])  # nulls last


def test_sort_default_order_and_unknown_sort(client):
    body = ok(client, "/api/v1/at-risk", sort="churn_risk")
    assert body["order"] == "desc"
    for sort in ("revenue", "health_score; drop table x", "1", "customer_id desc"):
        assert get(client, "/api/v1/at-risk", sort=sort).status_code == 422
    assert get(client, "/api/v1/at-risk", order="sideways").status_code == 422


def test_unknown_parameters_are_refused(client):
    response = get(client, "/api/v1/at-risk", segmnt="smb")
    assert response.status_code == 422 and response.json()["errors"][0]["parameter"] == "segmnt"


# ---------------------------------------------------------------- one customer and alerts

def test_one_customer(client, con):
    cid, score, band = con.execute("select customer_id, health_score, health_band from customer_health "
                                   "order by revenue_at_risk desc limit 1").fetchone()
    body = ok(client, f"/api/v1/customers/{cid}")
    assert (body["customer_id"], body["health_score"], body["health_band"]) == (cid, score, band)
    assert body["top_drivers"] and all(d["sentence"] for d in body["top_drivers"])
    assert body["history"] and body["history"][-1]["health_score"] == score
    assert body["override"] is None and body["override_history"] == []
    assert {"engagement_score", "experience_score", "voice_score", "value_score",
            "recommended_action"} <= set(body)


@pytest.mark.parametrize("cid", ["C999999", "' or 1=1 --", "c000001", " ", "%", "客户"])
def test_unknown_customer_is_404(client, cid):
    response = client.get(f"/api/v1/customers/{quote(cid, safe='')}", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_alerts_filter_and_page(client, con):
    total = con.execute("select count(*) from health_alerts").fetchone()[0]
    assert total > 10
    body = ok(client, "/api/v1/alerts", limit=500)
    assert body["total"] == total
    days = [i["as_of"] for i in body["items"]]
    assert days == sorted(days, reverse=True)
    since = sorted(set(days))[-2]
    body = ok(client, "/api/v1/alerts", since=since, rule=["entered_critical", "score_drop"], limit=500)
    expected = con.execute("select count(*) from health_alerts where as_of >= ? and rule in "
                           "('entered_critical', 'score_drop')", [since]).fetchone()[0]
    assert body["total"] == expected > 0
    assert all(i["as_of"] >= since and i["rule"] in ("entered_critical", "score_drop") for i in body["items"])
    segment = body["items"][0]["segment"]
    body = ok(client, "/api/v1/alerts", band="critical", segment=segment.upper(), limit=3, page=2)
    expected = con.execute("select count(*) from health_alerts where health_band = 'critical' and "
                           "segment = ?", [segment]).fetchone()[0]
    assert body["total"] == expected and body["offset"] == 3
    assert all(i["health_band"] == "critical" and i["segment"] == segment for i in body["items"])
    one = body["items"][0]["customer_id"]
    assert {i["customer_id"] for i in ok(client, "/api/v1/alerts", customer_id=one)["items"]} == {one}
    until = sorted(set(days))[0]
    assert all(i["as_of"] <= until for i in ok(client, "/api/v1/alerts", until=until, limit=500)["items"])


# ---------------------------------------------------------------- hostile input

PAYLOADS = [
    "' or 1=1 --", "\" or \"\"=\"", "'; drop table customer_health; --",
    "\"; drop table customer_health; --", "1 union select * from dim_customers",
    "smb' --", "%", "_", "*", "\\", "\\'", "' || (select 1) || '", "ünïcødé ✓ 客户 🙂",
    "\u202e\u0000\u0007", "<script>alert(1)</script>", "../../etc/passwd", "x" * 5000,
]
AT_RISK_PARAMS = ["segment", "owner", "band", "min_revenue", "q", "sort", "order", "page", "offset", "limit"]
ALERT_PARAMS = ["since", "until", "rule", "band", "segment", "owner", "customer_id", "page", "offset", "limit"]


def _state(settings, con) -> tuple:
    tables = con.execute("select table_name, estimated_size from duckdb_tables() order by 1").fetchall()
    return digest(settings.serving_file), digest(settings.app_db), tables


@pytest.mark.parametrize("endpoint, names", [("/api/v1/at-risk", AT_RISK_PARAMS),
                                             ("/api/v1/alerts", ALERT_PARAMS)])
def test_injection_attempts_in_every_parameter_do_nothing(client, settings, con, endpoint, names):
    before = _state(settings, con)
    for name in names:
        for payload in PAYLOADS:
            response = get(client, endpoint, **{name: payload})
            assert response.status_code in (200, 422), (name, payload, response.text)
            if response.status_code == 200:
                assert response.json()["items"] == [], (name, payload)
            else:
                assert response.json()["error"] == "invalid_parameter"
    for payload in PAYLOADS:
        response = client.get(f"/api/v1/customers/{quote(payload, safe='')}", headers=AUTH)
        assert response.status_code in (404, 422), payload
    assert _state(settings, con) == before
    assert count(con) > 0


def test_injection_attempts_on_the_pages_are_escaped_and_do_nothing(client, settings, con):
    from tests.web.conftest import login

    login(client)
    before = _state(settings, con)
    for name in ("segment", "owner", "q"):
        for payload in PAYLOADS[:-1]:
            page = client.get("/at-risk", params={name: payload})
            assert page.status_code in (200, 422)
            assert "<script>alert(1)</script>" not in page.text
            assert "No customer matches" in page.text or page.status_code == 422
            csv = client.get("/at-risk.csv", params={name: payload, "scope": "all"})
            assert csv.status_code in (200, 422)
            if csv.status_code == 200:
                assert csv.text.count("\n") == 1  # the header only
    for payload in PAYLOADS:
        page = client.get(f"/customers/{quote(payload, safe='')}")
        assert page.status_code in (404, 422) and "<script>alert(1)" not in page.text
        posted = client.post(f"/customers/{quote(payload, safe='')}/overrides",
                             data={"band": "healthy", "reason": payload, "author": payload,
                                   "expires_at": "2099-01-01"})
        assert posted.status_code in (404, 422)
    assert _state(settings, con) == before


# ---------------------------------------------------------------- the serving copy

def test_a_newly_published_copy_shows_at_once_while_an_old_reader_holds_the_old_one(client, settings, con):
    import os
    import shutil

    import duckdb

    assert ok(client, "/api/v1/at-risk")["total"] == count(con, "health_band in ('critical', 'at_risk')")
    staging = settings.serving_file.with_name(".staging.duckdb")
    shutil.copy(settings.serving_file, staging)
    with duckdb.connect(str(staging)) as writer:  # what a publish does: a new file, renamed into place
        writer.execute("update customer_health set health_band = 'critical'")
    os.replace(staging, settings.serving_file)
    assert ok(client, "/api/v1/at-risk")["total"] == count(con)  # every customer is critical now
    assert count(con, "health_band = 'healthy'") > 0  # the old reader still reads its own copy


def test_before_the_first_publish_everything_says_so(client, settings):
    from tests.web.conftest import login

    settings.serving_file.unlink()
    for path in ("/api/v1/at-risk", "/api/v1/alerts", "/api/v1/customers/C000001"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 503 and response.json()["error"] == "not_published"
    login(client)
    page = client.get("/at-risk")
    assert page.status_code == 503 and "Nothing published yet" in page.text
