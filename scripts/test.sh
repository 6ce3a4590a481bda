#!/usr/bin/env bash
# Every test layer of vector_ext:
#   1. pure-Rust unit tests (core kernels, parsing, …; bench crate's dataset/recall logic)
#   2. in-server tests through pgrx (`cargo pgrx test`, server run as the postgres user)
#   3. SQL regression files under tests/pg_regress (input + expected output)
#   4. multi-process tests (tests/multiprocess): crash recovery, standby replay, concurrency
#   5. client libraries (tests/clients): pgvector's Python package with psycopg 3, psycopg2,
#      asyncpg, pg8000, SQLAlchemy, SQLModel, Django, peewee, against a cluster of its own
# Usage: scripts/test.sh [core|server|regress|multiprocess|clients]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

PGDATA_DIR=${VECTOR_EXT_TEST_PGDATA:-/tmp/vector_ext_test}
layers=("$@"); [ ${#layers[@]} -gt 0 ] || layers=(core server regress multiprocess clients)

source scripts/lib.sh
LOG_TAG=test
bash scripts/setup.sh >&2   # idempotent: a no-op once the machine is ready

prepare_pgdata() {
  mkdir -p "$PGDATA_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PGDATA_DIR"; fi
}

# SQL regression files: tests/pg_regress/sql/*.sql against expected/*.out, `setup` first.
# REGRESS_UPDATE=1 copies the actual output over the expected files (then review the diff!).
run_regress() {
  REGRESS_DIR="$PGDATA_DIR/regress"
  local dir=$REGRESS_DIR port=${VECTOR_EXT_TEST_PORT:-5499}
  install_extension --release
  # The 0.1.0 install script, for the upgrade test (ALTER EXTENSION … UPDATE from 0.1.0).
  install -m 644 tests/upgrade/vector_ext--0.1.0.sql "$("$PG_CONFIG" --sharedir)/extension/"
  # No autovacuum: an automatic ANALYZE holds a snapshot that keeps a test's VACUUM from
  # removing the rows it deleted, and tests measure what VACUUM frees.
  cluster_start "$dir" "$port" autovacuum=off
  trap 'cluster_stop "$REGRESS_DIR"' EXIT
  local tests=(setup)
  for f in tests/pg_regress/sql/*.sql; do
    local t; t=$(basename "$f" .sql); [ "$t" = setup ] || tests+=("$t")
  done
  if ! vector_is_alias; then
    # pgvector itself owns CREATE EXTENSION vector on this machine (a benchmark set-up).
    echo "skipping regression file alias: pgvector is installed, so CREATE EXTENSION vector is pgvector's"
    local kept=(); for t in "${tests[@]}"; do [ "$t" = alias ] || kept+=("$t"); done
    tests=("${kept[@]}")
  fi
  if [ "${REGRESS_UPDATE:-0}" = 1 ]; then
    for t in "${tests[@]}"; do touch "tests/pg_regress/expected/$t.out"; done
  fi
  local out="$dir/out"; rm -rf "$out"; mkdir -p "$out"; chown postgres "$out"
  local status=0
  as_postgres "$PG_REGRESS" --host=127.0.0.1 --port="$port" --user=postgres \
    --dbname=vector_ext_regress --inputdir=tests/pg_regress --outputdir="$out" \
    --bindir="$PG_BIN" "${tests[@]}" || status=$?
  if [ $status -ne 0 ]; then
    if [ "${REGRESS_UPDATE:-0}" = 1 ]; then
      cp "$out"/results/*.out tests/pg_regress/expected/
      log "expected output updated from $out/results; review with git diff"
    else
      cat "$out/regression.diffs" 2>/dev/null | head -200
      return $status
    fi
  fi
  cluster_stop "$dir"; trap - EXIT
}

runas=()
if [ "$(id -u)" -eq 0 ]; then runas=(--runas postgres); fi

# Which build of the extension the system Postgres has now: the pgrx layer installs a debug
# build with test hooks, the others the release build. The release build is left installed,
# so a benchmark run after the tests measures the real thing.
installed=
for layer in "${layers[@]}"; do
  case "$layer" in
    core)
      echo "== core unit tests"
      cargo test -p vector_core -p vector_bench
      ;;
    server)
      echo "== in-server tests (cargo pgrx test)"
      prepare_pgdata
      cargo pgrx test pg15 "${runas[@]}" --pgdata "$PGDATA_DIR/pgrx-test"
      installed=debug
      ;;
    regress)
      echo "== SQL regression tests (cargo pgrx regress)"
      prepare_pgdata
      run_regress
      installed=release
      ;;
    multiprocess)
      echo "== multi-process tests (crash recovery, standby, concurrency)"
      bash tests/multiprocess/run.sh
      installed=release
      ;;
    clients)
      echo "== client-library tests (pgvector's Python adapters, drivers and ORMs from PyPI)"
      if [ "$installed" != release ]; then install_extension --release; installed=release; fi
      bash tests/clients/run.sh
      ;;
    *) echo "unknown layer: $layer" >&2; exit 2 ;;
  esac
done
if [ "$installed" = debug ]; then
  install_extension --release
fi
echo "all requested test layers passed"
