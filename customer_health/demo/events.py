"""Observable events derived from the simulated latent satisfaction.

Builds the interaction and transaction events as numpy columns (categories as small
integer codes, instants as epoch seconds). Weekly counts are Poisson draws on an
(customers x weeks) rate matrix, expanded with ``np.repeat``; no per-event Python loops.
Only events inside [max(signup, start), min(churn, cut-off)) are kept; outbound
marketing continues for a while after churn.
"""

from __future__ import annotations

import numpy as np

from .clock import DAY, WEEK, TimeGrid, add_months, epoch, month_starts
from .params import (INTERACTION_CHANNELS as ICH, INTERACTION_TYPES as ITY, PLAN_PRODUCT, TOPICS,
                     TRANSACTION_CHANNELS as TCH, TRANSACTION_TYPES as TTY, SimParams)
from .simulate import NEVER, Population, Simulation, Tickets, categorical, sigmoid
from .text import COMPLAINT, FIRST_CONTACT, FOLLOW_UP, SURVEY

Columns = dict[str, np.ndarray]

INTERACTION_DEFAULTS = {
    "ticket": (-1, np.int64),
    "handle": (-1, np.int32),
    "csat": (0, np.int8),
    "nps": (-1, np.int8),
    "sentiment": (np.nan, np.float64),
    "topic": (-1, np.int8),
    "text_kind": (-1, np.int8),
}
INBOUND, OUTBOUND = 0, 1


def _codes(value: int | np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.int8), (n,)).copy()


def interaction_part(cust: np.ndarray, t: np.ndarray, channel, kind: str, direction: int,
                     limit: np.ndarray, **extra: np.ndarray) -> Columns:
    """One block of interaction rows; ``limit`` is the instant each row must precede."""
    n = len(cust)
    part = {"cust": cust.astype(np.int64), "t": t.astype(np.int64), "channel": _codes(channel, n),
            "type": _codes(ITY.index(kind), n), "direction": _codes(direction, n), "limit": limit}
    for key, (fill, dtype) in INTERACTION_DEFAULTS.items():
        part[key] = extra[key].astype(dtype) if key in extra else np.full(n, fill, dtype=dtype)
    return part


def presence(pop: Population, limit: np.ndarray, grid: TimeGrid) -> np.ndarray:
    """(customers x history weeks) mask: the customer exists during some of the week."""
    starts = grid.week_start(np.arange(grid.n_hist))
    return (pop.signup[:, None] < starts[None, :] + WEEK) & (limit[:, None] > starts[None, :])


def weekly_events(rng: np.random.Generator, rate: np.ndarray, grid: TimeGrid) -> tuple[np.ndarray, ...]:
    """Poisson counts per (customer, week) expanded to (customer, week, instant) rows."""
    counts = rng.poisson(rate)
    flat = np.repeat(np.arange(counts.size, dtype=np.int64), counts.ravel())
    cust, week = np.divmod(flat, rate.shape[1])
    t = grid.week_start(week) + (rng.random(len(flat)) * WEEK).astype(np.int64)
    return cust, week, t


def draw_sentiment(rng: np.random.Generator, centre: np.ndarray, sd: float) -> np.ndarray:
    """Sentiment in [-1, 1]: tanh of a noisy centre, rounded to 3 decimals."""
    return np.round(np.tanh(centre + rng.normal(0.0, sd, len(centre))), 3)


def engagement(rng: np.random.Generator, sat: np.ndarray, alive: np.ndarray, pop: Population,
               churn: np.ndarray, grid: TimeGrid, p: SimParams) -> list[Columns]:
    """Logins and feature use (floored rate), plus rare 'other' inbound touchpoints."""
    parts = []
    for kind, base, k, floor in (("login", pop.login_rate, p.login_k, p.login_floor),
                                 ("feature_use", pop.feature_rate, p.feature_k, 0.0)):
        rate = np.maximum(floor, base[:, None] * np.exp(k * sat)) * alive
        cust, _, t = weekly_events(rng, rate, grid)
        in_app = rng.random(len(cust)) < pop.in_app_share[cust]
        channel = np.where(in_app, ICH.index("in_app"), ICH.index("web"))
        parts.append(interaction_part(cust, t, channel, kind, INBOUND, churn[cust]))
    cust, _, t = weekly_events(rng, p.other_rate * alive, grid)
    channel = np.array([ICH.index("store"), ICH.index("other"), ICH.index("web")])[
        categorical(rng, (0.4, 0.4, 0.2), len(cust))]
    parts.append(interaction_part(cust, t, channel, "other", INBOUND, churn[cust]))
    return parts


def marketing(rng: np.random.Generator, pop: Population, churn: np.ndarray, grid: TimeGrid,
              p: SimParams) -> Columns:
    """Outbound marketing e-mails: noise that goes on for a few weeks after churn."""
    tail = (rng.exponential(p.marketing_after_churn_weeks * WEEK, pop.n)).astype(np.int64)
    limit = np.where(churn == NEVER, NEVER, churn + tail)
    cust, _, t = weekly_events(rng, p.marketing_rate * presence(pop, limit, grid), grid)
    channel = np.array([ICH.index("email"), ICH.index("social"), ICH.index("in_app")])[
        categorical(rng, (0.85, 0.1, 0.05), len(cust))]
    return interaction_part(cust, t, channel, "marketing", OUTBOUND, limit[cust])


def complaints(rng: np.random.Generator, sat: np.ndarray, alive: np.ndarray, churn: np.ndarray,
               grid: TimeGrid, p: SimParams) -> Columns:
    """Spontaneous complaints, more likely when satisfaction is low."""
    cust, week, t = weekly_events(rng, p.complaint_base * np.exp(-p.complaint_k * sat) * alive, grid)
    s = sat[cust, week]
    channel = np.array([ICH.index(c) for c in ("social", "email", "phone", "chat")])[
        categorical(rng, (0.4, 0.3, 0.2, 0.1), len(cust))]
    topic = np.array([TOPICS.index(t) for t in ("billing", "performance", "bug", "account")])[
        categorical(rng, (0.35, 0.25, 0.25, 0.15), len(cust))]
    return interaction_part(cust, t, channel, "complaint", INBOUND, churn[cust], topic=topic,
                            sentiment=draw_sentiment(rng, 0.7 * s - 0.8, 0.3),
                            text_kind=np.full(len(cust), COMPLAINT))


def nps_surveys(rng: np.random.Generator, sim: Simulation, pop: Population, grid: TimeGrid,
                p: SimParams) -> Columns:
    """Quarterly relationship NPS survey; responses (and their scores) reflect satisfaction."""
    parts = []
    rounds = range(0, 12 * (grid.cutoff_day.year - grid.start_day.year + 1), p.nps_every_months)
    for sent in (epoch(add_months(grid.start_day, months)) for months in rounds):
        if sent >= grid.cutoff:
            break
        s = sim.sat[:, int(grid.week_of(np.array([sent]))[0])].astype(np.float64)
        eligible = (pop.signup < sent) & (sim.churn > sent)
        answered = eligible & (rng.random(pop.n) < sigmoid(p.nps_response_intercept + p.nps_response_k * s))
        delay = np.minimum(rng.exponential(2.0 * DAY, pop.n), 14 * DAY).astype(np.int64)
        score = np.clip(np.rint(7.0 + 2.0 * s + rng.normal(0.0, p.nps_sd, pop.n)), 0, 10)
        has_text = rng.random(pop.n) < p.survey_text_p
        mood = np.round(np.tanh(0.9 * s + 0.15 * (score - 7) + rng.normal(0.0, p.sentiment_sd, pop.n)), 3)
        cust = np.flatnonzero(answered)
        parts.append(interaction_part(
            cust, sent + 3600 + delay[cust], ICH.index("survey"), "survey_response", INBOUND, sim.churn[cust],
            nps=score[cust], sentiment=np.where(has_text, mood, np.nan)[cust],
            text_kind=np.where(has_text, SURVEY, -1)[cust]))
    return concat(parts)


def support(rng: np.random.Generator, tk: Tickets, churn: np.ndarray, p: SimParams) -> list[Columns]:
    """Support contacts, resolutions, post-case CSAT surveys and escalated complaints."""
    n_t = len(tk.cust)
    ticket_ids = np.arange(n_t, dtype=np.int64)
    tix, pos = tk.contact_ticket, tk.contact_pos
    s_c = tk.sat[tix]
    has_text = (pos == 0) | (rng.random(len(tix)) < 0.6)
    contacts = interaction_part(
        tk.cust[tix], tk.contact_t, tk.contact_channel, "support_ticket", INBOUND, churn[tk.cust[tix]],
        ticket=tix, handle=tk.contact_handle, topic=tk.topic[tix],
        sentiment=np.where(has_text, draw_sentiment(rng, 0.8 * s_c - 0.3 - 0.15 * pos, p.sentiment_sd), np.nan),
        text_kind=np.where(has_text, np.where(pos == 0, FIRST_CONTACT, FOLLOW_UP), -1))
    res = np.flatnonzero(tk.resolved)
    resolutions = interaction_part(
        tk.cust[res], tk.resolved_t[res], tk.last_channel[res], "ticket_resolved", OUTBOUND, churn[tk.cust[res]],
        ticket=ticket_ids[res], topic=tk.topic[res])
    answered = rng.random(n_t) < np.where(tk.resolved, p.csat_response_resolved, p.csat_response_unresolved)
    sent = np.where(tk.resolved, tk.resolved_t, tk.last_t + 7 * DAY)
    score = np.clip(np.rint(3.0 + 1.5 * tk.sat + rng.normal(0.0, p.csat_sd, n_t) - 0.3 * tk.extra
                            - 0.3 * tk.hops - 0.8 * ~tk.resolved), 1, 5)
    has_text = rng.random(n_t) < p.survey_text_p
    mood = draw_sentiment(rng, 0.6 * tk.sat + 0.3 * (score - 3), p.sentiment_sd)
    when = sent + (rng.exponential(1.0 * DAY, n_t)).astype(np.int64)
    a = np.flatnonzero(answered)
    surveys = interaction_part(
        tk.cust[a], when[a], ICH.index("survey"), "survey_response", INBOUND, churn[tk.cust[a]],
        ticket=ticket_ids[a], csat=score[a], topic=tk.topic[a], sentiment=np.where(has_text, mood, np.nan)[a],
        text_kind=np.where(has_text, SURVEY, -1)[a])
    escalate = (tk.badness > 1.0) & (rng.random(n_t) < p.escalation_p)
    e = np.flatnonzero(escalate)
    channel = np.array([ICH.index(c) for c in ("social", "email", "phone")])[
        categorical(rng, (0.5, 0.3, 0.2), n_t)]
    escalations = interaction_part(
        tk.cust[e], (tk.last_t + rng.exponential(2.0 * DAY, n_t).astype(np.int64))[e], channel[e], "complaint",
        INBOUND, churn[tk.cust[e]], ticket=ticket_ids[e], topic=tk.topic[e],
        sentiment=draw_sentiment(rng, 0.7 * tk.sat - 0.8, 0.3)[e], text_kind=np.full(len(e), COMPLAINT))
    return [contacts, resolutions, surveys, escalations]


def concat(parts: list[Columns]) -> Columns:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def finish(cols: Columns, pop: Population, grid: TimeGrid) -> Columns:
    """Keep rows inside [max(signup, start), min(limit, cut-off)), sorted by (instant, customer)."""
    t, cust = cols["t"], cols["cust"]
    inside = (t >= np.maximum(pop.signup[cust], grid.start)) & (t < np.minimum(cols["limit"], grid.cutoff))
    rows = np.flatnonzero(inside)
    key = ((t[rows] - grid.start) << pop.n.bit_length()) | cust[rows]
    rows = rows[np.argsort(key, kind="stable")]
    return {name: value[rows] for name, value in cols.items() if name != "limit"}


def build_interactions(rng: np.random.Generator, sim: Simulation, pop: Population, grid: TimeGrid,
                       p: SimParams) -> Columns:
    sat = sim.sat[:, :grid.n_hist].astype(np.float64)
    alive = presence(pop, sim.churn, grid)
    parts = engagement(rng, sat, alive, pop, sim.churn, grid, p)
    parts.append(marketing(rng, pop, sim.churn, grid, p))
    parts.append(complaints(rng, sat, alive, sim.churn, grid, p))
    parts.append(nps_surveys(rng, sim, pop, grid, p))
    parts.extend(support(rng, sim.tickets, sim.churn, p))
    return finish(concat(parts), pop, grid)


def transaction_part(cust: np.ndarray, t: np.ndarray, kind: str, amount: np.ndarray, product: np.ndarray,
                     channel, limit: np.ndarray) -> Columns:
    n = len(cust)
    return {"cust": cust.astype(np.int64), "t": t.astype(np.int64), "type": _codes(TTY.index(kind), n),
            "amount": amount.astype(np.float64), "product": product.astype(np.int8),
            "channel": _codes(channel, n), "limit": limit}


def purchases(rng: np.random.Generator, sat: np.ndarray, alive: np.ndarray, pop: Population,
              churn: np.ndarray, grid: TimeGrid, p: SimParams) -> list[Columns]:
    """One-off purchases (more when satisfied) and their refunds (more when not)."""
    rate = pop.purchase_rate[:, None] * np.exp(p.purchase_k * sat) * alive
    cust, week, t = weekly_events(rng, rate, grid)
    n = len(cust)
    median = np.asarray(p.amount_median_by_segment)[pop.segment[cust]]
    amount = np.round(median * np.exp(rng.normal(0.0, p.amount_sd, n)), 2)
    product = categorical(rng, (0.2, 0.15, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1), n)  # one-off products only
    channel = categorical(rng, (0.5, 0.2, 0.2, 0.1), n)
    bought = transaction_part(cust, t, "purchase", amount, product, channel, churn[cust])
    refunded = rng.random(n) < sigmoid(p.refund_intercept - p.refund_k * sat[cust, week])
    share = np.where(rng.random(n) < 0.7, 1.0, rng.uniform(0.2, 0.8, n))
    sign = np.where(rng.random(n) < 0.6, -1.0, 1.0)
    delay = (rng.uniform(1.0, 21.0, n) * DAY).astype(np.int64)
    r = np.flatnonzero(refunded)
    refunds = transaction_part(cust[r], (t + delay)[r], "refund", (sign * np.round(amount * share, 2))[r],
                               product[r], channel[r], churn[cust[r]])
    return [bought, refunds]


def subscriptions(rng: np.random.Generator, sim: Simulation, pop: Population, grid: TimeGrid,
                  p: SimParams) -> Columns:
    """Monthly subscription payments of customers on a paid plan (pro, premium)."""
    firsts = [epoch(day) for day in month_starts(add_months(grid.start_day, -1), grid.cutoff_day)]
    signup_day = pop.signup.astype("datetime64[s]").astype("datetime64[D]")
    billing_day = np.minimum((signup_day - signup_day.astype("datetime64[M]")).astype(np.int64), 27)
    hour = rng.integers(1, 6, pop.n) * 3600
    due = np.asarray(firsts)[None, :] + (billing_day * DAY + hour)[:, None]
    cust, month = np.nonzero(due >= pop.signup[:, None])
    t = due[cust, month]
    plan = sim.plans.at(cust, t)
    paid = plan > 0
    cust, t, plan = cust[paid], t[paid], plan[paid]
    amount = np.asarray(p.plan_price)[plan] * pop.seats[cust]
    return transaction_part(cust, t, "subscription_payment", amount, np.asarray(PLAN_PRODUCT)[plan],
                            TCH.index("web"), sim.churn[cust])


def cancellations(rng: np.random.Generator, sim: Simulation, pop: Population, p: SimParams) -> Columns:
    """An explicit cancellation at churn time for a share of the churners (amount 0 or empty)."""
    emits = (sim.churn != NEVER) & (rng.random(pop.n) < p.cancellation_share)
    amount = np.where(rng.random(pop.n) < 0.5, 0.0, np.nan)
    channel = np.where(rng.random(pop.n) < 0.6, TCH.index("web"), TCH.index("phone"))
    cust = np.flatnonzero(emits)
    plan = sim.plans.at(cust, sim.churn[cust])
    product = np.where(plan > 0, np.asarray(PLAN_PRODUCT)[plan], -1)
    return transaction_part(cust, sim.churn[cust], "cancellation", amount[cust], product, channel[cust],
                            sim.churn[cust] + 1)


def build_transactions(rng: np.random.Generator, sim: Simulation, pop: Population, grid: TimeGrid,
                       p: SimParams) -> Columns:
    sat = sim.sat[:, :grid.n_hist].astype(np.float64)
    alive = presence(pop, sim.churn, grid)
    parts = purchases(rng, sat, alive, pop, sim.churn, grid, p)
    parts.append(subscriptions(rng, sim, pop, grid, p))
    parts.append(cancellations(rng, sim, pop, p))
    return finish(concat(parts), pop, grid)
