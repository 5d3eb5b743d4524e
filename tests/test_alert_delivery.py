"""alert_delivery: new health_alerts rows go to a Slack-compatible webhook and by email, once.

The serving copy is a small DuckDB file built here in the shape of the health_alerts contract
(dbt_project/models/marts/health/health_alerts.yml), not by the pipeline. The webhook is a local
HTTP receiver (http.server in a thread) that records each request and answers what a test asks;
the mail server is aiosmtpd on a free local port, recording each message and login.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import http
import http.server
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from customer_health import alert_delivery
from customer_health.alert_delivery import (AlertDeliveryConfigError, DeliverySummary,
                                            deliver_new_alerts, print_delivery)
from customer_health.config import ConfigError, load_settings

URL_ENV = "CH_TEST_ALERT_WEBHOOK_URL"
USER_ENV = "CH_TEST_SMTP_USER"
PASSWORD_ENV = "CH_TEST_SMTP_PASSWORD"
SECRET_PATH = "/services/T0AB12CD3/B0EF45GH6/s3cr3tWebhookTok3n"
PASSWORD = "p4ssw0rd-n0t-for-logs"
RECIPIENTS = ["retention@example.com", "cco-office@example.com"]
MAY, JUNE, JULY = date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 15)


# --- the local webhook receiver ------------------------------------------------------------------

class Receiver:
    """Records every POST; answers the statuses queued in ``answers`` (then 200 "ok")."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, str]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "json": json.loads(body)})
                status, text = receiver.answers.pop(0) if receiver.answers else (200, "ok")
                if status == "hang":  # answer only after the client gave up
                    time.sleep(float(text))
                    status, text = 200, "ok"
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    r = Receiver()
    monkeypatch.setenv(URL_ENV, r.url)
    yield r
    r.close()


# --- the local SMTP server -----------------------------------------------------------------------

class Mailbox:
    def __init__(self):
        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []
        self.fail_next: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        if self.fail_next:
            return self.fail_next.pop(0)
        self.messages.append({
            "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
            "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            "authenticated": session.authenticated})
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=password == PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port(),
                            authenticator=box.authenticate, auth_require_tls=False)
    controller.start()
    box.port = controller.port
    monkeypatch.setenv(USER_ENV, "alerts-bot")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    yield box
    controller.stop()


# --- configuration and serving copy --------------------------------------------------------------

def make_settings(tmp_path: Path, *, webhook: bool = False, smtp_port: int | None = None,
                  timeout: float = 5):
    lines = ["alert_delivery:"]
    if webhook:
        lines += ["  webhook:", f"    url_env: {URL_ENV}", f"    timeout_seconds: {timeout}"]
    if smtp_port is not None:
        lines += ["  email:", "    smtp_host: 127.0.0.1", f"    smtp_port: {smtp_port}",
                  "    starttls: false", "    sender: customer-health@example.com",
                  f"    recipients: [{', '.join(RECIPIENTS)}]", f"    username_env: {USER_ENV}",
                  f"    password_env: {PASSWORD_ENV}", "    timeout_seconds: 5"]
    if len(lines) == 1:
        lines = ["alert_delivery: {webhook: null, email: null}"]
    config = tmp_path / "customer_health.yml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(config, home=tmp_path / "home")


BANDS = [("critical", 18, 45), ("at_risk", 33, 64), ("critical", 22, 41), ("watch", 58, 79),
         ("at_risk", 38, 66), ("critical", 12, 30), ("at_risk", 31, 70)]
OWNERS = ["Dana Whitfield", "Marco Ruiz", "Priya Natarajan"]
SEGMENTS = ["enterprise", "mid_market", "smb"]


def alert(n: int, as_of: date, rule: str | None = None) -> dict:
    """A realistic health_alerts row (the mart's messages, alert_id as the mart hashes it)."""
    band, score, previous = BANDS[n % len(BANDS)]
    customer = f"C-{n:06d}"
    rule = rule or ("score_drop" if band == "watch" else f"entered_{band}")
    window_start = as_of - timedelta(days=30) if rule == "score_drop" else as_of
    if rule == "score_drop":
        message = (f"Health score dropped {previous - score} points within 30 days: "
                   f"from {previous} to {score}.")
    else:
        message = (f"Entered the {band.replace('_', '-')} band: health score {score}, was "
                   f"{previous} (watch) on {as_of - timedelta(days=30)}.")
    return {
        "alert_id": hashlib.md5(f"{customer}|{rule}|{window_start}".encode()).hexdigest(),
        "customer_id": customer, "rule": rule, "detected_in_run_id": f"run-{as_of:%Y%m%d}",
        "as_of": as_of, "window_start": window_start, "window_end": as_of,
        "health_score": score, "previous_score": previous, "health_band": band,
        "message": message, "segment": SEGMENTS[n % 3], "account_owner": OWNERS[n % 3],
        "created_at": datetime.combine(as_of + timedelta(days=1), datetime.min.time()),
    }


ALERT_COLUMNS = """alert_id varchar not null, customer_id varchar not null, rule varchar not null,
    detected_in_run_id varchar, as_of date, window_start date, window_end date,
    health_score integer, previous_score integer, health_band varchar, message varchar,
    segment varchar, account_owner varchar, created_at timestamp"""


def publish(settings, as_of: date, alerts: list[dict]) -> None:
    """Swap in a serving copy whose current scoring date is ``as_of`` (as publish does)."""
    target = settings.serving_file
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(".staging.duckdb")
    staging.unlink(missing_ok=True)
    with duckdb.connect(str(staging)) as con:
        con.execute("create table customer_health (customer_id varchar, as_of date, "
                    "health_score integer)")
        con.execute("insert into customer_health values ('C-999999', ?, 91)", [as_of])
        con.execute(f"create table health_alerts ({ALERT_COLUMNS})")
        for row in alerts:
            con.execute(f"insert into health_alerts values ({', '.join('?' * len(row))})",
                        list(row.values()))
    os.replace(staging, target)


def ledger(settings, channel: str) -> dict[str, tuple]:
    with sqlite3.connect(settings.app_db) as db:
        return {r[0]: r[1:] for r in db.execute(
            "select alert_id, status, attempts, last_error from alert_deliveries "
            "where channel = ?", (channel,))}


def section_texts(payload: dict) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]


HISTORY = [alert(n, MAY) for n in range(100, 103)]          # raised before delivery was set up
CURRENT = [alert(n, JUNE) for n in range(1, 6)]             # the current scoring date's alerts
LATER = [alert(n, JULY) for n in range(200, 202)]           # raised by the next run


# --- tests ---------------------------------------------------------------------------------------

def test_each_new_alert_goes_out_once_by_webhook_and_email(tmp_path, receiver, smtp, caplog):
    caplog.set_level(logging.DEBUG)
    # the CLI (run by other tests in this process) sets the package logger to WARNING
    caplog.set_level(logging.DEBUG, logger="customer_health")
    settings = make_settings(tmp_path, webhook=True, smtp_port=smtp.port)
    publish(settings, JUNE, HISTORY + CURRENT)

    summary = deliver_new_alerts(settings)

    # the webhook: one POST of Slack-compatible JSON, one section per alert, most severe first
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == SECRET_PATH
    assert request["headers"]["Content-Type"].startswith("application/json")
    payload = request["json"]
    assert payload["text"] == "customer-health: 5 new alerts (2 critical) as of 2026-06-30"
    assert payload["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "customer-health: 5 new alerts (2 critical)"}}
    sections = section_texts(payload)
    assert len(sections) == 5
    for row in CURRENT:
        (text,) = [s for s in sections if f"`{row['customer_id']}`" in s]
        assert row["message"] in text
        assert f"score {row['health_score']} (was {row['previous_score']})" in text
        assert f"Segment: {row['segment']}" in text and f"Owner: {row['account_owner']}" in text
        assert row["health_band"].replace("_", "-") in text
    assert sections[0].startswith("*Entered critical* · `C-000005` · critical · score 12 (was 30)")
    assert "*Score drop*" in sections[-1]  # the watch-band drop comes last
    # the first delivery leaves the history out
    assert not any(row["customer_id"] in json.dumps(payload) for row in HISTORY)

    # the email: one message to all recipients, text and HTML, after logging in
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["rcpt_tos"] == RECIPIENTS and mail["authenticated"]
    assert smtp.logins == [("alerts-bot", PASSWORD)]
    message = mail["message"]
    assert message["Subject"] == "customer-health: 5 new alerts (2 critical) as of 2026-06-30"
    assert message["From"] == "customer-health@example.com"
    assert message["To"] == ", ".join(RECIPIENTS)
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for row in CURRENT:
        for body in (plain, html):
            assert row["customer_id"] in body and row["account_owner"] in body
        assert row["message"] in plain
    assert not any(row["customer_id"] in plain + html for row in HISTORY)

    assert isinstance(summary, DeliverySummary) and summary.as_of == JUNE and summary.ok
    for channel in ("webhook", "email"):
        result = summary.channel(channel)
        assert (result.sent, result.failed, result.backlog, result.first_delivery) == (
            5, 0, 3, True)
        assert {status for status, attempts, _ in ledger(settings, channel).values()} == {"sent"}
        assert set(ledger(settings, channel)) == {row["alert_id"] for row in CURRENT}
    assert summary.channel("webhook").target == "127.0.0.1"
    assert summary.channel("email").target == f"127.0.0.1:{smtp.port}"

    # a second call: nothing new, nothing sent
    again = deliver_new_alerts(settings)
    assert len(receiver.requests) == 1 and len(smtp.messages) == 1
    assert [(c.sent, c.already_sent, c.first_delivery) for c in again.channels] == [
        (0, 5, False), (0, 5, False)]

    # the next run's serving copy: only its new alerts go out, the earlier ones not again
    publish(settings, JULY, HISTORY + CURRENT + LATER)
    later = deliver_new_alerts(settings)
    assert len(receiver.requests) == 2 and len(smtp.messages) == 2
    assert [(c.sent, c.already_sent) for c in later.channels] == [(2, 5), (2, 5)]
    new_sections = section_texts(receiver.requests[1]["json"])
    assert sorted(s.split("`")[1] for s in new_sections) == [r["customer_id"] for r in LATER]
    assert smtp.messages[1]["message"]["Subject"] == (
        "customer-health: 2 new alerts (1 critical) as of 2026-07-15")
    assert deliver_new_alerts(settings).sent == 0
    # alerts more than MAX_AGE_DAYS (30) before the current scoring date are no longer looked at
    publish(settings, date(2026, 8, 10), HISTORY + CURRENT + LATER)
    assert [(c.sent, c.already_sent) for c in deliver_new_alerts(settings).channels] == [
        (0, 2), (0, 2)]

    # no secret in the log or the summary; one info line per channel and call
    records = [r for r in caplog.records if r.name == "customer_health.alert_delivery"]
    # every record of this process but the test SMTP server's own (mail.log)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for secret in (receiver.url, SECRET_PATH, "s3cr3tWebhookTok3n", PASSWORD):
        assert secret not in logged
        assert secret not in repr(summary) + repr(again) + repr(later)
    assert len(records) == 10 and all(r.levelno == logging.INFO for r in records)
    assert "webhook to 127.0.0.1: 5 sent" in records[0].getMessage()
    assert "first delivery: 3 alert(s) of scoring dates before 2026-06-30 not sent" in (
        records[0].getMessage())


@pytest.mark.parametrize("status", [500, 429])
def test_webhook_5xx_is_retried_at_the_next_call_and_sent_once(tmp_path, receiver, status):
    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, CURRENT)
    receiver.answers.append((status, "try later"))

    failed = deliver_new_alerts(settings).channel("webhook")
    assert (failed.sent, failed.failed, failed.will_retry) == (0, 5, True)
    assert failed.error == f"HTTP {status} {http.HTTPStatus(status).phrase}: try later"
    assert {v[:2] for v in ledger(settings, "webhook").values()} == {("failed", 1)}

    retried = deliver_new_alerts(settings).channel("webhook")
    assert (retried.sent, retried.failed, retried.error) == (5, 0, None)
    assert {v[:2] for v in ledger(settings, "webhook").values()} == {("sent", 2)}
    # the retry holds every alert of the failed batch, and they are sent once
    assert len(receiver.requests) == 2
    first, second = (section_texts(r["json"]) for r in receiver.requests)
    assert first == second
    assert deliver_new_alerts(settings).channel("webhook").sent == 0
    assert len(receiver.requests) == 2


def test_webhook_400_is_permanent_and_not_retried(tmp_path, receiver):
    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, CURRENT)
    receiver.answers.append((400, "invalid_payload"))

    rejected = deliver_new_alerts(settings).channel("webhook")
    assert (rejected.failed, rejected.will_retry) == (5, False)
    assert rejected.error == "HTTP 400 Bad Request: invalid_payload"
    assert {v for v in ledger(settings, "webhook").values()} == {
        ("rejected", 1, "HTTP 400 Bad Request: invalid_payload")}

    assert deliver_new_alerts(settings).channel("webhook").sent == 0
    assert len(receiver.requests) == 1  # not tried again
    # the channel itself goes on: the next run's alerts are sent
    publish(settings, JULY, CURRENT + LATER)
    assert deliver_new_alerts(settings).channel("webhook").sent == 2
    assert len(section_texts(receiver.requests[1]["json"])) == 2


def test_a_webhook_that_does_not_answer_in_time_is_retried(tmp_path, receiver):
    settings = make_settings(tmp_path, webhook=True, timeout=0.3)
    publish(settings, JUNE, CURRENT[:1])
    receiver.answers.append(("hang", "0.8"))
    result = deliver_new_alerts(settings).channel("webhook")
    assert (result.failed, result.will_retry) == (1, True)
    assert result.error == "no answer from 127.0.0.1 within 0.3 s"
    assert deliver_new_alerts(settings).channel("webhook").sent == 1


def test_unreachable_webhook_is_retried_a_bounded_number_of_times(tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{_free_port()}{SECRET_PATH}")  # refused
    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, CURRENT[:2])
    for attempt in range(1, alert_delivery.MAX_ATTEMPTS + 1):
        result = deliver_new_alerts(settings).channel("webhook")
        assert result.failed == 2 and result.error.startswith("cannot reach 127.0.0.1: ")
        assert result.will_retry == (attempt < alert_delivery.MAX_ATTEMPTS)
        assert SECRET_PATH not in result.error
    assert {v[:2] for v in ledger(settings, "webhook").values()} == {
        ("gave_up", alert_delivery.MAX_ATTEMPTS)}
    assert deliver_new_alerts(settings).channel("webhook").failed == 0  # given up: not tried


def test_smtp_error_is_retried_and_the_email_sent_once(tmp_path, smtp):
    settings = make_settings(tmp_path, smtp_port=smtp.port)
    publish(settings, JUNE, CURRENT)
    smtp.fail_next.append("451 4.3.0 Mail server temporarily rejected message")

    failed = deliver_new_alerts(settings).channel("email")
    assert (failed.failed, failed.will_retry) == (5, True)
    assert failed.error == "SMTP 451 4.3.0 Mail server temporarily rejected message"
    assert smtp.messages == []

    assert deliver_new_alerts(settings).channel("email").sent == 5
    assert deliver_new_alerts(settings).channel("email").sent == 0
    assert len(smtp.messages) == 1


def test_a_crash_between_send_and_record_resends_the_batch_never_skips_it(
        tmp_path, receiver, monkeypatch):
    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, CURRENT)

    def crash(*args):
        raise KeyboardInterrupt("killed after the send")

    with monkeypatch.context() as m:
        m.setattr(alert_delivery, "_record", crash)
        with pytest.raises(KeyboardInterrupt):
            deliver_new_alerts(settings)
    assert len(receiver.requests) == 1
    assert {v[0] for v in ledger(settings, "webhook").values()} == {"sending"}

    # within the lease another delivery may still be sending: not sent twice at once
    assert deliver_new_alerts(settings).channel("webhook").sent == 0
    # once the lease has run out the batch is sent again
    with sqlite3.connect(settings.app_db) as db:
        db.execute("update alert_deliveries set last_tried_at = '2000-01-01T00:00:00Z'")
    assert deliver_new_alerts(settings).channel("webhook").sent == 5
    assert len(receiver.requests) == 2
    assert {v[:2] for v in ledger(settings, "webhook").values()} == {("sent", 2)}


def test_a_large_batch_is_one_message_with_and_n_more(tmp_path, receiver, smtp):
    settings = make_settings(tmp_path, webhook=True, smtp_port=smtp.port)
    many = [alert(n, JUNE) for n in range(1, 31)]
    publish(settings, JUNE, many)
    summary = deliver_new_alerts(settings)
    assert [c.sent for c in summary.channels] == [30, 30]

    (request,) = receiver.requests
    blocks = request["json"]["blocks"]
    assert len(section_texts(request["json"])) == alert_delivery.WEBHOOK_MAX_ALERTS
    assert len(blocks) <= 50
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"][0]["text"].startswith("and 10 more: ")
    (mail,) = smtp.messages
    plain = mail["message"].get_body(("plain",)).get_content()
    assert all(row["customer_id"] in plain for row in many)


def test_a_missing_secret_is_a_config_error_naming_the_variable(tmp_path, monkeypatch, smtp):
    monkeypatch.delenv(URL_ENV, raising=False)
    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, CURRENT)
    with pytest.raises(AlertDeliveryConfigError, match=URL_ENV) as raised:
        deliver_new_alerts(settings)
    assert isinstance(raised.value, ConfigError)

    monkeypatch.setenv(URL_ENV, "not a url")
    with pytest.raises(AlertDeliveryConfigError, match=f"{URL_ENV} does not hold an http"):
        deliver_new_alerts(settings)
    assert "not a url" not in str(raised.value)

    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(AlertDeliveryConfigError, match=PASSWORD_ENV):
        deliver_new_alerts(make_settings(tmp_path, smtp_port=smtp.port))
    assert smtp.messages == []


def test_nothing_configured_does_nothing(tmp_path):
    settings = make_settings(tmp_path)
    assert deliver_new_alerts(settings) is None  # no serving copy needed either
    assert not settings.app_db.exists()


def test_print_delivery(tmp_path, receiver):
    from rich.console import Console

    settings = make_settings(tmp_path, webhook=True)
    publish(settings, JUNE, HISTORY + CURRENT)
    receiver.answers.append((503, "busy"))
    console = Console(record=True, width=200)
    print_delivery(console, deliver_new_alerts(settings))
    print_delivery(console, deliver_new_alerts(settings))
    print_delivery(console, None)
    out = console.export_text()
    assert ("Alerts by webhook to 127.0.0.1: 5 alerts not sent (retried at the next delivery): "
            "HTTP 503 Service Unavailable: busy, first delivery: 3 older alerts not sent "
            "(before 2026-06-30)") in out
    assert "Alerts by webhook to 127.0.0.1: 5 alerts sent" in out
    assert "no channel configured" in out
    assert SECRET_PATH not in out
