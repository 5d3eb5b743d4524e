"""Every page and endpoint needs the token: bearer for the API, a session cookie for browsers."""

from __future__ import annotations

import re
import time

import pytest

from customer_health.web.app import create_app
from customer_health.web.auth import COOKIE, MissingToken, TokenAuth
from tests.web.conftest import AUTH, TOKEN, login

API = ["/api/v1/at-risk", "/api/v1/at-risk?limit=abc&band=nope", "/api/v1/customers/C000001",
       "/api/v1/alerts", "/api/v1/openapi.json", "/api/v1/no-such-endpoint"]
PAGES = ["/", "/at-risk", "/at-risk?segment=smb", "/at-risk.csv", "/customers/C000001", "/portfolio",
         "/no-such-page"]
WRONG = [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
         {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Bearer {TOKEN}x"},
         {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": f"Basic {TOKEN}"},
         {"Authorization": TOKEN}, {"Authorization": f"Token {TOKEN}"},
         {"Authorization": "Bearer ' or 1=1 --"}, {"Authorization": "Bearer ünïcødé".encode()}]


@pytest.mark.parametrize("path", API)
@pytest.mark.parametrize("headers", WRONG, ids=range(len(WRONG)))
def test_api_without_the_right_token_is_401_json(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 401  # even before its parameters or path are checked
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert TOKEN not in response.text


def test_api_with_the_token_or_a_session_cookie(client):
    assert client.get("/api/v1/at-risk", headers=AUTH).status_code == 200
    assert client.get("/api/v1/at-risk", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    login(client)
    assert client.get("/api/v1/at-risk").status_code == 200  # the browser's cookie works too


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login_without_a_session(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_the_bearer_token_does_not_open_pages_for_a_forged_cookie(client):
    for cookie in ("", "1.abc", f"{int(time.time())}.{'0' * 64}", TOKEN, "x" * 5000):
        client.cookies.set(COOKIE, cookie)
        assert client.get("/at-risk", follow_redirects=False).status_code == 303
    client.cookies.clear()


def test_login_sets_an_httponly_strict_cookie_that_is_not_the_token(client):
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    wrong = client.post("/login", data={"token": "nope", "next": "/portfolio"}, follow_redirects=False)
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    right = client.post("/login", data={"token": TOKEN, "next": "/portfolio"}, follow_redirects=False)
    assert right.status_code == 303 and right.headers["location"] == "/portfolio"
    cookie = right.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert client.get("/at-risk").status_code == 200
    assert client.get("/portfolio").status_code == 200
    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()  # what the browser does with the expired cookie
    assert client.get("/at-risk", follow_redirects=False).status_code == 303


def test_sessions_expire_and_a_new_token_ends_them():
    auth = TokenAuth(TOKEN)
    issued = time.time() - 13 * 3600
    assert auth.session_ok(auth.new_session())
    assert not auth.session_ok(auth.new_session(now=issued))
    assert not TokenAuth(TOKEN + "-rotated").session_ok(auth.new_session())


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "/at-risk\r\nSet-Cookie: x=1"])
def test_login_never_redirects_off_site(client, target):
    response = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_form_post_from_another_site_is_refused(client, settings):
    login(client)
    response = client.post("/customers/C000001/overrides", headers={"Origin": "http://evil.example"},
                           data={"band": "healthy", "reason": "x", "author": "y",
                                 "expires_at": "2099-01-01"}, follow_redirects=False)
    assert response.status_code == 403


def test_posts_need_the_token(client, settings, con):
    cid = con.execute("select min(customer_id) from customer_health").fetchone()[0]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post(f"/customers/{cid}/overrides", headers=headers, follow_redirects=False,
                               data={"band": "healthy", "reason": "x", "author": "y",
                                     "expires_at": "2099-01-01"})
        assert response.status_code == 401
    assert not settings.app_db.exists()  # nothing written


def test_no_swagger_or_redoc_and_the_openapi_document_needs_the_token(client):
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert client.get(path, headers=AUTH).status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 401
    doc = client.get("/api/v1/openapi.json", headers=AUTH).json()
    assert {"/api/v1/at-risk", "/api/v1/customers/{customer_id}", "/api/v1/alerts"} <= set(doc["paths"])
    assert not [p for p in doc["paths"] if not p.startswith("/api/v1/")]  # pages are not in it
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    schemas = doc["components"]["schemas"]
    assert {"AtRiskPage", "AtRiskItem", "CustomerOut", "AlertPage", "ErrorResponse"} <= set(schemas)
    params = {p["name"] for p in doc["paths"]["/api/v1/at-risk"]["get"]["parameters"]}
    assert params == {"segment", "owner", "band", "min_revenue", "q", "sort", "order", "page",
                      "offset", "limit"}


def test_pages_load_nothing_from_elsewhere(client, con):
    login(client)
    cid = con.execute("select customer_id from customer_health order by revenue_at_risk desc "
                      "limit 1").fetchone()[0]
    for path in ("/at-risk", f"/customers/{cid}", "/portfolio", "/login"):
        response = client.get(path)
        assert response.status_code == 200
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "<script" not in response.text.lower()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text), path
        assert "@import" not in response.text and "url(" not in response.text


def test_the_app_refuses_to_start_without_a_token(settings, monkeypatch):
    name = settings.options.serve.token_env
    monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingToken, match=f"^{name} is not set") as err:
        create_app(settings)
    assert "\n" not in str(err.value)
    monkeypatch.setenv(name, "short")
    with pytest.raises(MissingToken, match="too short"):
        create_app(settings)
    monkeypatch.setenv(name, TOKEN)
    create_app(settings)  # from the environment


def test_serve_refuses_to_start_without_a_token(settings, monkeypatch, capsys):
    from customer_health.web.server import serve

    monkeypatch.delenv(settings.options.serve.token_env, raising=False)
    with pytest.raises(MissingToken):
        serve(settings, port=0)
    assert "http://" not in capsys.readouterr().out  # no URL printed for a server that is not up
