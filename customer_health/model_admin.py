"""`customer-health model list | promote | rollback`: the dataset's model registry for people.

Promote and rollback change which model scores the next run; they hold the dataset's lock so a
run in progress finishes with the model it started with.
"""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from customer_health.config import Settings
from customer_health.errors import UsageError
from customer_health.locking import dataset_lock
from customer_health.warehouse import connect


def warehouse_dataset(settings: Settings) -> str:
    """The dataset id of the home's warehouse (read-only); ``UsageError`` before the first run."""
    with connect(settings.warehouse, read_only=True) as con:
        row = con.execute("select value from raw.pipeline_meta where key = 'dataset_id'").fetchall()
    if not row:
        raise UsageError(f"{settings.warehouse} has no dataset yet; run `customer-health run` first")
    return row[0][0]


def _num(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and pd.isna(value)) else f"{value:.{digits}f}"


def print_model_list(console: Console, settings: Settings) -> None:
    from ml.registry import describe

    ds = warehouse_dataset(settings)
    rows = describe(settings.models_dir)
    table = Table(title=f"Models in {settings.models_dir} (live = scores this dataset)")
    for name, kw in (("version", {}), ("created (UTC)", {}), ("dataset", {}),
                     ("validation AUC", {"justify": "right"}), ("backtest AUC", {"justify": "right"}),
                     ("backtest ECE", {"justify": "right"}), ("backtest lift@10%", {"justify": "right"}),
                     ("live", {}), ("last decision", {})):
        table.add_column(name, **kw)
    for r in rows:
        mine = r["dataset_id"] == ds
        table.add_row(
            r["version"], str(r["created_at"] or "").replace("T", " ").replace("+00:00", ""),
            "this dataset" if mine else f"other ({str(r['dataset_id'])[:8]})",
            _num(r["roc_auc"]), _num(r["backtest_roc_auc"]), _num(r["backtest_ece"]),
            _num(r["backtest_lift_top10"], 2), "[bold green]live[/]" if r["live"] else "",
            r["decision"] or "")
    if not rows:
        table.caption = "No model yet: `customer-health run` trains one."
    console.print(table)


def _lock(settings: Settings):
    return dataset_lock(settings.home, settings.options.paths.lock_wait_seconds)


def print_promote(console: Console, settings: Settings, version: str) -> None:
    from ml import registry

    ds = warehouse_dataset(settings)
    with _lock(settings):
        live = registry.live_version(settings.models_dir, ds)
        try:
            before = registry.promote(settings.models_dir, version, dataset_id=ds)
        except ValueError as exc:  # not a version id
            raise UsageError(str(exc)) from None
    if before == version:
        console.print(f"Model {version} is already live.")
        return
    console.print(f"Model {version} is live now (was {before or 'none'}); the next run scores with it.")
    if live:
        verdict = registry.judge(registry.read_card(settings.models_dir, version),
                                 registry.read_card(settings.models_dir, live),
                                 settings.options.model.promotion_tolerance)
        if not verdict.promote:
            console.print(f"  [yellow]note[/] the promotion guard would have refused it: {verdict.reason}")


def print_rollback(console: Console, settings: Settings) -> None:
    from ml import registry

    ds = warehouse_dataset(settings)
    with _lock(settings):
        before, after = registry.rollback(settings.models_dir, dataset_id=ds)
    console.print(f"Rolled back from model {before or 'none'} to {after}; the next run scores with {after}.")
