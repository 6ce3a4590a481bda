#!/usr/bin/env bash
# Client-library layer: vector_ext driven by the real Python clients from PyPI (pgvector's
# adapters for psycopg 3, psycopg2, asyncpg, pg8000, SQLAlchemy, SQLModel, Django, peewee), in
# the virtualenv made by scripts/clients-venv.sh, against a throwaway cluster of its own.
#
#   bash tests/clients/run.sh [pytest arguments...]     e.g. -k django, -x, -q
#
# Needs the extension installed in the system Postgres (scripts/test.sh's other layers do that).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
LOG_TAG=clients

DIR=${VECTOR_EXT_CLIENTS_DIR:-/tmp/vector_ext_clients}
PORT=${VECTOR_EXT_CLIENTS_PORT:-5631}
DB=vector_ext_clients
VENV=${VECTOR_EXT_VENV:-$HOME/.cache/vector_ext/clients-venv}

bash scripts/clients-venv.sh   # idempotent; a no-op when the venv is up to date

# A fresh cluster every run: nothing left over from an earlier one.
cluster_stop "$DIR"
rm -rf "$DIR/data" "$DIR/postgres.log"
cluster_start "$DIR" "$PORT"
trap 'cluster_stop "$DIR"' EXIT

psql_() { as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
psql_ -d postgres -c "CREATE DATABASE $DB"
if vector_is_alias; then
  extension=vector
else
  # pgvector itself owns the name `vector` on this machine (a benchmark set-up).
  log "vector.control is pgvector's: using CREATE EXTENSION vector_ext instead of the alias"
  extension=vector_ext
fi
log "CREATE EXTENSION $extension"
psql_ -d "$DB" -c "CREATE EXTENSION $extension"
psql_ -d "$DB" -Atc "SELECT 'installed: ' || extname || ' ' || extversion FROM pg_extension WHERE extname LIKE 'vector%'" >&2

export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=$DB
export VECTOR_EXT_CLIENTS_EXTENSION=$extension
export PYTHONDONTWRITEBYTECODE=1
log "pytest tests/clients ($("$VENV/bin/python" --version))"
status=0
"$VENV/bin/python" -m pytest tests/clients -p no:cacheprovider -ra --durations=5 "$@" || status=$?
if [ $status -ne 0 ]; then
  log "client-library tests failed (exit $status); server log: $DIR/postgres.log"
  tail -n 30 "$DIR/postgres.log" >&2 || true
fi
exit $status
