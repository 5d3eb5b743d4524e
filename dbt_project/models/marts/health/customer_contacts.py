"""How to reach each customer, as far as privacy.export_personal_data allows (one row each).

A Python model because the keyed hash needs a secret: the key is read from the environment
variable the runner names (var pii_hash_key_env) while the model runs, so it never appears in
compiled SQL, dbt's logs or its artefacts. Modes:
  none    no rows: nothing derived from an email leaves the raw layer
  hashed  email_hash = HMAC-SHA256(key, lower(trim(email))) in hex, or SHA-256 without a key
  plain   email_hash and the email (trimmed)
The email is the one of each customer's latest record, as stg_customers picks it.
"""

import hashlib
import hmac
import os

import pyarrow as pa

MODES = ("none", "hashed", "plain")

LATEST_EMAILS = """
    select customer_id, email
    from (
        select
            customer_id,
            email,
            row_number() over (
                partition by customer_id
                order by coalesce(updated_at, signup_at) desc, _ingested_at desc, _line desc
            ) as version_rank
        from customers
    ) as versions
    where version_rank = 1
"""


def _hasher(key_env):
    key = (os.environ.get(key_env) or "").strip() if key_env else ""
    if key:
        return lambda text: hmac.new(key.encode("utf-8"), text.encode("utf-8"),
                                     hashlib.sha256).hexdigest()
    return lambda text: hashlib.sha256(text.encode("utf-8")).hexdigest()


def model(dbt, session):
    dbt.config(materialized="table")
    mode = dbt.config.get("export_personal_data") or "none"
    if mode not in MODES:
        raise ValueError(f"export_personal_data must be one of {', '.join(MODES)}, not {mode!r}")
    ids, hashes, emails = [], [], []
    if mode != "none":
        digest = _hasher(dbt.config.get("pii_hash_key_env"))
        rows = dbt.source("raw", "customers").query("customers", LATEST_EMAILS).fetchall()
        for customer_id, email in rows:
            email = (email or "").strip()
            if "@" not in email:
                continue  # no address to reach the customer by
            ids.append(customer_id)
            hashes.append(digest(email.lower()))
            emails.append(email if mode == "plain" else None)
    return pa.table({"customer_id": pa.array(ids, pa.string()),
                     "email_hash": pa.array(hashes, pa.string()),
                     "email": pa.array(emails, pa.string())})
