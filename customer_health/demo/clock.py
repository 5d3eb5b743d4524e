"""Calendar helpers of the demo-data simulation.

All instants are int64 seconds since the Unix epoch (UTC). The simulation runs on a
weekly grid that ends exactly at the cut-off, so the latent state "at the cut-off"
is the state at the start of a grid week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

DAY = 86_400
WEEK = 7 * DAY


def add_months(day: date, months: int) -> date:
    """Return ``day`` shifted by ``months`` calendar months (day clipped to month end)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_first - date(year, month, 1)).days
    return date(year, month, min(day.day, last_day))


def epoch(day: date) -> int:
    """Seconds since the epoch at midnight UTC of ``day``."""
    return (day - date(1970, 1, 1)).days * DAY


def month_starts(first: date, last: date) -> list[date]:
    """First days of every calendar month from ``first``'s month to ``last``'s month."""
    out = []
    current = date(first.year, first.month, 1)
    while current <= last:
        out.append(current)
        current = add_months(current, 1)
    return out


@dataclass(frozen=True)
class TimeGrid:
    """Weekly simulation grid: history weeks up to the cut-off, then the horizon."""

    start_day: date
    cutoff_day: date
    start: int
    cutoff: int
    grid0: int
    n_hist: int
    n_weeks: int
    horizon_days: int

    @classmethod
    def build(cls, start: date, months: int, horizon_days: int) -> TimeGrid:
        cutoff = add_months(start, months)
        n_hist = math.ceil((cutoff - start).days / 7)
        n_future = math.ceil(horizon_days / 7)
        cutoff_s = epoch(cutoff)
        return cls(
            start_day=start,
            cutoff_day=cutoff,
            start=epoch(start),
            cutoff=cutoff_s,
            grid0=cutoff_s - n_hist * WEEK,
            n_hist=n_hist,
            n_weeks=n_hist + n_future,
            horizon_days=horizon_days,
        )

    def week_start(self, week: np.ndarray | int) -> np.ndarray | int:
        return self.grid0 + np.asarray(week, dtype=np.int64) * WEEK

    def week_of(self, t: np.ndarray) -> np.ndarray:
        """Grid week index of each instant (clipped to the grid)."""
        return np.clip((t - self.grid0) // WEEK, 0, self.n_weeks - 1)

    @property
    def horizon_end(self) -> int:
        return self.cutoff + self.horizon_days * DAY
