"""Latent-satisfaction simulation: who the customers are, how they feel, when they leave.

Each customer has a latent satisfaction s(t) = mu + x(t), where mu is a customer level
and x a slowly mean-reverting AR(1) walk. The simulation steps weekly, vectorised over
customers. Support tickets arrive more often when s is low, need more contacts, hop
between channels and stay unresolved more often; a bad support experience pushes s down.
The weekly churn hazard is ``hazard(s, ...)``; a churned customer stops for good.
Everything observable (logins, purchases, surveys, ...) is derived from this state in
:mod:`customer_health.demo.events`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clock import DAY, WEEK, TimeGrid
from .params import N_SUPPORT_CHANNELS, SimParams

NEVER = np.iinfo(np.int64).max


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def categorical(rng: np.random.Generator, probs, size: int) -> np.ndarray:
    """Draw ``size`` category indices from a probability vector."""
    cum = np.cumsum(np.asarray(probs, dtype=float))
    return np.searchsorted(cum / cum[-1], rng.random(size), side="right").astype(np.int8)


@dataclass(frozen=True)
class Population:
    """Static attributes of the customers, indexed by customer number (signup order)."""

    signup: np.ndarray
    existing: np.ndarray
    segment: np.ndarray
    plan0: np.ndarray
    region: np.ndarray
    owner0: np.ndarray
    seats: np.ndarray
    mu: np.ndarray
    login_rate: np.ndarray
    feature_rate: np.ndarray
    purchase_rate: np.ndarray
    ticket_mult: np.ndarray
    support_channel: np.ndarray
    in_app_share: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray

    @property
    def n(self) -> int:
        return len(self.signup)


def draw_population(rng: np.random.Generator, n: int, grid: TimeGrid, p: SimParams, n_owners: int,
                    n_names: int) -> Population:
    """Draw ``n`` customers; about ``existing_share`` signed up before the data starts."""
    existing = rng.random(n) < p.existing_share
    before = grid.start - (rng.random(n) * p.existing_max_tenure_days * DAY).astype(np.int64) - DAY
    growth = rng.random(n) ** (1.0 / (1.0 + p.signup_growth))
    during = grid.start + (growth * (grid.cutoff - grid.start)).astype(np.int64)
    signup = np.sort(np.where(existing, before, during))
    existing = signup < grid.start
    segment = categorical(rng, p.segment_p, n)
    plan0 = np.zeros(n, dtype=np.int8)
    for seg, probs in enumerate(p.plan_p_by_segment):
        mask = segment == seg
        plan0[mask] = categorical(rng, probs, int(mask.sum()))
    lo = np.array([r[0] for r in p.seats_range_by_segment])[segment]
    hi = np.array([r[1] for r in p.seats_range_by_segment])[segment]
    return Population(
        signup=signup,
        existing=existing,
        segment=segment,
        plan0=plan0,
        region=categorical(rng, p.region_p, n),
        owner0=rng.integers(0, n_owners, n).astype(np.int8),
        seats=rng.integers(lo, hi + 1),
        mu=rng.normal(p.mu_mean, p.mu_sd, n) + p.existing_mu_shift * existing,
        login_rate=p.login_median * np.exp(rng.normal(0.0, p.login_sd, n)),
        feature_rate=p.feature_median * np.exp(rng.normal(0.0, p.feature_sd, n)),
        purchase_rate=p.purchase_median * np.exp(rng.normal(0.0, p.purchase_sd, n)),
        ticket_mult=np.exp(rng.normal(0.0, 0.3, n)),
        support_channel=categorical(rng, (0.35, 0.25, 0.2, 0.1, 0.1), n),
        in_app_share=rng.beta(3.0, 2.0, n),
        first_name=rng.integers(0, n_names, n),
        last_name=rng.integers(0, n_names, n),
    )


def hazard(s: np.ndarray, tenure_weeks: np.ndarray, segment: np.ndarray, plan: np.ndarray,
           p: SimParams) -> np.ndarray:
    """Weekly churn hazard given satisfaction, tenure, segment and plan."""
    newness = 1.0 + p.hazard_new_boost * np.exp(-np.maximum(tenure_weeks, 0.0) / p.hazard_new_weeks)
    raw = (p.hazard_base * np.asarray(p.hazard_segment)[segment] * np.asarray(p.hazard_plan)[plan]
           * newness * np.exp(-p.hazard_k * s))
    return np.minimum(raw, p.hazard_cap)


@dataclass(frozen=True)
class History:
    """Time-stamped values of one customer attribute (plan or owner), initial values included."""

    cust: np.ndarray
    t: np.ndarray
    value: np.ndarray
    base: int

    def _keys(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (cust.astype(np.int64) << 32) | (np.asarray(t, dtype=np.int64) - self.base)

    def at(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Value in force for each (customer, instant)."""
        keys = self._keys(self.cust, self.t)
        order = np.argsort(keys, kind="stable")
        idx = np.searchsorted(keys[order], self._keys(cust, t), side="right") - 1
        return self.value[order][idx]

    def changes(self) -> tuple[np.ndarray, np.ndarray]:
        """(customer, instant) of every change after the initial values."""
        mask = self.t > self.base
        return self.cust[mask], self.t[mask]


@dataclass(frozen=True)
class Tickets:
    """Support cases (one row per ticket) and their inbound contacts (one row per contact)."""

    cust: np.ndarray
    sat: np.ndarray
    topic: np.ndarray
    extra: np.ndarray
    hops: np.ndarray
    resolved: np.ndarray
    last_t: np.ndarray
    resolved_t: np.ndarray
    last_channel: np.ndarray
    contact_ticket: np.ndarray
    contact_pos: np.ndarray
    contact_t: np.ndarray
    contact_channel: np.ndarray
    contact_handle: np.ndarray

    @property
    def badness(self) -> np.ndarray:
        return ticket_badness(self.extra, self.hops, self.resolved)


def ticket_badness(extra: np.ndarray, hops: np.ndarray, resolved: np.ndarray) -> np.ndarray:
    """How bad a support case felt: repeat contacts, channel hops, no resolution."""
    return 0.25 * extra + 0.35 * hops + 0.8 * (~resolved)


@dataclass(frozen=True)
class Simulation:
    """Result of the weekly simulation."""

    sat: np.ndarray
    churn: np.ndarray
    plan_at_cutoff: np.ndarray
    plans: History
    owners: History
    tickets: Tickets


#: Median handle time in seconds per support channel (email, chat, phone, social, in_app).
HANDLE_MEDIAN = np.array([240.0, 540.0, 420.0, 180.0, 300.0])
#: Ticket topic mix (TOPICS order); onboarding dominates in a customer's first eight weeks.
TOPIC_P = (0.22, 0.25, 0.08, 0.15, 0.15, 0.15)
TOPIC_P_NEW = (0.15, 0.15, 0.4, 0.1, 0.1, 0.1)


def _week_tickets(rng: np.random.Generator, s: np.ndarray, present: np.ndarray, lo: np.ndarray,
                  week_end: int, pop: Population, p: SimParams) -> dict[str, np.ndarray]:
    """Open this week's support tickets and play out their contacts."""
    counts = rng.poisson(p.ticket_base * pop.ticket_mult * np.exp(-p.ticket_k * s) * present)
    cust = np.repeat(np.arange(pop.n), counts)
    st = s[cust]
    n_t = len(cust)
    start = lo[cust] + (rng.random(n_t) * (week_end - lo[cust])).astype(np.int64)
    new = (start - pop.signup[cust]) < 8 * WEEK
    topic = np.where(new, categorical(rng, TOPIC_P_NEW, n_t), categorical(rng, TOPIC_P, n_t))
    extra = np.minimum(rng.poisson(p.repeat_base * np.exp(-p.repeat_k * st)), p.max_extra_contacts)
    n_c = 1 + extra
    tix = np.repeat(np.arange(n_t), n_c)
    first = np.cumsum(n_c) - n_c
    pos = np.arange(len(tix)) - first[tix]
    hop = (pos > 0) & (rng.random(len(tix)) < sigmoid(p.hop_intercept - p.hop_k * st)[tix])
    shift = np.cumsum(np.where(hop, rng.integers(1, N_SUPPORT_CHANNELS, len(tix)), 0))
    ch0 = np.where(rng.random(n_t) < 0.75, pop.support_channel[cust], rng.integers(0, N_SUPPORT_CHANNELS, n_t))
    channel = ((ch0[tix] + shift - shift[first][tix]) % N_SUPPORT_CHANNELS).astype(np.int8)
    gaps = np.cumsum(np.where(pos > 0, rng.exponential(p.repeat_gap_days * DAY, len(tix)), 0.0))
    contact_t = start[tix] + (gaps - gaps[first][tix]).astype(np.int64)
    handle = (HANDLE_MEDIAN[channel] * np.exp(-0.3 * st[tix]) * (1.0 + 0.15 * pos)
              * np.exp(rng.normal(0.0, 0.45, len(tix)))).astype(np.int32)
    hops = np.bincount(tix, weights=hop, minlength=n_t).astype(np.int32)
    resolved = rng.random(n_t) < sigmoid(p.resolve_intercept + p.resolve_k * st - 0.25 * extra)
    last = first + n_c - 1
    last_t = contact_t[last]
    return {
        "cust": cust, "sat": st, "topic": topic, "extra": extra, "hops": hops, "resolved": resolved,
        "last_t": last_t, "resolved_t": last_t + rng.exponential(0.8 * DAY, n_t).astype(np.int64),
        "last_channel": channel[last],
        "contact_ticket": tix, "contact_pos": pos, "contact_t": contact_t, "contact_channel": channel,
        "contact_handle": handle,
    }


def _concat_tickets(parts: list[dict[str, np.ndarray]]) -> Tickets:
    offsets = np.cumsum([0] + [len(part["cust"]) for part in parts[:-1]])
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    merged["contact_ticket"] = np.concatenate(
        [part["contact_ticket"] + off for part, off in zip(parts, offsets)])
    return Tickets(**merged)


def _change(rng: np.random.Generator, present: np.ndarray, prob: float, lo: np.ndarray,
            week_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Customers whose attribute changes this week and the instant of the change."""
    hit = present & (rng.random(len(present)) < prob)
    when = lo + (rng.random(len(present)) * (week_end - lo)).astype(np.int64)
    return hit, when


def simulate(rng: np.random.Generator, pop: Population, grid: TimeGrid, p: SimParams,
             n_owners: int) -> Simulation:
    """Run the weekly simulation from the grid start to the end of the horizon."""
    n = pop.n
    x = rng.normal(0.0, p.x_sd, n)
    sigma = p.x_sd * np.sqrt(1.0 - p.phi ** 2)
    plan, owner = pop.plan0.copy(), pop.owner0.copy()
    churn = np.full(n, NEVER, dtype=np.int64)
    sat = np.empty((n, grid.n_weeks), dtype=np.float32)
    base = grid.start - 20 * 365 * DAY
    plan_log = [(np.arange(n), np.full(n, base), plan.copy())]
    owner_log = [(np.arange(n), np.full(n, base), owner.copy())]
    ticket_parts, plan_at_cutoff = [], plan.copy()
    for week in range(grid.n_weeks):
        week_start = int(grid.week_start(week))
        week_end = week_start + WEEK
        present = (pop.signup < week_end) & (churn == NEVER)
        lo = np.maximum(pop.signup, week_start)
        s = pop.mu + x
        sat[:, week] = s
        if week == grid.n_hist:
            plan_at_cutoff = plan.copy()
        h = hazard(s, (week_start - pop.signup) / WEEK, pop.segment, plan, p)
        tickets = _week_tickets(rng, s, present, lo, week_end, pop, p)
        ticket_parts.append(tickets)
        badness = ticket_badness(tickets["extra"], tickets["hops"], tickets["resolved"])
        shock = np.minimum(np.bincount(tickets["cust"], weights=badness, minlength=n) * p.shock_per_badness,
                           p.max_weekly_shock)

        hit, when = _change(rng, present, p.plan_change_p, lo, week_end)
        down = rng.random(n) < sigmoid(-p.plan_change_k * s)
        new_plan = np.clip(plan + np.where(down, -1, 1), 0, 2).astype(np.int8)
        hit &= new_plan != plan
        plan_log.append((np.flatnonzero(hit), when[hit], new_plan[hit]))
        plan[hit] = new_plan[hit]
        hit, when = _change(rng, present, p.owner_change_p, lo, week_end)
        new_owner = ((owner + rng.integers(1, n_owners, n)) % n_owners).astype(np.int8)
        owner_log.append((np.flatnonzero(hit), when[hit], new_owner[hit]))
        owner[hit] = new_owner[hit]

        gone = present & (rng.random(n) < -np.expm1(-h))
        frac = rng.random(n)
        churn[gone] = lo[gone] + (frac[gone] * (week_end - lo[gone])).astype(np.int64)
        x = np.clip(p.phi * x + sigma * rng.standard_normal(n) - shock, -p.x_bound, p.x_bound)
    return Simulation(
        sat=sat,
        churn=churn,
        plan_at_cutoff=plan_at_cutoff,
        plans=_history(plan_log, base),
        owners=_history(owner_log, base),
        tickets=_concat_tickets(ticket_parts),
    )


def _history(log: list[tuple[np.ndarray, np.ndarray, np.ndarray]], base: int) -> History:
    return History(
        cust=np.concatenate([entry[0] for entry in log]).astype(np.int64),
        t=np.concatenate([entry[1] for entry in log]).astype(np.int64),
        value=np.concatenate([entry[2] for entry in log]).astype(np.int8),
        base=base,
    )


def oracle_probability(sim: Simulation, pop: Population, grid: TimeGrid, p: SimParams,
                       customers: np.ndarray) -> np.ndarray:
    """P(churn within the horizon) with satisfaction frozen at its cut-off value."""
    s = sim.sat[customers, grid.n_hist].astype(np.float64)
    weeks = grid.horizon_days / 7.0
    total = np.zeros(len(customers))
    for j in range(int(np.ceil(weeks))):
        tenure = (grid.cutoff + j * WEEK - pop.signup[customers]) / WEEK
        h = hazard(s, tenure, pop.segment[customers], sim.plan_at_cutoff[customers], p)
        total += min(1.0, weeks - j) * h
    return -np.expm1(-total)
