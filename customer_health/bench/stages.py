"""Run the pipeline stage by stage inside one process and time each stage.

Called in the measured subprocess (``python -m customer_health.bench.worker``). Wall time of
each step with ``time.perf_counter``. Two splits need no change to the pipeline: validation is
the time spent in ``customer_health.validation.validate_batch`` (ingest calls it per batch; for
files under ``ingest.landing.GATE_BESIDE_INSERT_MAX_BYTES`` it runs beside the insert of the
rows, so ingest, the rest of the step's wall time, shows only the part of the insert the gate
did not cover),
and training is the time spent in ``pipeline._model_or_none`` (score_step calls it to load or
train the model); when a name is missing the split is reported as ``None``.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from pathlib import Path


def _peak_bytes() -> int:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Timer:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0


@contextmanager
def timed_attribute(module, name: str):
    """Replace ``module.name`` by a wrapper that adds its time to the yielded timer."""
    original = getattr(module, name, None)
    timer = _Timer()
    if original is None:
        yield None
        return

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            timer.seconds += time.perf_counter() - started
            timer.calls += 1

    setattr(module, name, wrapper)
    try:
        yield timer
    finally:
        setattr(module, name, original)


def run_stages(config: str | None, home: Path, landing: Path, *, retrain: bool = False) -> dict:
    """ingest (with validation split out) -> features -> training + scoring -> publish."""
    started = time.perf_counter()
    from customer_health import pipeline, validation
    from customer_health.config import load_settings
    import ml.predict

    settings = load_settings(config, home=home, landing=landing)
    stages: dict[str, float | None] = {"startup": time.perf_counter() - started}
    out: dict = {}

    with timed_attribute(validation, "validate_batch") as validating:
        t = time.perf_counter()
        report = pipeline.ingest_step(settings)
        ingest = time.perf_counter() - t
    stages["validation"] = validating.seconds if validating else None
    stages["ingest"] = ingest - (validating.seconds if validating else 0.0)
    peaks = {"ingest": _peak_bytes()}
    out["events_ingested"] = report.total("loaded", "transactions") + report.total("loaded", "interactions")
    out["rows_ingested"] = report.total("loaded")
    out["rows_quarantined"] = report.total("quarantined")
    out["files"] = report.summary().get("files", {})

    t = time.perf_counter()
    pipeline.features_step(settings)
    stages["features"] = time.perf_counter() - t
    peaks["features"] = _peak_bytes()

    with timed_attribute(pipeline, "_model_or_none") as training, \
            timed_attribute(ml.predict, "score_table") as predicting:
        t = time.perf_counter()
        summary = pipeline.score_step(settings, retrain=retrain)
        score = time.perf_counter() - t
    stages["training"] = training.seconds if training else None
    stages["scoring"] = score - (training.seconds if training else 0.0)
    out["predict_seconds"] = predicting.seconds if predicting else None
    peaks["training and scoring"] = _peak_bytes()
    out["customers_scored"] = summary.customers_scored
    out["model_version"] = summary.model_version
    out["model_reused"] = summary.model_reused
    out["as_of"] = summary.as_of
    out["score_source"] = summary.score_source

    t = time.perf_counter()
    pipeline.publish_step(settings)
    stages["publish"] = time.perf_counter() - t
    peaks["publish"] = _peak_bytes()

    out["stages"] = stages
    # where the run's peak memory was reached: the peak so far at the end of each stage
    out["peak_rss_bytes_by_stage"] = peaks
    out["total_seconds"] = sum(v for v in stages.values() if v)
    return out
