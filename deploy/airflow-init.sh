#!/usr/bin/env bash
# One-off initialisation of the compose deployment. The airflow-init service runs it (as root,
# through the image's entrypoint) and every other Airflow service waits for it to succeed.
# Safe to run again: each step leaves what is already there as it is.
set -euo pipefail

owner="${AIRFLOW_UID:-50000}:0"

# 1. Folders the other services write, owned by the user they run as (AIRFLOW_UID, group 0):
#    the dataset home (warehouse, models, reports), the landing folder with one sub-folder per
#    entity, Airflow's task logs and the folder of the login passwords file.
passwords_file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"
mkdir -p "${CUSTOMER_HEALTH_HOME:?}" \
         "${CUSTOMER_HEALTH_LANDING:?}/customers" \
         "${CUSTOMER_HEALTH_LANDING}/transactions" \
         "${CUSTOMER_HEALTH_LANDING}/interactions" \
         /opt/airflow/logs \
         "$(dirname "$passwords_file")"

# 2. The metadata database (PostgreSQL): create or upgrade the schema.
airflow db migrate

# 3. The pool every customer-health task takes (customer_health.assets.WAREHOUSE_POOL): DuckDB
#    allows one writer, so one slot. Without it the tasks never start.
airflow pools set customer_health_warehouse 1 "DuckDB warehouse of customer_health: one writer at a time"

# 4. The UI login: the simple auth manager reads each user's password from this file and would
#    generate a random one for a user it does not list; the admin's is the one set in .env.
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
text = path.read_text().strip() if path.exists() else ""
passwords = json.loads(text or "{}")
passwords[os.environ["AIRFLOW_ADMIN_USER"]] = os.environ["AIRFLOW_ADMIN_PASSWORD"]
path.write_text(json.dumps(passwords) + "\n")
path.chmod(0o660)
PY

chown -R "$owner" "$CUSTOMER_HEALTH_HOME" "$CUSTOMER_HEALTH_LANDING" /opt/airflow/logs \
                  "$(dirname "$passwords_file")"
echo "customer-health: Airflow initialised (database migrated, pool customer_health_warehouse, user ${AIRFLOW_ADMIN_USER})"
