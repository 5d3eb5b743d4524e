"""Support experience features (dbt: int_support_features) from ticket contacts and tickets:
cases opened, resolved and still open, resolution time and first-contact resolution, repeat
contacts and channel switches, handling time, complaints, contacts per channel, and the
resolution and handling times against the customer's peers on the same date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_health.bench.pandas_peer.events import Events, decimal_mean, micro, observed, window

FEATURES = (
    "tickets_opened_90d", "tickets_per_month_365d", "tickets_resolved_90d", "open_tickets",
    "avg_resolution_hours_90d", "resolution_vs_peers_90d", "first_contact_resolution_90d",
    "contacts_per_ticket_90d", "repeat_contacts_90d", "repeat_contacts_365d",
    "channel_hops_90d", "channel_hops_365d", "avg_handle_minutes_90d",
    "handle_time_vs_peers_90d", "complaints_90d", "chat_contacts_90d",
    "phone_contacts_90d", "email_contacts_90d", "social_contacts_90d",
)
CHANNELS = ("chat", "phone", "email", "social")
_COUNTS = ("tickets_opened_90d", "tickets_resolved_90d", "open_tickets", "repeat_contacts_90d",
           "repeat_contacts_365d", "channel_hops_90d", "channel_hops_365d", "complaints_90d",
           *(f"{channel}_contacts_90d" for channel in CHANNELS))


def support_features(ev: Events, cut: int, observed_days: pd.Series, spine: pd.Series,
                     peer_group: str) -> pd.DataFrame:
    """Per customer (every known id) for the cutoff day ``cut``; peers are the customers of
    ``spine`` (a boolean mask) with the same ``peer_group`` attribute (segment, plan or region)."""

    def per_customer(frame: pd.DataFrame):
        return frame.groupby("customer_id", observed=False)

    out = pd.DataFrame(index=ev.customers.index)
    year = window(ev.contacts, cut, 365)
    last_90d = window(year, cut, 90)
    on_ticket = last_90d[last_90d["is_ticket_contact"]]
    contacts_90d = per_customer(on_ticket).size()
    contacted_tickets_90d = per_customer(on_ticket)["ticket_id"].nunique()
    out["complaints_90d"] = per_customer(last_90d[last_90d["type"] == "complaint"]).size()
    for days, frame in ((90, last_90d), (365, year)):
        out[f"repeat_contacts_{days}d"] = per_customer(frame)["is_repeat_contact"].sum()
        out[f"channel_hops_{days}d"] = per_customer(frame)["is_channel_hop"].sum()
    for channel in CHANNELS:
        out[f"{channel}_contacts_90d"] = per_customer(on_ticket[on_ticket["channel"] == channel]).size()
    out["avg_handle_minutes_90d"] = decimal_mean(per_customer(on_ticket)["handle_minutes_micro"])
    out["contacts_per_ticket_90d"] = contacts_90d / contacted_tickets_90d.replace(0, np.nan)

    tickets = window(ev.tickets, cut, 365, column="opened_day")
    out["tickets_opened_90d"] = per_customer(window(tickets, cut, 90, column="opened_day")).size()
    tickets_opened_365d = per_customer(tickets).size()
    resolved = window(tickets, cut, 90, column="resolved_day")
    out["tickets_resolved_90d"] = per_customer(resolved).size()
    first_contact = per_customer(resolved[resolved["contacts_to_resolve"] == 1]).size()
    out["first_contact_resolution_90d"] = first_contact / out["tickets_resolved_90d"].replace(0, np.nan)
    out["avg_resolution_hours_90d"] = decimal_mean(per_customer(resolved)["resolution_hours_micro"])
    # cases opened within the year and not resolved by the cutoff
    out["open_tickets"] = per_customer(tickets[~(tickets["resolved_day"] < cut)]).size()
    out["tickets_per_month_365d"] = 30.0 * tickets_opened_365d / observed_days
    out[list(_COUNTS)] = out[list(_COUNTS)].astype("int32")

    # the peer average is taken over numeric(28,6) values, as in dbt
    peers = ev.customers[peer_group]
    for name, measure in (("handle_time_vs_peers_90d", "avg_handle_minutes_90d"),
                          ("resolution_vs_peers_90d", "avg_resolution_hours_90d")):
        grouped = micro(out[measure]).where(spine).groupby(peers, dropna=False)
        peer_average = grouped.transform("sum") / (grouped.transform("count") * 1e6)
        out[name] = out[measure] / peer_average.replace(0, np.nan)

    for column in ("tickets_opened_90d", "tickets_per_month_365d", "repeat_contacts_90d",
                   "repeat_contacts_365d", "channel_hops_90d", "channel_hops_365d",
                   *(f"{channel}_contacts_90d" for channel in CHANNELS)):
        out[column] = observed(out[column], ev.coverage["has_tickets"])
    for column in ("tickets_resolved_90d", "open_tickets"):
        out[column] = observed(out[column], ev.coverage["has_resolutions"])
    out["complaints_90d"] = observed(out["complaints_90d"], ev.coverage["has_interactions"])
    return out[list(FEATURES)]
