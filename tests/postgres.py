"""The machine's PostgreSQL for the tests that need a real server: where it is, and a throwaway
database per test module (dropped afterwards). Without a server the tests say so and skip.

CUSTOMER_HEALTH_PG_HOST / PORT / USER / PASSWORD override the default 127.0.0.1:5432 as postgres.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

psycopg2 = pytest.importorskip("psycopg2")

PG = {"host": os.environ.get("CUSTOMER_HEALTH_PG_HOST", "127.0.0.1"),
      "port": int(os.environ.get("CUSTOMER_HEALTH_PG_PORT", "5432")),
      "user": os.environ.get("CUSTOMER_HEALTH_PG_USER", "postgres"),
      "password": os.environ.get("CUSTOMER_HEALTH_PG_PASSWORD", "")}


def admin_connection():
    """An autocommit connection to the server's postgres database, or a skip that says why."""
    try:
        con = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {PG['host']}:{PG['port']} ({str(exc).strip()})")
    con.autocommit = True
    return con


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>``; dropped (connections closed) at the end."""
    admin = admin_connection()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def dsn(database: str) -> str:
    """A libpq connection string for ``database`` on the test server."""
    from psycopg2.extensions import make_dsn

    return make_dsn(dbname=database, **{k: str(v) for k, v in PG.items() if v})
