"""Run the dbt project in-process (dbt's programmatic runner) against one dataset's warehouse."""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass

from customer_health.config import DBT_PROJECT_DIR, Settings

log = logging.getLogger(__name__)

PROFILE_PATH_VARIABLE = "CUSTOMER_HEALTH_DBT_WAREHOUSE_PATH"
# The as-of dates the feature models build (macro feature_spine): "full" or "scoring".
SPINE_VARIABLE = "CUSTOMER_HEALTH_FEATURE_SPINE"
SPINES = ("full", "scoring")


class DbtError(RuntimeError):
    """A dbt command failed; the message lists the failing nodes and their errors."""


@dataclass(frozen=True)
class DbtResult:
    command: str
    passed: int
    failed: tuple[str, ...]


def dbt_vars(settings: Settings, as_of: str | None) -> dict:
    o = settings.options
    return {
        "as_of": as_of,
        "horizon_days": o.churn.horizon_days,
        "spine_interval_months": o.churn.spine_interval_months,
        "event_lookback_days": o.features.event_lookback_days,
        "activity_half_life_days": o.features.activity_half_life_days,
        "peer_group": o.features.peer_group,
        "band_healthy": o.bands.healthy,
        "band_watch": o.bands.watch,
        "band_at_risk": o.bands.at_risk,
        # {segment: {healthy, watch, at_risk}}, each complete (the defaults fill the gaps)
        "band_by_segment": {seg: o.bands.segment_thresholds(seg) for seg in o.bands.by_segment},
        "trend_stable_points": o.trend.stable_points,
        "playbook": o.playbook,
        # rules of health_alerts; not part of a scoring run's identity (see score_step)
        "alerts": o.alerts.model_dump(),
    }


def privacy_vars(settings: Settings) -> dict:
    """The privacy mode for the customer_contacts model, kept out of ``dbt_vars``: it changes what
    customer_health carries, never a score, so it is no part of a scoring run's identity.

    Only the name of the key's environment variable goes to dbt (the model reads the key from the
    environment itself): dbt writes its vars to its logs and to run_results.json.
    """
    p = settings.options.privacy
    if p.export_personal_data == "hashed" and not (
            p.hash_key_env and os.environ.get(p.hash_key_env, "").strip()):
        _warn_unkeyed(p.hash_key_env)
    return {"export_personal_data": p.export_personal_data, "pii_hash_key_env": p.hash_key_env or ""}


@functools.lru_cache(maxsize=None)
def _warn_unkeyed(variable: str | None) -> None:
    where = f"the environment variable {variable} is not set" if variable else \
        "privacy.hash_key_env is null"
    log.warning("privacy: %s, so email_hash is a plain SHA-256 of the email, which anyone holding "
                "a list of emails can match; set a secret key for an HMAC", where)


def _quiet_dbt_logging() -> None:
    for name in ("dbt", "dbt.adapters", "dbt_common"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _release_warehouse() -> None:
    """Close dbt-duckdb's process-wide connection so that other connections (read-only readers
    in this process, other processes) can open the warehouse after dbt is done with it."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing held open
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def run_dbt(settings: Settings, command: str, *, select: str | None = None,
            exclude: str | None = None, as_of: str | None = None, spine: str = "full",
            extra_args: tuple[str, ...] = ()) -> DbtResult:
    """Invoke ``dbt <command>`` (e.g. "build", "docs generate") on the dataset of ``settings``.

    ``spine`` "scoring" builds the feature models for the scoring date only (see the macro
    feature_spine); "full" builds every as-of date of the training spine.
    """
    if spine not in SPINES:
        raise ValueError(f"spine must be one of {SPINES}, not {spine!r}")
    from dbt.cli.main import dbtRunner  # heavy import: only when dbt actually runs

    _quiet_dbt_logging()
    # The profile reads the warehouse path from this variable (dbt_project/profiles.yml).
    os.environ[PROFILE_PATH_VARIABLE] = str(settings.warehouse)
    os.environ[SPINE_VARIABLE] = spine
    settings.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    args = [
        *command.split(),
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(settings.dbt_target_dir),
        "--log-path", str(settings.dbt_log_dir),
        "--vars", json.dumps({**dbt_vars(settings, as_of), **privacy_vars(settings)}),
        "--quiet",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--no-partial-parse" if command == "parse" else "--partial-parse",
    ]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    args += list(extra_args)
    try:
        result = dbtRunner().invoke(args)
    finally:
        _release_warehouse()
    failed = []
    passed = 0
    for node in getattr(result.result, "results", None) or []:
        status = str(getattr(node, "status", ""))
        if status.lower() in ("error", "fail", "runtimeerr"):
            name = getattr(getattr(node, "node", None), "name", "?")
            failed.append(f"{name}: {(node.message or '').strip()}")
        else:
            passed += 1
    if not result.success:
        detail = "\n  ".join(failed) if failed else str(result.exception or "unknown error")
        raise DbtError(f"dbt {command} failed:\n  {detail}")
    return DbtResult(command, passed, tuple(failed))
