"""``agreement``: the pandas peer against ``fct_customer_features``, every feature the peer
computes, on every as-of date of the mart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Numbers agree when |peer - mart| <= ATOL + RTOL * |mart|; text and nulls must be equal.
# Counts, days and quintiles are integers on both sides. Sums and averages: dbt rounds each
# value to numeric(28,6), adds in exact decimals and casts to double; the peer does the same
# in millionths (events.micro), so on our data every value agrees to the bit. The tolerance
# is kept just above zero for the floating-point steps both sides take in double with
# different libraries (numpy and DuckDB): the power behind the activity score's decay weights
# and the divisions behind ratios and averages, which may differ in the last bit (1e-16
# relative) on other data. 1e-12 is far below any difference a model or a reader could notice.
# (A last-bit difference exactly at half a millionth before a rounding would still show as a
# mismatch of one millionth; none occurs in the benchmark's data.)
RTOL = 1e-12
ATOL = 1e-12


# Columns of the mart that are not features: keys, labels, and the account owner (a contact).
NOT_FEATURES = ("customer_id", "as_of", "is_scoring_date", "is_eligible", "churned", "account_owner")


def agreement(peer: pd.DataFrame, warehouse: Path) -> dict:
    """Per feature the peer computes that the mart has, how many (customer, as-of) values
    differ (nulls equal only to nulls, numbers within RTOL/ATOL, text exactly); rows compared,
    rows only one side has, the mart's columns, and its feature columns the peer lacks."""
    import duckdb

    features = [c for c in peer.columns if c not in ("customer_id", "as_of")]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        mart_columns = [row[0] for row in con.execute("describe main.fct_customer_features").fetchall()]
        compared = [f for f in features if f in mart_columns]
        result = {"rows": 0, "mart_rows": 0, "peer_rows": int(len(peer)), "only_in_mart": 0,
                  "only_in_peer": 0, "as_of_dates": 0, "tolerance": {"rtol": RTOL, "atol": ATOL},
                  "features": dict.fromkeys(compared, 0), "mart_columns": mart_columns,
                  "mart_features": len([c for c in mart_columns if c not in NOT_FEATURES]),
                  "without_peer": [c for c in mart_columns if c not in NOT_FEATURES and c not in compared]}
        as_of_dates = [row[0] for row in con.execute(
            "select distinct as_of from main.fct_customer_features order by 1").fetchall()]
        peer_dates = pd.to_datetime(peer["as_of"]).dt.date
        for as_of in as_of_dates:  # one date at a time: the mart has about 100 columns
            mart = con.execute(f"select customer_id, {', '.join(compared)} "
                               "from main.fct_customer_features where as_of = ?", [as_of]).df()
            _compare_date(mart, peer[peer_dates == as_of], compared, result)
            result["as_of_dates"] += 1
    finally:
        con.close()
    result["mismatches"] = int(sum(result["features"].values()))
    return result


def _compare_date(mart: pd.DataFrame, ours: pd.DataFrame, compared: list[str], result: dict) -> None:
    mart = mart.assign(customer_id=mart["customer_id"].astype("str"))
    ours = ours.assign(customer_id=ours["customer_id"].astype("str"))
    joined = mart.merge(ours, on="customer_id", how="outer", suffixes=("_dbt", "_pandas"),
                        indicator=True)
    result["mart_rows"] += int(len(mart))
    result["only_in_mart"] += int((joined["_merge"] == "left_only").sum())
    result["only_in_peer"] += int((joined["_merge"] == "right_only").sum())
    joined = joined[joined["_merge"] == "both"]
    result["rows"] += int(len(joined))
    for name in compared:
        a, b = joined[f"{name}_dbt"], joined[f"{name}_pandas"]
        if pd.api.types.is_numeric_dtype(a) or pd.api.types.is_bool_dtype(a):
            a = pd.to_numeric(a, errors="coerce").astype("float64").to_numpy()
            b = pd.to_numeric(b, errors="coerce").astype("float64").to_numpy()
            both_null = np.isnan(a) & np.isnan(b)
            with np.errstate(invalid="ignore"):
                close = np.abs(a - b) <= ATOL + RTOL * np.abs(a)
            same = both_null | close
        else:
            same = (a.isna() & b.isna()) | (a.astype("object") == b.astype("object"))
            same = np.asarray(same, dtype=bool)
        result["features"][name] += int((~same).sum())
