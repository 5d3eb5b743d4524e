"""Turn simulated events into the landing-zone columns of the input contract.

Each builder returns a :class:`~customer_health.demo.writers.Frame` whose columns are
exactly the ones DESIGN.md's input contract names, in that order, sorted by time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .clock import TimeGrid
from .events import Columns
from .params import (ACCOUNT_OWNERS, DIRECTIONS, INTERACTION_CHANNELS, INTERACTION_TYPES, PLANS, PRODUCTS,
                     REGION_CURRENCY, REGIONS, SEGMENTS, TOPICS, TRANSACTION_CHANNELS, TRANSACTION_TYPES,
                     SimParams)
from .simulate import Population, Simulation, categorical
from .text import compose, contact_details
from .writers import Frame, date_strings, decode, id_strings, nullable

CUSTOMER_COLUMNS = ("customer_id", "signup_at", "segment", "plan", "region", "account_owner", "email",
                    "updated_at")
TRANSACTION_COLUMNS = ("transaction_id", "customer_id", "occurred_at", "type", "amount", "currency", "product",
                       "channel")
INTERACTION_COLUMNS = ("interaction_id", "customer_id", "occurred_at", "channel", "type", "direction",
                       "ticket_id", "handle_seconds", "csat", "nps", "sentiment", "text", "topic")


def customer_ids(n: int) -> pa.Array:
    """'C000001' .. in signup order."""
    return id_strings("C", np.arange(1, n + 1), max(6, len(str(n))))


def customer_emails(n: int) -> pa.Array:
    """Fake addresses 'c000001@example.com' ..."""
    local = id_strings("c", np.arange(1, n + 1), max(6, len(str(n))))
    return pc.binary_join_element_wise(local, "@example.com", "")


def zone_styles(rng: np.random.Generator, n: int, p: SimParams) -> np.ndarray:
    return categorical(rng, p.zone_suffix_p, n)


def _customer_values(ids: pa.Array, emails: pa.Array, pop: Population, sim: Simulation, cust: np.ndarray,
                     t: np.ndarray) -> dict[str, pa.Array]:
    idx = pa.array(cust)
    return {
        "customer_id": ids.take(idx),
        "segment": decode(SEGMENTS, pop.segment[cust]),
        "plan": decode(PLANS, sim.plans.at(cust, t)),
        "region": decode(REGIONS, pop.region[cust]),
        "account_owner": decode(ACCOUNT_OWNERS, sim.owners.at(cust, t)),
        "email": emails.take(idx),
    }


def customer_snapshot(rng: np.random.Generator, ids: pa.Array, emails: pa.Array, pop: Population,
                      sim: Simulation, grid: TimeGrid) -> Frame:
    """The initial CRM export: customers signed up before the data starts, state at the start."""
    cust = np.flatnonzero(pop.signup < grid.start)
    values = _customer_values(ids, emails, pop, sim, cust, np.full(len(cust), grid.start - 1))
    values["signup_at"] = date_strings(pop.signup[cust])
    updated = pop.signup[cust] + (rng.random(len(cust)) * (grid.start - pop.signup[cust])).astype(np.int64)
    return Frame(CUSTOMER_COLUMNS, values, {"updated_at": updated}, np.zeros(len(cust), dtype=np.int8))


def customer_updates(rng: np.random.Generator, ids: pa.Array, emails: pa.Array, pop: Population,
                     sim: Simulation, grid: TimeGrid, p: SimParams) -> Frame:
    """Later changes: new sign-ups, plan and owner changes; each row is the full record."""
    new = np.flatnonzero((pop.signup >= grid.start) & (pop.signup < grid.cutoff))
    plan_cust, plan_t = sim.plans.changes()
    owner_cust, owner_t = sim.owners.changes()
    cust = np.concatenate([new, plan_cust, owner_cust])
    t = np.concatenate([pop.signup[new], plan_t, owner_t])
    keep = (t >= grid.start) & (t < grid.cutoff) & (t >= pop.signup[cust])
    order = np.lexsort((cust[keep], t[keep]))
    cust, t = cust[keep][order], t[keep][order]
    values = _customer_values(ids, emails, pop, sim, cust, t)
    times = {"signup_at": pop.signup[cust], "updated_at": t}
    return Frame(CUSTOMER_COLUMNS, values, times, zone_styles(rng, len(cust), p))


def transaction_frame(rng: np.random.Generator, ids: pa.Array, pop: Population, tx: Columns,
                      p: SimParams) -> Frame:
    n = len(tx["cust"])
    values = {
        "transaction_id": id_strings("T", np.arange(1, n + 1), 9),
        "customer_id": ids.take(pa.array(tx["cust"])),
        "type": decode(TRANSACTION_TYPES, tx["type"]),
        "amount": pa.array(tx["amount"], from_pandas=True),
        "currency": decode(REGION_CURRENCY, pop.region[tx["cust"]]),
        "product": decode(PRODUCTS, tx["product"]),
        "channel": decode(TRANSACTION_CHANNELS, tx["channel"]),
    }
    return Frame(TRANSACTION_COLUMNS, values, {"occurred_at": tx["t"]}, zone_styles(rng, n, p))


def _texts(rng: np.random.Generator, ix: Columns, details: tuple[pa.Array, ...]) -> pa.Array:
    kind = ix["text_kind"]
    rows = np.flatnonzero(kind >= 0)
    texts = compose(rng, kind[rows], ix["topic"][rows], ix["sentiment"][rows], ix["cust"][rows], details)
    slot = np.full(len(kind), -1, dtype=np.int64)
    slot[rows] = np.arange(len(rows))
    return texts.take(pa.array(np.maximum(slot, 0), mask=slot < 0))


def interaction_frame(rng: np.random.Generator, ids: pa.Array, emails: pa.Array, pop: Population, ix: Columns,
                      p: SimParams) -> Frame:
    n = len(ix["cust"])
    values = {
        "interaction_id": id_strings("I", np.arange(1, n + 1), 9),
        "customer_id": ids.take(pa.array(ix["cust"])),
        "channel": decode(INTERACTION_CHANNELS, ix["channel"]),
        "type": decode(INTERACTION_TYPES, ix["type"]),
        "direction": decode(DIRECTIONS, ix["direction"]),
        "ticket_id": _ticket_ids(ix["ticket"]),
        "handle_seconds": nullable(ix["handle"], ix["handle"] < 0, pa.int32()),
        "csat": nullable(ix["csat"], ix["csat"] <= 0, pa.int8()),
        "nps": nullable(ix["nps"], ix["nps"] < 0, pa.int8()),
        "sentiment": pa.array(ix["sentiment"], from_pandas=True),
        "text": _texts(rng, ix, contact_details(pop.n, pop.first_name, pop.last_name, emails)),
        "topic": decode(TOPICS, ix["topic"]),
    }
    return Frame(INTERACTION_COLUMNS, values, {"occurred_at": ix["t"]}, zone_styles(rng, n, p))


def _ticket_ids(ticket: np.ndarray) -> pa.Array:
    has = ticket >= 0
    slot = np.cumsum(has) - 1
    ids = id_strings("TK", ticket[has] + 1, 8)
    return ids.take(pa.array(np.maximum(slot, 0), mask=~has))
