"""Subprocess entry of one measured job: ``python -m customer_health.bench.worker JOB.json``.

The job file names the kind (``full``, ``incremental``, ``pandas``, ``bgnbd``) and its inputs;
the result is written as JSON to the job's ``result`` path. Running every job in its own process
lets the parent read that process's peak resident memory (see ``runner``).
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path


def _full(job: dict) -> dict:
    from customer_health.bench.stages import run_stages

    result = run_stages(job.get("config"), Path(job["home"]), Path(job["landing"]))
    try:  # not timed: our model's AUC against the demo truth, for the BG/NBD comparison
        from customer_health.config import load_settings
        from customer_health.evaluate import evaluate_against_truth

        settings = load_settings(job.get("config"), home=job["home"], landing=job["landing"])
        ev = evaluate_against_truth(settings, Path(job["truth"]))
        result["evaluation"] = {"customers": ev.customers, "churn_rate": ev.churn_rate,
                                "model_auc": ev.model_auc, "oracle_auc": ev.oracle_auc}
    except Exception as exc:  # noqa: BLE001 - the figure is reported as missing, with why
        result["evaluation"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


def _incremental(job: dict) -> dict:
    from customer_health.bench.incremental import write_increment
    from customer_health.bench.stages import run_stages

    home = Path(job["home"])
    written = write_increment(home / "warehouse.duckdb", Path(job["landing"]))
    result = run_stages(job.get("config"), home, Path(job["landing"]), retrain=False)
    result["new_events"] = written
    return result


def _pandas(job: dict) -> dict:
    from customer_health.bench.pandas_peer import agreement, run_peer
    from customer_health.config import load_settings

    # the peer computes what the dbt stage built: the same half-life and peer group
    options = load_settings(job.get("config"), home=job["home"]).options.features
    warehouse = Path(job["home"]) / "warehouse.duckdb"
    features, timings = run_peer(warehouse, half_life_days=options.activity_half_life_days,
                                 peer_group=options.peer_group)
    timings["agreement"] = agreement(features, warehouse)
    return timings


def _bgnbd(job: dict) -> dict:
    from customer_health.bench.bgnbd_peer import run_bgnbd

    return run_bgnbd(Path(job["home"]) / "warehouse.duckdb", Path(job["truth"]), job["as_of"])


JOBS = {"full": _full, "incremental": _incremental, "pandas": _pandas, "bgnbd": _bgnbd}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.WARNING)
    warnings.simplefilter("ignore")
    result = JOBS[job["kind"]](job)
    Path(job["result"]).write_text(json.dumps(result, default=str, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
