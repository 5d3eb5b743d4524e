"""Data side of the real-scheduler tests: a demo dataset, new deliveries, the published scores,
Redis, and the measured latencies (shown in pytest's terminal summary by conftest.py).

The tests start Airflow's components as processes (orchestration_harness) and read what they did
through the REST API and the Parquet exports of the publish step; the test process itself never
imports Airflow (tests/dags does, with an AIRFLOW_HOME of its own).
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration_harness import REPO, AirflowProcesses

# tests/conftest.py prints every such file under pytest's base temporary folder (one per xdist
# worker) in the terminal summary
LATENCY_FILE_NAME = "orchestration_latency.json"


@dataclass
class Dataset:
    root: Path
    landing: Path
    home: Path
    config: Path
    customers: int
    months: int

    @property
    def export(self) -> Path:
        return self.home / "exports" / "customer_health.parquet"

    def env(self) -> dict[str, str]:
        """What the DAGs read to find this dataset."""
        return {"CUSTOMER_HEALTH_CONFIG": str(self.config), "CUSTOMER_HEALTH_HOME": str(self.home),
                "CUSTOMER_HEALTH_LANDING": str(self.landing),
                "CUSTOMER_HEALTH_WAREHOUSE": str(self.home / "warehouse.duckdb")}


def make_dataset(root: Path, customers: int, months: int, seed: int = 7,
                 orchestration: dict | None = None) -> Dataset:
    """Demo landing files and a config: the repo's, with the landing watcher polling every second.

    Below the demo size (5000 customers) the model's minimum-data bounds are lowered so the
    small history still trains a model, as tests/dags does.
    """
    from customer_health.demo import generate_demo_data

    landing, home = root / "landing", root / "home"
    generate_demo_data(landing, root / "truth", customers=customers, months=months, seed=seed)
    config = yaml.safe_load((REPO / "customer_health.yml").read_text(encoding="utf-8"))
    config["paths"] = {"home": str(home), "landing": str(landing)}
    if customers < 5000:
        config["model"].update(min_labelled_rows=100, min_positives=10, min_cutoffs=2)
    config["orchestration"].update(landing_poll_seconds=1, settle_seconds=1)
    # The cron DAG runs (ingest's safety net, the weekly retrain) start once at start-up, for
    # their latest slot, as in production. Yearly slots keep a new hour or a Monday 03:00 from
    # adding runs in the middle of a measurement.
    config["orchestration"].update(safety_net_cron="0 0 1 1 *", retrain_cron="0 0 1 1 *")
    config["orchestration"].update(orchestration or {})
    path = root / "customer_health.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return Dataset(root, landing, home, path, customers, months)


def read_export(dataset: Dataset, columns=("run_id", "scored_at", "as_of", "customer_id",
                                           "churn_risk")) -> dict | None:
    """customer_health as the publish step last exported it (written atomically), or None."""
    if not dataset.export.exists():
        return None
    seen = time.time()
    # One read of the whole file: pyarrow opens a path more than once (footer, then pages), and
    # a publish may swap the file in between; the bytes of one open are one version of it.
    with open(dataset.export, "rb") as handle:
        data = pa.BufferReader(handle.read())
    table = pq.read_table(data, columns=list(columns)).to_pydict()
    run_ids = set(table["run_id"])
    assert len(run_ids) == 1, f"customer_health mixes scoring runs: {run_ids}"
    return {"run_id": run_ids.pop(), "scored_at": max(table["scored_at"]),
            "as_of": table["as_of"][0], "rows": len(table["run_id"]), "seen": seen,
            "risk": dict(zip(table["customer_id"], table["churn_risk"]))}


def deliver_interactions(dataset: Dataset, name: str, customer_ids: list[str], day: str,
                         mtime: float | None = None) -> float:
    """A new interactions delivery: complaints and tickets of ``customer_ids`` on ``day``.

    Written as ``name.part`` and renamed, as a sender does; ``mtime`` stamps the file before the
    rename. Returns the time of the rename (the moment the file "arrived").
    """
    fields = ["interaction_id", "customer_id", "occurred_at", "channel", "type", "direction",
              "ticket_id", "handle_seconds", "csat", "nps", "sentiment", "text", "topic"]
    stem = Path(name).stem
    rows = []
    for n, customer in enumerate(customer_ids):
        ticket = f"K-{stem}-{n}"
        rows.append([f"I-{stem}-{n}a", customer, f"{day}T09:{n % 60:02d}:00", "phone",
                     "complaint", "inbound", ticket, 900, 1, 2, -0.9,
                     "Billed twice again and nobody calls back", "billing"])
        rows.append([f"I-{stem}-{n}b", customer, f"{day}T10:{n % 60:02d}:00", "chat",
                     "support_ticket", "inbound", ticket, 600, "", "", -0.7, "", "billing"])
    target = dataset.landing / "interactions" / name
    part = target.with_name(target.name + ".part")
    with part.open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(fields)
        writer.writerows(rows)
    if mtime is not None:
        os.utime(part, (mtime, mtime))
    part.rename(target)
    return time.time()


def parse_time(text: str | None) -> float | None:
    from datetime import datetime

    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def settled(airflow: AirflowProcesses, timeout: float, what: str, quiet_for: float = 3.0) -> dict:
    """Wait until no DAG run is queued or running, and none appears, for ``quiet_for`` seconds
    (an asset event becomes a DAG run one scheduler loop later); the DAG runs by DAG."""
    state: dict = {}

    def calm():
        runs = airflow.quiet()
        if runs is None:
            state.clear()
            return None
        key = {d: len(r) for d, r in runs.items()}
        if state.get("key") != key:
            state.update(key=key, since=time.monotonic())
            return None
        return runs if time.monotonic() - state["since"] >= quiet_for else None

    return airflow.wait_for(calm, timeout, what, interval=0.5, fail_on_task_failure=True)


def redis_client(db: int):
    """A Redis client, or None when no Redis answers on 127.0.0.1:6379."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=db, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        return None
    return client


def unused_redis_db(client) -> int:
    """The highest-numbered empty Redis database (15 on a Redis nobody else uses)."""
    import redis

    kwargs = client.connection_pool.connection_kwargs
    databases = int(client.config_get("databases").get("databases", 16))
    for db in range(databases - 1, 0, -1):
        if redis.Redis(host=kwargs["host"], port=kwargs["port"], db=db).dbsize() == 0:
            return db
    return databases - 1


def record_latency(config: pytest.Config, basetemp: Path, name: str, seconds: float,
                   **extra) -> None:
    """Keep a measured latency in orchestration_latency.json of pytest's base temporary folder
    (the terminal summary shows it)."""
    entry = {"what": name, "seconds": round(seconds, 2), **extra}
    path = basetemp / LATENCY_FILE_NAME
    found = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    path.write_text(json.dumps(found + [entry], indent=2), encoding="utf-8")
