#!/usr/bin/env bash
# The main job, end to end on a fresh Debian 12 machine:
#   1. set up the machine (scripts/setup.sh), build + install vector_ext (release profile) and
#      the benchmark client vector-bench (bench/);
#   2. start a throwaway PostgreSQL 15 cluster owned by `postgres` in .demo/ on 127.0.0.1:5544
#      (a cluster already running there is used as it is, and left running);
#   3. load a seeded synthetic clustered data set (100,000 x 384 by default) with binary COPY,
#      compute its exact ground truth, build a `flat` (exact) and an `ivfflat` index with
#      progress bars, run nearest-neighbour queries and print which plan each uses and a table
#      of recall@10, p50/p99 latency and QPS: exact seq scan vs flat vs ivfflat at probes 1..32;
#   4. write a JSON report and a recall/QPS plot (SVG + PNG) to bench-results/.
# A second run reuses the loaded table, the cached data set and ground truth
# (bench-results/cache/) and the compiled build. An index that fails to build (or a setting
# that fails to run) is reported and skipped; failing to connect or to load the data is an error.
#
# Environment knobs:
#   DEMO_ROWS=100000         rows of the synthetic data set
#   DEMO_DIM=384             dimensions
#   DEMO_CLUSTERS=1000       gaussian clusters (centres uniform in [-1,1]^dim, Zipf-sized) ...
#   DEMO_SPREAD=1.0          ... and their standard deviation: they overlap, so ivfflat's recall
#                            climbs over the whole probes sweep as on real embeddings (with
#                            vector-bench's defaults, 100 clusters of spread 0.2, recall is
#                            1.0 from probes=8 on)
#   DEMO_QUERIES=1000        queries (held out from the same distribution, never table rows)
#   DEMO_EXACT_QUERIES=200   queries for the slow exact configurations (seq scan, flat)
#   DEMO_LISTS=rows/1000     ivfflat lists (at least 10)
#   DEMO_PROBES=1,2,4,8,16,32  ivfflat.probes values to sweep
#   DEMO_INDEXES="seqscan flat ivfflat:lists=N"  vector-bench --index specs, space separated
#   DEMO_EXT=vector_ext      `vector` runs the same workload on pgvector, if it is installed
#                            (in its own database: both extensions define type `vector`)
#   DEMO_PORT=5544           port of the cluster on 127.0.0.1
#   DEMO_DIR=.demo           directory of the cluster (data/, postgres.log, socket)
#   DEMO_SHARED_BUFFERS=2GB  shared_buffers of a newly started cluster (raised for big data sets)
#   DEMO_RELOAD=1            reload the table even if it already holds the data set
#   DEMO_INSTALL=0           use the vector_ext already installed (no build + install)
#   KEEP=1                   leave the server running afterwards (the script prints how to
#                            connect; the last index built is kept for you to query)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib.sh
LOG_TAG=demo
DEMO_DIR=$(realpath -m "${DEMO_DIR:-.demo}")
PORT=${DEMO_PORT:-5544}
EXT=${DEMO_EXT:-vector_ext}
ROWS=${DEMO_ROWS:-100000}
DIM=${DEMO_DIM:-384}
CLUSTERS=${DEMO_CLUSTERS:-1000}
SPREAD=${DEMO_SPREAD:-1.0}
NQ=${DEMO_QUERIES:-1000}
EXACT_NQ=${DEMO_EXACT_QUERIES:-200}
PROBES=${DEMO_PROBES:-1,2,4,8,16,32}
LISTS=${DEMO_LISTS:-$(( ROWS / 1000 > 10 ? ROWS / 1000 : 10 ))}
case $EXT in
  vector_ext) DB=vector_demo; DEFAULT_INDEXES="seqscan flat ivfflat:lists=$LISTS" ;;
  vector) DB=pgvector_demo; DEFAULT_INDEXES="seqscan ivfflat:lists=$LISTS" ;;
  *) echo "DEMO_EXT must be vector_ext or vector, not '$EXT'" >&2; exit 2 ;;
esac
read -r -a INDEXES <<<"${DEMO_INDEXES:-$DEFAULT_INDEXES}"
# shared_buffers: the table and the index under test (plus the one before it) stay cached.
DATA_MB=$(( ROWS * (DIM * 4 + 64) / 1048576 ))
SHARED_BUFFERS=${DEMO_SHARED_BUFFERS:-$(( DATA_MB * 3 > 2048 ? DATA_MB * 3 : 2048 ))MB}
START=$SECONDS

SO=$("$PG_CONFIG" --pkglibdir)/vector_ext.so
SO_SUM=
if [ "$EXT" = vector_ext ] && [ "${DEMO_INSTALL:-1}" = 1 ]; then
  BUILD_START=$SECONDS
  install_extension --release
  SO_SUM=$(md5sum <"$SO")
  log "extension built and installed in $(( SECONDS - BUILD_START )) s"
fi
log "building vector-bench (release)"
cargo build --release --quiet -p vector_bench >&2
BENCH=$PWD/target/release/vector-bench
SHAREDIR=$("$PG_CONFIG" --sharedir)
if [ ! -f "$SHAREDIR/extension/$EXT.control" ]; then
  log "extension $EXT is not installed in $SHAREDIR/extension" \
    "(DEMO_EXT=vector needs pgvector: apt-get install postgresql-$PGVER-pgvector)"
  exit 1
fi

chmod a+rX "$PWD"
# Only a cluster this script started is stopped at the end.
if [ -f "$DEMO_DIR/data/PG_VERSION" ] &&
   as_postgres "$PG_BIN/pg_ctl" -D "$DEMO_DIR/data" status >/dev/null 2>&1; then
  log "using the cluster already running in $DEMO_DIR (left running)"
  STARTED=0
else
  STARTED=1
fi
cluster_start "$DEMO_DIR" "$PORT" "shared_buffers=$SHARED_BUFFERS" maintenance_work_mem=1GB \
  huge_pages=try max_wal_size=4GB checkpoint_timeout=30min jit=off
if [ "$STARTED" = 1 ] && [ "${KEEP:-0}" != 1 ]; then
  trap 'log "stopping the cluster (KEEP=1 leaves it running)"; cluster_stop "$DEMO_DIR"' EXIT
fi

psql_demo() {
  as_postgres "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"
}

# A database of its own, with the extension as installed now. The extension's SQL objects are
# created from its script once; when the installed script changes (e.g. a new access method
# landed), the extension is re-created, which drops the old table: it is reloaded below.
psql_demo -d postgres <<SQL
SELECT 'CREATE DATABASE $DB' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB')
\gexec
SQL
EXT_SIG="ext=$EXT script-md5=$(cat "$SHAREDIR/extension/$EXT.control" \
  "$SHAREDIR/extension/$EXT"--*.sql | md5sum | cut -c1-32)"
have_sig=$(psql_demo -d "$DB" -At -c \
  "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()")
if [ "$have_sig" != "$EXT_SIG" ]; then
  log "creating extension $EXT in database $DB (its installed scripts changed or it is new)"
  psql_demo -d "$DB" <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_items;
DROP EXTENSION IF EXISTS $EXT CASCADE;
CREATE EXTENSION $EXT;
COMMENT ON DATABASE $DB IS '$EXT_SIG';
SQL
fi

URL="host=127.0.0.1 port=$PORT user=postgres dbname=$DB"
args=(run --url "$URL" --ext "$EXT" -n "$ROWS" --dim "$DIM" --clusters "$CLUSTERS"
  --spread "$SPREAD" --nq "$NQ"
  --exact-queries "$EXACT_NQ" --probes "$PROBES" --seqscan-workers 0
  --build-set maintenance_work_mem=1GB --keep-indexes)
for spec in "${INDEXES[@]}"; do args+=(--index "$spec"); done
[ "${DEMO_RELOAD:-0}" = 1 ] && args+=(--reload)
log "vector-bench ${args[*]}"
"$BENCH" "${args[@]}"

# The same kind of query in plain SQL, on the index the benchmark kept (the last one built).
read -r idx am <<<"$(psql_demo -d "$DB" -At -F ' ' -c "
  SELECT c.relname, a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam
  WHERE i.indrelid = 'bench_items'::regclass AND NOT i.indisprimary LIMIT 1")" || true
ID=$(( ROWS / 2 ))
log "in SQL: the 5 nearest neighbours of row $ID${idx:+ (index $idx kept)}"
psql_demo -d "$DB" <<SQL || log "the SQL example failed"
$(if [ "${am:-}" = ivfflat ]; then echo "SET ivfflat.probes = 8;"; fi)
\set ECHO queries
EXPLAIN (COSTS OFF)
SELECT id, embedding <-> (SELECT embedding FROM bench_items WHERE id = $ID) AS distance
FROM bench_items ORDER BY distance LIMIT 5;
SELECT id, embedding <-> (SELECT embedding FROM bench_items WHERE id = $ID) AS distance
FROM bench_items ORDER BY distance LIMIT 5;
SQL

if [ -n "$SO_SUM" ] && [ "$(md5sum <"$SO")" != "$SO_SUM" ]; then
  log "warning: $SO was replaced during the run (another build installed?): figures may be off"
fi
log "done in $(( SECONDS - START )) s"
if [ "${KEEP:-0}" = 1 ]; then
  log "server left running: psql -h 127.0.0.1 -p $PORT -U postgres $DB"
fi
