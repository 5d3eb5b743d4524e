"""``run_bench``: workload, repeated measured runs, peers, incremental run, medians, report."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from customer_health.bench.probe import speed_probe
from customer_health.bench.report import GIB, BenchReport, judge, median, write
from customer_health.bench.runner import fresh_home, run_job
from customer_health.bench.workload import prepare_workload

DEFAULT_ROOT = Path("state/bench")
# The pandas peer holds every raw row in memory: its peak was 3.70 GiB for 12.0M events at W10
# (about 330 bytes an event); this adds a margin. It is left out when it would not fit.
PANDAS_PEER_BYTES_PER_EVENT = 400


def available_memory() -> int | None:
    """Bytes of memory available to a new process (Linux MemAvailable), None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def pandas_peer_skip_reason(events: int, available: int | None) -> str | None:
    """Why the pandas peer is left out of a run (it would need more memory than there is)."""
    need = events * PANDAS_PEER_BYTES_PER_EVENT
    if available is None or need <= 0.8 * available:
        return None
    return (f"left out: holding {events:,} events in pandas needs about {need / GIB:.0f} GiB, "
            f"{available / GIB:.0f} GiB are available")


def _one_run(workload, config: str | None, home: Path) -> dict:
    """Full run in a fresh home, then the peers on its warehouse, then the incremental run."""
    landing = fresh_home(home, workload.landing)
    base = {"config": config, "home": str(home), "landing": str(landing),
            "truth": str(workload.truth)}
    work = home.parent / f"{home.name}-jobs"
    full = run_job({**base, "kind": "full"}, work)
    skip = pandas_peer_skip_reason(full.result["events_ingested"], available_memory())
    pandas = None if skip else run_job({**base, "kind": "pandas"}, work)
    bgnbd = run_job({**base, "kind": "bgnbd", "as_of": full.result["as_of"]}, work)
    incremental = run_job({**base, "kind": "incremental"}, work)
    run = {"pandas": {"skipped": skip}}
    for name, job in (("full", full), ("pandas", pandas), ("bgnbd", bgnbd),
                      ("incremental", incremental)):
        if job is not None:
            run[name] = {**job.result, "process_wall_seconds": job.wall_seconds,
                         "peak_rss_bytes": job.peak_rss_bytes}
    return run


def _figures(runs: list[dict]) -> dict:
    def m(path):
        def get(run):
            value = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            return value
        return median(get(r) for r in runs)

    f = {
        "full_run_seconds": m(("full", "total_seconds")),
        "full_process_wall_seconds": m(("full", "process_wall_seconds")),
        "peak_rss_bytes": m(("full", "peak_rss_bytes")),
        "events_ingested": m(("full", "events_ingested")),
        "customers_scored": m(("full", "customers_scored")),
        "features_seconds": m(("full", "stages", "features")),
        "training_seconds": m(("full", "stages", "training")),
        "scoring_seconds": m(("full", "stages", "scoring")),
        "predict_seconds": m(("full", "predict_seconds")),
        "incremental_seconds": m(("incremental", "total_seconds")),
        "incremental_peak_rss_bytes": m(("incremental", "peak_rss_bytes")),
        "incremental_events": m(("incremental", "events_ingested")),
        "pandas_compute_seconds": m(("pandas", "compute_seconds")),
        "pandas_peak_rss_bytes": m(("pandas", "peak_rss_bytes")),
        "bgnbd_fit_seconds": m(("bgnbd", "fit_seconds")),
        "bgnbd_auc": m(("bgnbd", "auc")),
        "model_auc": m(("full", "evaluation", "model_auc")),
        "oracle_auc": m(("full", "evaluation", "oracle_auc")),
    }
    # ratios per run, then the median (not a ratio of medians)
    f["events_per_second"] = median(r["full"]["events_ingested"] / r["full"]["total_seconds"]
                                    for r in runs)
    f["feature_speedup"] = median(r["pandas"]["compute_seconds"] / r["full"]["stages"]["features"]
                                  for r in runs if "compute_seconds" in r["pandas"])
    f["scoring_customers_per_second"] = median(
        r["full"]["customers_scored"] / r["full"]["stages"]["scoring"] for r in runs)
    f["predict_customers_per_second"] = median(
        r["full"]["customers_scored"] / r["full"]["predict_seconds"]
        for r in runs if r["full"].get("predict_seconds"))
    f["peak_rss_gib"] = f["peak_rss_bytes"] / GIB if f["peak_rss_bytes"] else None
    return f


def run_bench(customers: int, events: int | None, repeat: int, out: Path, *,
              seed: int = 7, config: str | None = None, root: Path | None = None,
              months: int | None = None, keep_homes: bool = False) -> BenchReport:
    """Benchmark the pipeline on the demo workload of ``customers`` (about ``events`` events;
    ``None``: 100 per customer) ``repeat`` times; write ``<out>/bench-<name>.json`` and ``.md``.

    The workload is cached under ``<root>/`` (default ``state/bench``); every run has a fresh
    home under ``<root>/runs/``. Only the last run's home is kept unless ``keep_homes``.
    """
    if customers < 1 or repeat < 1:
        raise ValueError("customers and repeat must be at least 1")
    root = Path(root or DEFAULT_ROOT).resolve()
    load_before = os.getloadavg()[0]
    # in a child process: the generator's memory (about 8 GiB at W100) goes back to the machine
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        workload, generation = pool.submit(prepare_workload, root / "workloads", customers, events,
                                           seed, months).result()
    probe_seconds = speed_probe()
    runs, homes = [], []
    for i in range(repeat):
        home = root / "runs" / f"{workload.name}-{i + 1}"
        runs.append(_one_run(workload, config, home))
        homes.append(home)
        if not keep_homes and i + 1 < repeat:
            shutil.rmtree(home, ignore_errors=True)
    figures = _figures(runs)

    def stage_medians(kind: str) -> dict:
        names = list(runs[0][kind]["stages"])
        return {n: median(r[kind]["stages"].get(n) for r in runs) for n in names}

    last = runs[-1]
    peers = {
        "pandas": {"skipped": last["pandas"]["skipped"]} if last["pandas"].get("skipped") else {
            **{k: last["pandas"][k] for k in ("features", "rows", "as_of_dates", "input_rows")},
            "compute_seconds": figures["pandas_compute_seconds"],
            "load_seconds": median(r["pandas"]["load_seconds"] for r in runs),
            "mismatches": last["pandas"]["agreement"]["mismatches"],
            "agreement": last["pandas"]["agreement"]},
        "bgnbd": {**{k: last["bgnbd"][k] for k in ("transactions", "customers_fitted",
                                                    "truth_customers",
                                                    "truth_customers_without_payments")},
                  "fit_seconds": figures["bgnbd_fit_seconds"], "auc": figures["bgnbd_auc"],
                  "prepare_seconds": median(r["bgnbd"]["prepare_seconds"] for r in runs)},
    }
    report = BenchReport(
        workload={"name": workload.name, "customers": workload.customers,
                  "events": workload.events, "rows": workload.rows, "months": workload.months,
                  "seed": workload.seed, "cutoff": workload.cutoff,
                  "landing": str(workload.landing)},
        repeat=repeat, figures=figures, stages=stage_medians("full"),
        incremental_stages=stage_medians("incremental"), peers=peers,
        targets=judge(figures, workload.customers), runs=runs,
        machine={"cpus": os.cpu_count(), "load_before": round(load_before, 2),
                 "probe_seconds": round(probe_seconds, 3),
                 "load_after": round(os.getloadavg()[0], 2)},
        generation_seconds=generation)
    return write(report, Path(out))
