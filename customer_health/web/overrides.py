"""Band overrides by customer-success managers, with an append-only audit trail (SQLite).

A CSM who knows more than the model (a renewal just signed, a known outage) records the band they
judge right, with a reason, their name and an expiry date. The override is shown beside the
model's score and never changes it: the serving copy and the warehouse are only ever read. An
override applies through its expiry day (UTC); after that it is shown as expired. A newer override
of the same customer supersedes the older one for good; removing one ends it early (no older
override comes back). Every creation and
removal is appended to ``override_audit``, which triggers keep from being changed or deleted.

The tables live in ``<home>/app.sqlite`` beside other tables of people's writes (alert
deliveries), each created with ``create table if not exists``.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from customer_health.web.params import BANDS

MAX_DAYS = 366          # an override is reviewed at least yearly
MAX_REASON = 1000
MAX_AUTHOR = 100

SCHEMA = """
create table if not exists overrides (
    override_id    integer primary key autoincrement,
    customer_id    text not null,
    band           text not null check (band in ('critical', 'at_risk', 'watch', 'healthy')),
    reason         text not null,
    author         text not null,
    created_at     text not null,               -- UTC, ISO 8601
    expires_at     text not null,               -- last day it applies (UTC), YYYY-MM-DD
    model_score    integer,                     -- the model's score and band when recorded
    model_band     text,
    model_run_id   text,
    removed_at     text,
    removed_by     text,
    removed_reason text
);
create index if not exists overrides_customer on overrides (customer_id, created_at);
create table if not exists override_audit (
    audit_id    integer primary key autoincrement,
    override_id integer not null,
    customer_id text not null,
    action      text not null check (action in ('created', 'removed')),
    band        text not null,
    reason      text not null,
    author      text not null,
    expires_at  text not null,
    model_score integer,
    model_band  text,
    at          text not null
);
create trigger if not exists override_audit_no_update before update on override_audit
begin select raise(abort, 'override_audit is append-only'); end;
create trigger if not exists override_audit_no_delete before delete on override_audit
begin select raise(abort, 'override_audit is append-only'); end;
"""


class OverrideError(ValueError):
    """An override that cannot be recorded as asked; the message says what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Override:
    override_id: int
    customer_id: str
    band: str
    reason: str
    author: str
    created_at: str
    expires_at: str
    model_score: int | None
    model_band: str | None
    model_run_id: str | None
    removed_at: str | None
    removed_by: str | None
    removed_reason: str | None
    status: str  # active, expired, superseded or removed

    @property
    def applies(self) -> bool:
        return self.status == "active"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class OverrideStore:
    """Overrides and their audit trail in one SQLite file; ``clock`` gives the current UTC time."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self.clock = clock
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as con:
            con.row_factory = sqlite3.Row
            if not self._ready:
                con.executescript(SCHEMA)
                self._ready = True
            with con:  # one transaction, committed on success
                yield con

    def _rows(self, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        """A read that never writes: nothing yet (no file, or no overrides table) reads as empty."""
        if not self.path.is_file():
            return []
        with closing(sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True, timeout=10)) as con:
            con.row_factory = sqlite3.Row
            try:
                return con.execute(sql, list(args)).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise

    def today(self) -> date:
        return self.clock().astimezone(timezone.utc).date()

    def _status(self, row: sqlite3.Row, latest_id: int | None) -> str:
        if row["removed_at"]:
            return "removed"
        if row["override_id"] != latest_id:
            return "superseded"
        if date.fromisoformat(row["expires_at"]) < self.today():
            return "expired"
        return "active"

    def _overrides(self, rows: Sequence[sqlite3.Row]) -> list[Override]:
        latest: dict[str, int] = {}
        for row in rows:  # only a customer's newest override can be in force
            latest[row["customer_id"]] = max(row["override_id"], latest.get(row["customer_id"], 0))
        return [Override(**dict(row), status=self._status(row, latest.get(row["customer_id"])))
                for row in rows]

    # ------------------------------------------------------------ writes

    def create(self, customer_id: str, band: str, reason: str, author: str, expires_at: date | str,
               model: dict[str, Any] | None = None) -> Override:
        """Record an override (checked first) and its audit row in one transaction.

        ``model`` is the customer's current row (health_score, health_band, run_id), kept with the
        override so the trail shows what the CSM disagreed with.
        """
        band, reason, author = str(band).strip(), str(reason).strip(), str(author).strip()
        if band not in BANDS:
            raise OverrideError("band", f"must be one of {', '.join(BANDS)}")
        if not reason:
            raise OverrideError("reason", "say why the band should differ from the model's")
        if len(reason) > MAX_REASON:
            raise OverrideError("reason", f"at most {MAX_REASON} characters")
        if not author:
            raise OverrideError("author", "give your name, so colleagues know whom to ask")
        if len(author) > MAX_AUTHOR:
            raise OverrideError("author", f"at most {MAX_AUTHOR} characters")
        expiry = self._expiry(expires_at)
        model = model or {}
        now = self.clock().astimezone(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as con:
            cur = con.execute(
                "insert into overrides (customer_id, band, reason, author, created_at, expires_at, "
                "model_score, model_band, model_run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [customer_id, band, reason, author, now, expiry.isoformat(),
                 model.get("health_score"), model.get("health_band"), model.get("run_id")])
            override_id = cur.lastrowid
            con.execute(
                "insert into override_audit (override_id, customer_id, action, band, reason, "
                "author, expires_at, model_score, model_band, at) "
                "values (?, ?, 'created', ?, ?, ?, ?, ?, ?, ?)",
                [override_id, customer_id, band, reason, author, expiry.isoformat(),
                 model.get("health_score"), model.get("health_band"), now])
        return next(o for o in self.for_customer(customer_id) if o.override_id == override_id)

    def _expiry(self, value: date | str) -> date:
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise OverrideError("expires_at", "a date as YYYY-MM-DD") from None
        today = self.today()
        if value < today:
            raise OverrideError("expires_at", f"must be today ({today}) or later")
        if value > today + timedelta(days=MAX_DAYS):
            raise OverrideError("expires_at", f"at most {MAX_DAYS} days ahead "
                                              f"({today + timedelta(days=MAX_DAYS)}); renew it then")
        return value

    def remove(self, customer_id: str, override_id: int, author: str, reason: str) -> Override:
        """End an override early (it stays in the trail as removed)."""
        author, reason = str(author).strip(), str(reason).strip()
        if not author:
            raise OverrideError("author", "give your name")
        if len(author) > MAX_AUTHOR or len(reason) > MAX_REASON:
            raise OverrideError("reason", "too long")
        now = self.clock().astimezone(timezone.utc).isoformat(timespec="seconds")
        with self._connect() as con:
            row = con.execute("select * from overrides where override_id = ? and customer_id = ?",
                              [override_id, customer_id]).fetchone()
            if row is None:
                raise OverrideError("override_id", f"no override {override_id} for {customer_id}")
            if row["removed_at"]:
                raise OverrideError("override_id", f"override {override_id} was already removed")
            con.execute("update overrides set removed_at = ?, removed_by = ?, removed_reason = ? "
                        "where override_id = ?", [now, author, reason or None, override_id])
            con.execute(
                "insert into override_audit (override_id, customer_id, action, band, reason, "
                "author, expires_at, model_score, model_band, at) "
                "values (?, ?, 'removed', ?, ?, ?, ?, ?, ?, ?)",
                [override_id, customer_id, row["band"], reason or "(no reason given)", author,
                 row["expires_at"], row["model_score"], row["model_band"], now])
        return next(o for o in self.for_customer(customer_id) if o.override_id == override_id)

    # ------------------------------------------------------------ reads

    def for_customer(self, customer_id: str) -> list[Override]:
        """Every override of the customer, newest first, each with its status today."""
        return self._overrides(self._rows("select * from overrides where customer_id = ? "
                                          "order by override_id desc", [customer_id]))

    def current(self, customer_id: str) -> Override | None:
        """The override in force, or the latest expired one (shown as expired); None otherwise."""
        for o in self.for_customer(customer_id):
            if o.status in ("active", "expired"):
                return o
        return None

    def active_bands(self) -> dict[str, str]:
        """customer_id -> band of every override that applies today (for the list)."""
        rows = self._rows(
            "select o.customer_id, o.band from overrides as o "
            "where o.removed_at is null and o.expires_at >= ? and o.override_id = ("
            "  select max(n.override_id) from overrides as n where n.customer_id = o.customer_id)",
            [self.today().isoformat()])
        return {r["customer_id"]: r["band"] for r in rows}

    def audit(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's audit trail, newest first."""
        return [dict(r) for r in self._rows("select * from override_audit where customer_id = ? "
                                            "order by audit_id desc", [customer_id])]
