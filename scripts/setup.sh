#!/usr/bin/env bash
# Make a fresh Debian 12 machine ready to build, test and demo vector_ext.
# Idempotent: every step checks whether it is already done.
set -euo pipefail

PGVER=15
PG_CONFIG=/usr/lib/postgresql/$PGVER/bin/pg_config
PGRX_VERSION=0.18.0

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_pkgs=()
for p in postgresql-$PGVER postgresql-server-dev-$PGVER clang libclang-dev sudo pkg-config \
         libssl-dev build-essential python3 python3-venv; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
else
  log "Debian packages present"
fi

# The Debian package starts a cluster on 5432; we never use it, and it costs memory.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  as_root pg_ctlcluster $PGVER main stop 2>/dev/null || true
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "installing cargo-pgrx $PGRX_VERSION (takes a few minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
else
  log "cargo-pgrx $PGRX_VERSION present"
fi

PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
if ! grep -qs "pg$PGVER" "$PGRX_HOME/config.toml"; then
  log "cargo pgrx init --pg$PGVER"
  cargo pgrx init --pg$PGVER "$PG_CONFIG"
else
  log "pgrx already initialised for pg$PGVER"
fi

# pgrx installs the extension into the system Postgres tree; tests run the server as postgres,
# which must be able to read the target dir and write its pgdata.
# The client-library test layer's virtualenv (pgvector's Python package, drivers, ORMs).
bash "$(dirname "${BASH_SOURCE[0]}")/clients-venv.sh"

log "ready"
