"""Benchmark workloads: demo landing data of a given size, generated once and cached.

A workload is ``customers`` simulated customers with about ``events`` interaction and
transaction events in total. The demo generator's events per customer grow with the simulated
months, so the months are chosen by a small pilot simulation (at least ``MIN_MONTHS``, enough
history for the model's labelled as-of dates). Each workload lives under
``<root>/<name>-s<seed>/`` (``landing/``, ``truth/``, ``workload.json``) and is regenerated only
when that folder is missing or incomplete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

EVENTS_PER_CUSTOMER = 100          # W1, W10, W100: about 100 events per customer
MIN_MONTHS = 9                     # 3+ labelled monthly as-of dates with a 90-day horizon
MAX_MONTHS = 60
PILOT_CUSTOMERS = 1000

NAMED = {"W1": 10_000, "W10": 100_000, "W100": 1_000_000}


@dataclass(frozen=True)
class Workload:
    name: str
    customers: int
    months: int
    seed: int
    landing: Path
    truth: Path
    rows: dict[str, int]
    cutoff: str
    oracle_auc: float | None

    @property
    def events(self) -> int:
        """Interaction and transaction rows in the landing files."""
        return self.rows.get("transactions", 0) + self.rows.get("interactions", 0)


def workload_name(customers: int) -> str:
    """'W10' for 100,000 customers, else 'c<customers>'."""
    for name, size in NAMED.items():
        if size == customers:
            return name
    return f"c{customers}"


def _pilot_events_per_customer(months: int, seed: int) -> float:
    from customer_health.demo import generate_demo_data

    with tempfile.TemporaryDirectory(prefix="bench-pilot-") as tmp:
        summary = generate_demo_data(Path(tmp) / "landing", Path(tmp) / "truth",
                                     customers=PILOT_CUSTOMERS, months=months, seed=seed)
    return (summary.rows["transactions"] + summary.rows["interactions"]) / PILOT_CUSTOMERS


def months_for(customers: int, events: int | None, seed: int = 7) -> int:
    """Simulated months whose events per customer come closest to ``events / customers``.

    ``None`` asks for about ``EVENTS_PER_CUSTOMER`` per customer. Never fewer than
    ``MIN_MONTHS`` (the model needs labelled history), so small event counts round up.
    """
    target = (events / customers) if events else EVENTS_PER_CUSTOMER
    best, best_gap = MIN_MONTHS, None
    months = MIN_MONTHS
    while months <= MAX_MONTHS:
        per = _pilot_events_per_customer(months, seed)
        gap = abs(per - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = months, gap
        if per >= target:
            break
        months += 1 if months < 18 else 3
    return best


def _load(folder: Path) -> Workload | None:
    meta = folder / "workload.json"
    if not meta.exists() or not (folder / "truth" / "ground_truth.csv").exists():
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["landing"], data["truth"] = folder / "landing", folder / "truth"
    return Workload(**data)


def prepare_workload(root: Path, customers: int, events: int | None = None, seed: int = 7,
                     months: int | None = None) -> tuple[Workload, float | None]:
    """The cached workload (generated when missing) and the seconds spent generating it
    (``None`` when it came from the cache). Data generation is never part of a timed run."""
    import time

    from customer_health.demo import generate_demo_data

    target = events if events else customers * EVENTS_PER_CUSTOMER
    folder = Path(root) / f"{workload_name(customers)}-e{target}-s{seed}"
    cached = _load(folder)
    if cached is not None:
        return cached, None
    started = time.perf_counter()
    months = months or months_for(customers, target, seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    summary = generate_demo_data(folder / "landing", folder / "truth", customers=customers,
                                 months=months, seed=seed)
    workload = Workload(name=workload_name(customers), customers=customers, months=months,
                        seed=seed, landing=folder / "landing", truth=folder / "truth",
                        rows=dict(summary.rows), cutoff=summary.cutoff.isoformat(),
                        oracle_auc=None if summary.oracle_auc != summary.oracle_auc
                        else float(summary.oracle_auc))
    meta = {k: v for k, v in asdict(workload).items() if k not in ("landing", "truth")}
    (folder / "workload.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return workload, time.perf_counter() - started
