"""Entry point of the demo-data generator: simulate, write the landing zone and the truth.

``generate_demo_data`` writes three entity folders (``customers/``, ``transactions/``,
``interactions/``) of batch files in mixed formats, as a real feed would deliver them,
plus a ground-truth folder the pipeline never reads: for every customer active at the
cut-off, the true churn probability over the horizon (from the latent state) and the
simulated outcome. Same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from .clock import TimeGrid, add_months, epoch, month_starts
from .events import build_interactions, build_transactions
from .frames import (customer_emails, customer_ids, customer_snapshot, customer_updates,
                     interaction_frame, transaction_frame)
from .params import ACCOUNT_OWNERS, SimParams
from .simulate import Population, Simulation, draw_population, oracle_probability, simulate
from .text import FIRST_NAMES
from .writers import Frame, write_batch

ENTITIES = ("customers", "transactions", "interactions")
TRANSACTION_FORMATS = ("parquet", "csv.gz")
INTERACTION_FORMATS = ("jsonl", "csv", "parquet")
CUSTOMER_UPDATE_MONTHS = 3


@dataclass(frozen=True)
class DemoSummary:
    """What ``generate_demo_data`` wrote and how hard the simulated world is to predict."""

    cutoff: date
    start: date
    horizon_days: int
    seed: int
    customers: int
    files: dict[str, int]
    rows: dict[str, int]
    active_at_cutoff: int
    churned_in_horizon: int
    churn_rate: float
    oracle_auc: float
    out_dir: Path
    truth_dir: Path


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties get average ranks); NaN without both classes."""
    label = np.asarray(label).astype(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    sorted_score = np.asarray(score)[order]
    ranks = np.empty(len(score))
    _, first, counts = np.unique(sorted_score, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


MARKER = ".customer-health-demo"  # hidden: ingest skips it


def _validate(out_dir: Path, truth_dir: Path, customers: int, months: int, horizon_days: int) -> None:
    if customers < 1 or months < 1 or horizon_days < 1:
        raise ValueError("customers, months and horizon_days must all be at least 1")
    truth = truth_dir.resolve()
    for entity in ENTITIES:
        folder = (out_dir / entity).resolve()
        if truth == folder or folder in truth.parents:
            raise ValueError(f"truth_dir {truth_dir} must not be inside the landing folder {folder}")
    # Only a landing folder this generator wrote may be replaced: never delete a user's files.
    foreign = [f for entity in ENTITIES if (out_dir / entity).is_dir()
               for f in (out_dir / entity).rglob("*") if f.is_file()]
    if foreign and not (out_dir / MARKER).exists():
        raise ValueError(f"{out_dir} already holds landing files that demo-data did not write "
                         f"(for example {foreign[0]}); choose an empty folder")


def _fresh(folder: Path) -> Path:
    """Empty ``folder`` (only the entity folders this generator owns are ever removed)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _write_monthly(frame: Frame, folder: Path, entity: str, grid: TimeGrid, formats: tuple[str, ...]) -> int:
    """One file per calendar month of ``occurred_at``, rotating through ``formats``."""
    t = frame.times["occurred_at"]
    last_day = date.fromordinal(grid.cutoff_day.toordinal() - 1)
    written = 0
    for k, first in enumerate(month_starts(grid.start_day, last_day)):
        lo = int(np.searchsorted(t, epoch(first)))
        hi = int(np.searchsorted(t, epoch(add_months(first, 1))))
        if hi > lo:
            fmt = formats[k % len(formats)]
            write_batch(frame.table(lo, hi, fmt), folder / f"{entity}_{first:%Y-%m}.{fmt}", fmt)
            written += 1
    return written


def _write_customers(rng: np.random.Generator, folder: Path, pop: Population, sim: Simulation,
                     grid: TimeGrid, p: SimParams) -> tuple[int, int]:
    """Initial CSV snapshot plus quarterly JSON Lines update files: (files, rows) written."""
    ids, emails = customer_ids(pop.n), customer_emails(pop.n)
    snapshot = customer_snapshot(rng, ids, emails, pop, sim, grid)
    files = 0
    if len(snapshot.style):
        write_batch(snapshot.table(0, len(snapshot.style), "csv"),
                    folder / f"customers_snapshot_{grid.start_day:%Y-%m-%d}.csv", "csv")
        files += 1
    updates = customer_updates(rng, ids, emails, pop, sim, grid, p)
    t = updates.times["updated_at"]
    first = grid.start_day
    while first < grid.cutoff_day:
        following = add_months(first, CUSTOMER_UPDATE_MONTHS)
        lo, hi = (int(i) for i in np.searchsorted(t, [epoch(first), epoch(following)]))
        if hi > lo:
            write_batch(updates.table(lo, hi, "jsonl"), folder / f"customers_updates_{first:%Y-%m}.jsonl", "jsonl")
            files += 1
        first = following
    return files, len(snapshot.style) + len(t)


def _write_truth(truth_dir: Path, sim: Simulation, pop: Population, grid: TimeGrid,
                 p: SimParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ground_truth.csv: one row per customer active at the cut-off."""
    active = np.flatnonzero((pop.signup < grid.cutoff) & (sim.churn >= grid.cutoff))
    prob = np.round(oracle_probability(sim, pop, grid, p, active), 6)
    churned = (sim.churn[active] < grid.horizon_end).astype(np.int8)
    ids = customer_ids(pop.n).take(active).to_pylist()
    cutoff = grid.cutoff_day.isoformat()
    lines = ["customer_id,cutoff,true_churn_probability,churned"]
    lines += [f"{cid},{cutoff},{pr:.6f},{y}" for cid, pr, y in zip(ids, prob.tolist(), churned.tolist())]
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "ground_truth.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return active, prob, churned


def generate_demo_data(out_dir: Path, truth_dir: Path, customers: int, months: int, seed: int,
                       horizon_days: int = 90, start: date = date(2025, 1, 1), *,
                       params: SimParams | None = None) -> DemoSummary:
    """Simulate ``customers`` over ``months`` from ``start`` and write landing files and truth.

    The cut-off is ``start + months``; only events before it are written. Previous
    contents of ``out_dir/{customers,transactions,interactions}`` are replaced, but only when
    this generator wrote them (a marker file says so); other files make it refuse.
    """
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    _validate(out_dir, truth_dir, customers, months, horizon_days)
    p = params or SimParams()
    grid = TimeGrid.build(start, months, horizon_days)
    rng = np.random.default_rng(seed)
    pop = draw_population(rng, customers, grid, p, len(ACCOUNT_OWNERS), len(FIRST_NAMES))
    sim = simulate(rng, pop, grid, p, len(ACCOUNT_OWNERS))
    ids = customer_ids(pop.n)
    interactions = interaction_frame(rng, ids, customer_emails(pop.n), pop,
                                     build_interactions(rng, sim, pop, grid, p), p)
    transactions = transaction_frame(rng, ids, pop, build_transactions(rng, sim, pop, grid, p), p)

    files, rows = {}, {}
    files["customers"], rows["customers"] = _write_customers(rng, _fresh(out_dir / "customers"), pop, sim, grid, p)
    for entity, frame, formats in (("transactions", transactions, TRANSACTION_FORMATS),
                                   ("interactions", interactions, INTERACTION_FORMATS)):
        files[entity] = _write_monthly(frame, _fresh(out_dir / entity), entity, grid, formats)
        rows[entity] = len(frame.style)

    (out_dir / MARKER).write_text("written by customer-health demo-data\n", encoding="utf-8")
    active, prob, churned = _write_truth(truth_dir, sim, pop, grid, p)
    summary = DemoSummary(
        cutoff=grid.cutoff_day, start=start, horizon_days=horizon_days, seed=seed, customers=customers,
        files=files, rows=rows, active_at_cutoff=len(active), churned_in_horizon=int(churned.sum()),
        churn_rate=float(churned.mean()) if len(active) else float("nan"),
        oracle_auc=roc_auc(prob, churned), out_dir=out_dir, truth_dir=truth_dir)
    _write_meta(truth_dir, summary, months)
    return summary


def _finite(value: float) -> float | None:
    return round(value, 6) if np.isfinite(value) else None


def _write_meta(truth_dir: Path, summary: DemoSummary, months: int) -> None:
    meta = {
        "generator": "customer_health.demo",
        "seed": summary.seed,
        "start": summary.start.isoformat(),
        "months": months,
        "cutoff": summary.cutoff.isoformat(),
        "horizon_days": summary.horizon_days,
        "customers": summary.customers,
        "active_at_cutoff": summary.active_at_cutoff,
        "churned_in_horizon": summary.churned_in_horizon,
        "churn_rate": _finite(summary.churn_rate),
        "oracle_auc": _finite(summary.oracle_auc),
        "files": summary.files,
        "rows": summary.rows,
        "truth_definition": ("true_churn_probability = 1 - exp(-sum of weekly hazards over the horizon with "
                             "satisfaction frozen at the cut-off); churned = simulated churn within "
                             "[cutoff, cutoff + horizon_days)"),
    }
    (truth_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
