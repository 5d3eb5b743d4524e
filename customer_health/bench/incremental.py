"""The incremental run: 1% new events on top of a finished run, scored by the live model.

New events are copies of recent events (those of the last days before the newest one, enough
of them to draw 1% of all events), with new ids and moved forward by ``SHIFT_DAYS`` days, so
they read as the next delivery: one new Parquet file per event entity (transactions,
interactions) in the home's landing folder. Then ingest -> features -> score -> publish with
``retrain=False`` (the live model; no training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SHIFT_DAYS = 7
SHARE = 0.01
COLUMNS = {
    "transactions": ("transaction_id", "customer_id", "occurred_at", "type", "amount", "currency",
                     "product", "channel"),
    "interactions": ("interaction_id", "customer_id", "occurred_at", "channel", "type", "direction",
                     "ticket_id", "handle_seconds", "csat", "nps", "sentiment", "text", "topic"),
}


def write_increment(warehouse: Path, landing: Path, share: float = SHARE, seed: int = 11,
                    tag: str = "bench-increment") -> dict[str, int]:
    """Write the new events as ``<landing>/<entity>/<tag>.parquet``; return rows per entity."""
    import duckdb

    rng = np.random.default_rng(seed)
    written = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for entity, columns in COLUMNS.items():
            total, newest = con.execute(f"select count(*), max(occurred_at) from raw.{entity}").fetchone()
            want = int(round(total * share))
            if want == 0:
                continue
            days = SHIFT_DAYS
            while True:  # widen the window until it holds enough events to draw from
                frame = con.execute(
                    f"select {', '.join(columns)} from raw.{entity} "
                    f"where occurred_at > ? - to_days(?)", [newest, days]).df()
                if len(frame) >= want or days > 3650:
                    break
                days *= 2
            picked = frame.iloc[np.sort(rng.choice(len(frame), size=min(want, len(frame)),
                                                   replace=False))].copy()
            key = columns[0]
            picked[key] = picked[key].astype(str) + f"-{tag}"
            picked["occurred_at"] = pd.to_datetime(picked["occurred_at"]) + pd.Timedelta(days=SHIFT_DAYS)
            folder = Path(landing) / entity
            folder.mkdir(parents=True, exist_ok=True)
            picked.to_parquet(folder / f"{tag}.parquet", index=False)
            written[entity] = int(len(picked))
    finally:
        con.close()
    return written
