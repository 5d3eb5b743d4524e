"""Errors a user can act on: the CLI prints their message instead of a traceback."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from customer_health.config import ConfigError
from customer_health.dbt_runner import DbtError
from customer_health.pipeline import NoDataError
from customer_health.postgres_export import PostgresExportError, PostgresUnreachable
from customer_health.reads import NoScoresYet
from customer_health.warehouse import WarehouseBusy
from ml.errors import InsufficientData, ModelNotFound


class UsageError(ValueError):
    """A command was asked for something it cannot do; the message says what to change."""


USER_ERRORS = (ConfigError, DbtError, NoDataError, NoScoresYet, WarehouseBusy, InsufficientData,
               ModelNotFound, FileNotFoundError, UsageError, PostgresExportError)

# Errors a retry cannot fix; a busy warehouse or an export server that is down a retry outwaits.
_TRANSIENT = (WarehouseBusy, PostgresUnreachable)
PERMANENT_ERRORS = tuple(e for e in USER_ERRORS if e not in _TRANSIENT)


@contextmanager
def fail_fast(failure: type[Exception]) -> Iterator[None]:
    """Re-raise errors a retry cannot fix as ``failure`` (Airflow's AirflowFailException)."""
    try:
        yield
    except PERMANENT_ERRORS as exc:
        raise failure(str(exc)) from exc
