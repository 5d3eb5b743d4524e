#!/usr/bin/env bash
# Runs once, when the compose PostgreSQL starts on an empty data volume (postgres's
# /docker-entrypoint-initdb.d): a database `analytics` owned by the role `analytics`, where the
# pipeline's exports.postgres copies the output tables for BI tools. The password comes from
# ANALYTICS_DB_PASSWORD (.env); psql passes it as a variable, never spliced into the SQL text.
set -euo pipefail

: "${ANALYTICS_DB_PASSWORD:?set ANALYTICS_DB_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v analytics_password="$ANALYTICS_DB_PASSWORD" <<'SQL'
CREATE ROLE analytics LOGIN PASSWORD :'analytics_password';
CREATE DATABASE analytics OWNER analytics;
SQL
