"""Alert delivery: new rows of health_alerts go to a Slack-compatible webhook and/or by email.

One job: send the alerts a channel has not delivered yet, once per channel. ``alert_delivery``
in the configuration turns the channels on; their secrets (the webhook URL, the SMTP user and
password) come from the environment variables the configuration names and are never logged,
put in an error message or in the summary (the log and the summary name only the host).

Where the alerts come from: the ``health_alerts`` table of the serving copy (never the warehouse,
so delivery never holds or waits for the warehouse's writer lock). What was delivered: the ledger
``alert_deliveries`` in ``<home>/app.sqlite``, one row per alert and channel::

    alert_id, channel, as_of, status, attempts, first_tried_at, last_tried_at, delivered_at,
    last_error        -- primary key (alert_id, channel)

status: ``sending`` (claimed by a delivery in progress), ``sent``, ``failed`` (retried at the
next call), ``rejected`` (a permanent failure: the webhook answered 4xx or a redirect; never
retried) or ``gave_up`` (failed ``MAX_ATTEMPTS`` times). ``alert_delivery_channels`` holds when
each channel started and from which scoring date it sends.

Each call sends, per channel, one batch: one webhook POST or one email holding every alert due.

Delivery guarantee: at least once. A call claims the alerts due in one short SQLite transaction
(rows set to ``sending`` with the attempt counted), sends the batch, and records the outcome in a
second short transaction. A crash between the two leaves the rows ``sending``; once their lease
(``LEASE_SECONDS``, far longer than a send may take) has run out, the next call sends them
again. So a crash can re-send one batch, and can never lose one: a missed alert about a customer
about to churn costs more than a duplicate message. The lock on the ledger is held only for those
two transactions, never across the network, so the web app writing to the same file never waits
for a slow mail server; two deliveries running at once cannot both claim an alert.

Failures: a webhook answer of 5xx, 408 or 429, a timeout, a refused connection, or any SMTP
error is recorded with its reason and the batch's alerts are retried at the next call, at most
``MAX_ATTEMPTS`` attempts in all. A webhook answer of 4xx (or a redirect) is permanent: recorded
as ``rejected`` with the reason and not retried.

Which alerts go out (no flood when a channel is switched on for a long history):

* the first delivery on a channel sends only the alerts of the current scoring date (the as_of of
  ``customer_health``); alerts of earlier dates are history (``customer-health alerts`` lists
  them) and are never sent on that channel;
* after that, only alerts of the last ``MAX_AGE_DAYS`` days up to the current scoring date are
  considered: a channel switched off and on again months later sends what is still recent, not
  the whole gap. This also keeps a call with nothing new fast however long the history grows.
"""

from __future__ import annotations

import html
import http.client
import json
import logging
import os
import smtplib
import socket
import sqlite3
import ssl
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

import duckdb

from customer_health.config import ConfigError, EmailDelivery, Settings, WebhookDelivery
from customer_health.serving import open_serving_copy

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

# attempts per alert and channel before a failing delivery gives up
MAX_ATTEMPTS = 5
# alerts older than this (by scoring date, against the current one) are never sent
MAX_AGE_DAYS = 30
# a claim older than this (or than 20 network timeouts of the channel, if longer: a send is a
# few round trips, each bounded by the timeout) is taken as a crashed delivery and sent again
LEASE_SECONDS = 15 * 60
# alerts shown one by one in a webhook message (Slack allows 50 blocks); the rest are counted
WEBHOOK_MAX_ALERTS = 20
# alerts listed in an email; the rest are counted
EMAIL_MAX_ALERTS = 500
# SQLite waits this long for the web app or another delivery holding the ledger's write lock
DB_BUSY_SECONDS = 30

CHANNELS = ("webhook", "email")
_BAND_ORDER = {"critical": 0, "at_risk": 1, "watch": 2, "healthy": 3}
_RULE_LABELS = {
    "entered_watch": "Entered watch",
    "entered_at_risk": "Entered at-risk",
    "entered_critical": "Entered critical",
    "score_drop": "Score drop",
    "critical_runs": "Critical streak",
}
_USER_AGENT = "customer-health alert delivery"


class AlertDeliveryConfigError(ConfigError):
    """A delivery channel is configured but the environment variable holding its secret is
    missing, empty or unusable; the message names the variable, never its value."""


# ---------------------------------------------------------------------------------------------
# results

@dataclass(frozen=True)
class ChannelResult:
    """What one call did on one channel."""

    channel: str                # "webhook" or "email"
    target: str                 # where to, without secrets: the webhook's host, SMTP host:port
    sent: int = 0               # alerts delivered by this call
    failed: int = 0             # alerts of this call's batch that were not delivered
    already_sent: int = 0       # recent alerts skipped: this channel delivered them before
    backlog: int = 0            # at the first delivery: older alerts left out (history)
    error: str | None = None    # why the batch failed (or a warning about a delivered one)
    will_retry: bool = False    # the failed alerts are sent again at the next call
    first_delivery: bool = False

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class DeliverySummary:
    """The outcome of one ``deliver_new_alerts`` call, per configured channel."""

    as_of: date | None                      # the current scoring date of the serving copy
    channels: list[ChannelResult] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.channels)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.channels)

    def channel(self, name: str) -> ChannelResult | None:
        return next((c for c in self.channels if c.channel == name), None)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    customer_id: str
    rule: str
    as_of: date
    health_score: int | None
    previous_score: int | None
    health_band: str | None
    message: str | None
    segment: str | None
    account_owner: str | None


_ALERT_COLUMNS = ("alert_id", "customer_id", "rule", "as_of", "health_score", "previous_score",
                  "health_band", "message", "segment", "account_owner")


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    permanent: bool = False
    error: str | None = None        # failure reason, or a warning on success


# ---------------------------------------------------------------------------------------------
# channels: configuration and secrets

@dataclass(frozen=True)
class _Webhook:
    config: WebhookDelivery
    url: str
    host: str

    name = "webhook"

    @property
    def target(self) -> str:
        return self.host

    def scrub(self, text: str) -> str:
        """``text`` without the URL or its path (a webhook's path holds its token)."""
        text = text.replace(self.url, f"<{self.config.url_env}>")
        parts = urllib.parse.urlsplit(self.url)
        for secret in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.path,
                       parts.query, parts.password or ""):
            if len(secret) > 1:
                text = text.replace(secret, "/…")
        return text


@dataclass(frozen=True)
class _Email:
    config: EmailDelivery
    username: str | None
    password: str | None

    name = "email"

    @property
    def target(self) -> str:
        return f"{self.config.smtp_host}:{self.config.smtp_port}"

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "<password>") if self.password else text


def _env(name: str | None) -> str | None:
    if not name:
        return None
    value = os.environ.get(name, "").strip()
    return value or None


def configured_channels(settings: Settings) -> list[_Webhook | _Email]:
    """The configured channels with their secrets; AlertDeliveryConfigError when one is missing."""
    config = settings.options.alert_delivery
    channels: list[_Webhook | _Email] = []
    if config.webhook is not None:
        var = config.webhook.url_env
        url = _env(var)
        if url is None:
            raise AlertDeliveryConfigError(
                f"alert_delivery.webhook is configured but the environment variable {var} (the "
                f"webhook URL) is not set; set it, or set alert_delivery.webhook to null")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertDeliveryConfigError(
                f"the environment variable {var} does not hold an http(s) URL "
                f"(alert_delivery.webhook.url_env)")
        channels.append(_Webhook(config.webhook, url, parts.hostname))
    if config.email is not None:
        email = config.email
        username, password = _env(email.username_env), _env(email.password_env)
        if username and not password:
            raise AlertDeliveryConfigError(
                f"alert_delivery.email: {email.username_env} (the SMTP user) is set but "
                f"{email.password_env or 'password_env'} (the SMTP password) is not")
        if password and not username:
            raise AlertDeliveryConfigError(
                f"alert_delivery.email: {email.password_env} (the SMTP password) is set but "
                f"{email.username_env or 'username_env'} (the SMTP user) is not")
        channels.append(_Email(email, username, password))
    return channels


# ---------------------------------------------------------------------------------------------
# the ledger in app.sqlite

_SCHEMA = """
create table if not exists alert_delivery_channels (
    channel text primary key,
    started_at text not null,          -- UTC, the first delivery on this channel
    start_as_of text not null          -- alerts of earlier scoring dates are never sent on it
);
create table if not exists alert_deliveries (
    alert_id text not null,
    channel text not null,
    as_of text not null,               -- the alert's scoring date
    status text not null
        check (status in ('sending', 'sent', 'failed', 'rejected', 'gave_up')),
    attempts integer not null,
    first_tried_at text not null,      -- UTC
    last_tried_at text not null,       -- UTC
    delivered_at text,                 -- UTC, when status became sent
    last_error text,
    primary key (alert_id, channel)
);
create index if not exists alert_deliveries_channel_as_of on alert_deliveries (channel, as_of);
"""


def _connect_ledger(settings: Settings) -> sqlite3.Connection:
    settings.app_db.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(settings.app_db, timeout=DB_BUSY_SECONDS, isolation_level=None)
    try:
        db.execute(f"pragma busy_timeout = {DB_BUSY_SECONDS * 1000}")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            db.execute(statement)  # each "if not exists": safe beside another process doing it
    except BaseException:
        db.close()
        raise
    return db


def _transaction(db: sqlite3.Connection, work):
    """Run ``work`` in one write transaction (BEGIN IMMEDIATE: two deliveries cannot interleave
    their decisions)."""
    db.execute("begin immediate")
    try:
        result = work()
    except BaseException:
        db.execute("rollback")
        raise
    db.execute("commit")
    return result


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# delivery

def deliver_new_alerts(settings: Settings) -> DeliverySummary | None:
    """Send the health alerts each configured channel has not delivered yet; None when no
    channel is configured.

    Reads ``health_alerts`` from the serving copy (FileNotFoundError before the first publish),
    decides per channel from the ledger in ``app.sqlite`` what is due, sends one batch per
    channel and records the outcome. Delivery failures do not raise: they are in the summary,
    logged, and retried at the next call. Raises AlertDeliveryConfigError (a ConfigError) when a
    channel's secret is missing. Idempotent: a call with nothing new sends nothing.
    """
    channels = configured_channels(settings)
    if not channels:
        return None
    with closing(open_serving_copy(settings)) as serving:
        as_of = _current_scoring_date(serving)
        with closing(_connect_ledger(settings)) as db:
            starts = {name: date.fromisoformat(start) for name, start in db.execute(
                "select channel, start_as_of from alert_delivery_channels")}
            if as_of is None:  # nothing scored yet, so no alert either
                results = [ChannelResult(c.name, c.target) for c in channels]
                for result in results:
                    log.info("alert delivery by %s to %s: nothing scored yet", result.channel,
                             result.target)
                return DeliverySummary(None, results)
            oldest = as_of - timedelta(days=MAX_AGE_DAYS)
            cutoffs = {c.name: max(starts.get(c.name, as_of), oldest) for c in channels}
            alerts = _read_alerts(serving, min(cutoffs.values()))
            backlog = {c.name: _count_before(serving, as_of) for c in channels
                       if c.name not in starts}
            serving.close()  # nothing more to read: do not hold the copy during the sends
            results = [_deliver_channel(db, channel, as_of, cutoffs[channel.name],
                                        [a for a in alerts if a.as_of >= cutoffs[channel.name]],
                                        backlog.get(channel.name))
                       for channel in channels]
    return DeliverySummary(as_of, results)


def _current_scoring_date(serving: duckdb.DuckDBPyConnection) -> date | None:
    for query in ("select max(as_of) from customer_health", "select max(as_of) from health_alerts"):
        try:
            value = serving.execute(query).fetchone()[0]
        except duckdb.CatalogException:
            continue
        if value is not None:
            return value.date() if isinstance(value, datetime) else value
    return None


def _read_alerts(serving: duckdb.DuckDBPyConnection, since: date) -> list[Alert]:
    rows = serving.execute(
        f"select {', '.join(_ALERT_COLUMNS)} from health_alerts where as_of >= ?",
        [since]).fetchall()
    alerts = []
    for row in rows:
        alert = Alert(*row)
        if isinstance(alert.as_of, datetime):
            alert = Alert(*row[:3], alert.as_of.date(), *row[4:])
        alerts.append(alert)
    return sorted(alerts, key=_severity)


def _count_before(serving: duckdb.DuckDBPyConnection, as_of: date) -> int:
    return serving.execute("select count(*) from health_alerts where as_of < ?",
                           [as_of]).fetchone()[0]


def _severity(alert: Alert):
    """Most severe first: by band, then lowest score, newest, customer."""
    return (_BAND_ORDER.get(alert.health_band or "", 9),
            alert.health_score if alert.health_score is not None else 101,
            -alert.as_of.toordinal(), alert.customer_id, alert.rule)


def _deliver_channel(db: sqlite3.Connection, channel: _Webhook | _Email, as_of: date,
                     cutoff: date, alerts: list[Alert], backlog: int | None) -> ChannelResult:
    now = _now()
    claimed, already_sent = _transaction(
        db, lambda: _claim(db, channel.name, as_of, cutoff, alerts, backlog is not None, now,
                           max(LEASE_SECONDS, 20 * channel.config.timeout_seconds)))
    first = backlog is not None
    intro = f"alert delivery by {channel.name} to {channel.target}"
    first_note = (f"; first delivery: {backlog} alert(s) of scoring dates before {as_of} not sent"
                  if first else "")
    if not claimed:
        log.info("%s: nothing new (%d already sent)%s", intro, already_sent, first_note)
        return ChannelResult(channel.name, channel.target, already_sent=already_sent,
                             backlog=backlog or 0, first_delivery=first)

    batch = sorted(claimed, key=_severity)  # claimed: alert -> its attempt number now
    try:
        outcome = _send_webhook(channel, batch) if isinstance(channel, _Webhook) \
            else _send_email(channel, batch)
    except Exception as exc:  # a bug or an unexpected library error: recorded, retried
        outcome = _Outcome(False, error=f"{type(exc).__name__}: {exc}")
    if outcome.error:
        outcome = _Outcome(outcome.ok, outcome.permanent, channel.scrub(outcome.error))
    _transaction(db, lambda: _record(db, channel.name, batch, outcome, _now()))
    will_retry = (not outcome.ok and not outcome.permanent
                  and any(attempts < MAX_ATTEMPTS for attempts in claimed.values()))

    if outcome.ok:
        log.info("%s: %d sent%s%s", intro, len(batch),
                 f" ({outcome.error})" if outcome.error else "", first_note)
        return ChannelResult(channel.name, channel.target, sent=len(batch),
                             already_sent=already_sent, backlog=backlog or 0,
                             error=outcome.error, first_delivery=first)
    what = ("retried at the next delivery" if will_retry else
            "not retried (permanent failure)" if outcome.permanent else
            f"not retried (failed {MAX_ATTEMPTS} times)")
    log.warning("%s: %d not sent, %s: %s%s", intro, len(batch), what, outcome.error, first_note)
    return ChannelResult(channel.name, channel.target, failed=len(batch),
                         already_sent=already_sent, backlog=backlog or 0, error=outcome.error,
                         will_retry=will_retry, first_delivery=first)


def _claim(db: sqlite3.Connection, channel: str, as_of: date, cutoff: date, alerts: list[Alert],
           first: bool, now: datetime, lease_seconds: float) -> tuple[dict[Alert, int], int]:
    """Inside the write transaction: which alerts are due on ``channel`` (with the number of
    the attempt about to be made) and how many were sent before; mark the due ones sending."""
    if first:
        db.execute("insert or ignore into alert_delivery_channels values (?, ?, ?)",
                   (channel, _iso(now), as_of.isoformat()))
    ledger = {alert_id: (status, attempts, last_tried_at) for alert_id, status, attempts,
              last_tried_at in db.execute(
                  "select alert_id, status, attempts, last_tried_at from alert_deliveries "
                  "where channel = ? and as_of >= ?", (channel, cutoff.isoformat()))}
    expired = _iso(now - timedelta(seconds=lease_seconds))
    due: dict[Alert, int] = {}
    already_sent, interrupted = 0, []
    for alert in alerts:
        status, attempts, last_tried = ledger.get(alert.alert_id, (None, 0, None))
        if status is None or status == "failed" or (status == "sending" and last_tried < expired):
            if attempts >= MAX_ATTEMPTS:
                interrupted.append(alert.alert_id)
            else:
                due[alert] = attempts + 1
        elif status == "sent":
            already_sent += 1
    if interrupted:  # sends that crashed on their last attempt
        db.executemany(
            "update alert_deliveries set status = 'gave_up', last_error = coalesce(last_error, "
            "'interrupted while sending') where channel = ? and alert_id = ?",
            [(channel, alert_id) for alert_id in interrupted])
    stamp = _iso(now)
    db.executemany(
        "insert into alert_deliveries (alert_id, channel, as_of, status, attempts, "
        "first_tried_at, last_tried_at) values (?, ?, ?, 'sending', 1, ?, ?) "
        "on conflict (alert_id, channel) do update set status = 'sending', "
        "attempts = attempts + 1, last_tried_at = excluded.last_tried_at",
        [(a.alert_id, channel, a.as_of.isoformat(), stamp, stamp) for a in due])
    return due, already_sent


def _record(db: sqlite3.Connection, channel: str, batch: list[Alert], outcome: _Outcome,
            now: datetime) -> None:
    """Inside the write transaction: the outcome of the batch."""
    keys = [(channel, a.alert_id) for a in batch]
    if outcome.ok:
        db.executemany(
            "update alert_deliveries set status = 'sent', delivered_at = ?, last_error = ? "
            "where channel = ? and alert_id = ?",
            [(_iso(now), outcome.error, *key) for key in keys])
        return
    db.executemany(
        "update alert_deliveries set status = case when ? then 'rejected' "
        "when attempts >= ? then 'gave_up' else 'failed' end, last_error = ? "
        "where channel = ? and alert_id = ?",
        [(outcome.permanent, MAX_ATTEMPTS, outcome.error, *key) for key in keys])


# ---------------------------------------------------------------------------------------------
# message content (shared by both channels)

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _headline(batch: list[Alert]) -> str:
    critical = sum(a.health_band == "critical" for a in batch)
    return _plural(len(batch), "new alert") + (f" ({critical} critical)" if critical else "")


def _batch_as_of(batch: list[Alert]) -> date:
    return max(a.as_of for a in batch)


def _subject(batch: list[Alert]) -> str:
    return f"customer-health: {_headline(batch)} as of {_batch_as_of(batch)}"


def _rule(alert: Alert) -> str:
    return _RULE_LABELS.get(alert.rule, alert.rule.replace("_", " ").capitalize())


def _band(alert: Alert) -> str:
    return (alert.health_band or "no band").replace("_", "-")


def _score(alert: Alert) -> str:
    score = "score ?" if alert.health_score is None else f"score {alert.health_score}"
    previous = ("first scored" if alert.previous_score is None
                else f"was {alert.previous_score}")
    return f"{score} ({previous})"


def _clip(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _more_hint(batch: list[Alert]) -> str:
    since = min(a.as_of for a in batch)
    return f"`customer-health alerts --since {since}` lists them all"


# ---------------------------------------------------------------------------------------------
# webhook

def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(batch: list[Alert]) -> dict:
    """The Slack-compatible incoming-webhook message of one batch: a header, one section per
    alert (the most severe first, up to WEBHOOK_MAX_ALERTS) and the count of the rest."""
    batch = sorted(batch, key=_severity)
    title = _clip(f"customer-health: {_headline(batch)}", 150)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"as of {_batch_as_of(batch)}, most severe first"}]},
    ]
    for alert in batch[:WEBHOOK_MAX_ALERTS]:
        customer = _clip(alert.customer_id, 80).replace("`", "'")
        lines = [f"*{_slack_escape(_rule(alert))}* · `{_slack_escape(customer)}` · "
                 f"{_slack_escape(_band(alert))} · {_score(alert)}"]
        if alert.message:
            lines.append(_slack_escape(_clip(alert.message, 500)))
        lines.append(f"Segment: {_slack_escape(_clip(alert.segment or '-', 80))} · "
                     f"Owner: {_slack_escape(_clip(alert.account_owner or '-', 80))}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    rest = len(batch) - WEBHOOK_MAX_ALERTS
    if rest > 0:
        blocks.append({"type": "context", "elements": [{
            "type": "mrkdwn", "text": f"and {rest} more: {_more_hint(batch)}"}]})
    return {"text": _subject(batch), "blocks": blocks}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured: urllib would turn the POST into a GET (and
    report success); the 3xx is surfaced as an error instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None



def _send_webhook(channel: _Webhook, batch: list[Alert]) -> _Outcome:
    body = json.dumps(webhook_payload(batch), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        channel.url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": _USER_AGENT})
    timeout = channel.config.timeout_seconds
    try:
        # built per call: proxies come from the environment as it is now
        opener = urllib.request.build_opener(_NoRedirect)
        with opener.open(request, timeout=timeout) as response:
            response.read(4096)
        return _Outcome(True)
    except urllib.error.HTTPError as exc:
        try:
            detail = _clip(exc.read(300).decode("utf-8", "replace"), 200)
        except Exception:
            detail = ""
        finally:
            exc.close()
        text = f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
        if 300 <= exc.code < 400:
            return _Outcome(False, permanent=True,
                            error=f"{text} (a redirect: set {channel.config.url_env} to the "
                                  "webhook's final URL)")
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
        return _Outcome(False, permanent=permanent, error=text)
    except (TimeoutError, socket.timeout):
        return _Outcome(False, error=f"no answer from {channel.host} within {timeout:g} s")
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return _Outcome(False, error=f"no answer from {channel.host} within {timeout:g} s")
        return _Outcome(False, error=f"cannot reach {channel.host}: {reason}")
    except (OSError, http.client.HTTPException) as exc:
        return _Outcome(False, error=f"cannot reach {channel.host}: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# email

def _email_text(batch: list[Alert]) -> str:
    lines = [f"{_headline(batch).capitalize()} from customer-health, as of {_batch_as_of(batch)}, "
             "most severe first.", ""]
    for alert in batch[:EMAIL_MAX_ALERTS]:
        lines.append(f"* {_rule(alert)}: {alert.customer_id}, {_band(alert)}, {_score(alert)}")
        if alert.message:
            lines.append(f"  {_clip(alert.message, 500)}")
        lines.append(f"  Segment: {alert.segment or '-'}, owner: {alert.account_owner or '-'}")
        lines.append("")
    rest = len(batch) - EMAIL_MAX_ALERTS
    if rest > 0:
        lines += [f"and {rest} more: {_more_hint(batch)}.", ""]
    lines.append("Each alert is sent once. Sent by customer-health (alert_delivery.email).")
    return "\n".join(lines) + "\n"


def _email_html(batch: list[Alert]) -> str:
    e = html.escape
    rows = []
    for alert in batch[:EMAIL_MAX_ALERTS]:
        rows.append(
            "<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in (
                _rule(alert), alert.customer_id, _band(alert),
                "" if alert.health_score is None else alert.health_score,
                "" if alert.previous_score is None else alert.previous_score,
                _clip(alert.message, 500), alert.segment or "", alert.account_owner or ""))
            + "</tr>")
    rest = len(batch) - EMAIL_MAX_ALERTS
    more = f"<p>and {rest} more: {e(_more_hint(batch))}.</p>" if rest > 0 else ""
    head = "".join(f"<th align=\"left\">{h}</th>" for h in (
        "Alert", "Customer", "Band", "Score", "Previous", "What happened", "Segment", "Owner"))
    return (
        "<!doctype html><html><body style=\"font-family: sans-serif\">"
        f"<h2>customer-health: {e(_headline(batch))}</h2>"
        f"<p>As of {e(str(_batch_as_of(batch)))}, most severe first.</p>"
        f"<table cellpadding=\"4\" cellspacing=\"0\" border=\"1\"><tr>{head}</tr>"
        f"{''.join(rows)}</table>{more}"
        "<p style=\"color: #666\">Each alert is sent once. Sent by customer-health "
        "(alert_delivery.email).</p></body></html>")


def email_message(config: EmailDelivery, batch: list[Alert]) -> EmailMessage:
    """The email of one batch: plain text with an HTML alternative, to every recipient."""
    batch = sorted(batch, key=_severity)
    message = EmailMessage()
    message["Subject"] = _subject(batch)
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(_email_text(batch))
    message.add_alternative(_email_html(batch), subtype="html")
    return message


def _send_email(channel: _Email, batch: list[Alert]) -> _Outcome:
    config = channel.config
    timeout = config.timeout_seconds
    message = email_message(config, batch)
    try:
        if config.smtp_port == 465:  # the submissions port speaks TLS from the first byte
            smtp = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if config.starttls and config.smtp_port != 465:
                if not smtp.has_extn("starttls"):
                    return _Outcome(False, error=f"{channel.target} does not offer STARTTLS "
                                                 "(alert_delivery.email.starttls is true)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if channel.username and channel.password:
                smtp.login(channel.username, channel.password)
            refused = smtp.send_message(message, from_addr=config.sender,
                                        to_addrs=list(config.recipients))
    except smtplib.SMTPRecipientsRefused as exc:
        return _Outcome(False, error=f"the server refused all {len(exc.recipients)} recipients")
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return _Outcome(False, error=f"SMTP {exc.smtp_code} {_clip(reply, 200)}")
    except (TimeoutError, socket.timeout):
        return _Outcome(False, error=f"no answer from {channel.target} within {timeout:g} s")
    except smtplib.SMTPException as exc:
        return _Outcome(False, error=f"SMTP error: {type(exc).__name__}: {_clip(str(exc), 200)}")
    except OSError as exc:
        return _Outcome(False, error=f"cannot reach {channel.target}: {exc}")
    if refused:
        return _Outcome(True, error=f"{len(refused)} of {len(config.recipients)} recipients "
                                    "refused by the server")
    return _Outcome(True)


# ---------------------------------------------------------------------------------------------
# CLI output

def print_delivery(console: "Console", summary: DeliverySummary | None) -> None:
    """One line per channel: what was sent, what failed and why, what is retried."""
    from rich.markup import escape

    if summary is None:
        console.print("Alert delivery: no channel configured "
                      "(alert_delivery in the configuration).")
        return
    for result in summary.channels:
        where = f"{result.channel} to {escape(result.target)}"
        parts = []
        if result.sent:
            parts.append(f"[green]{_plural(result.sent, 'alert')} sent[/green]")
        if result.failed:
            retry = ("retried at the next delivery" if result.will_retry else "not retried")
            parts.append(f"[red]{_plural(result.failed, 'alert')} not sent ({retry}): "
                         f"{escape(result.error or '')}[/red]")
        elif result.error:
            parts.append(f"[yellow]{escape(result.error)}[/yellow]")
        if not result.sent and not result.failed:
            parts.append("nothing new")
        if result.already_sent:
            parts.append(f"{result.already_sent} already sent")
        if result.first_delivery and result.backlog:
            parts.append(f"first delivery: {_plural(result.backlog, 'older alert')} not sent "
                         f"(before {summary.as_of})")
        console.print(f"Alerts by {where}: " + ", ".join(parts))
