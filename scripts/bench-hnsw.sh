#!/usr/bin/env bash
# Side-by-side benchmark: vector_ext's hnsw against pgvector 0.8.6's hnsw, same data, same
# parameters, same cluster (each extension in its own database: both define type `vector`).
#
#   bash scripts/bench-hnsw.sh                       # real384: 120,000 x 384 text-like embeddings
#   DATASET=clustered128 bash scripts/bench-hnsw.sh  # vector-bench synthetic 1,000,000 x 128
#   DATASET=real128 bash scripts/bench-hnsw.sh       # 1,000,000 x 128 text-like embeddings
#   METRIC=cosine bash scripts/bench-hnsw.sh
#   dry run without our hnsw (ivfflat stands in for it):
#   ROWS=20000 ROUNDS=1 EXT_INDEX=ivfflat:lists=100 INSERT_BASE=16000 INSERT_TIMED=4000 \
#     bash scripts/bench-hnsw.sh
#
# Steps (progress lines prefixed [bench-hnsw]):
#   1. builds vector-bench (cargo build --release -p vector_bench) and copies the binary to
#      BENCH_DIR/bin, so rebuilding while this runs is harmless;
#   2. starts (or reuses) a dedicated cluster in BENCH_DIR (default /tmp/vector_ext_bench) on
#      127.0.0.1:PORT (5544) as user postgres: shared_buffers=4GB, maintenance_work_mem=4GB,
#      max_parallel_maintenance_workers=2, work_mem=64MB, max_connections=20, max_wal_size=4GB
#      (fewer checkpoints inside the timings); fsync etc. default. A cluster this script started
#      is stopped at the end (KEEP=1 leaves it running); one already running is left running.
#   3. creates databases bench_ext (CREATE EXTENSION vector_ext) and bench_pgv (CREATE EXTENSION
#      vector = pgvector 0.8.6; installed with ../shared/anchors/install-pgvector.sh if missing).
#      vector_ext is updated (ALTER EXTENSION ... UPDATE) to the installed default version; if
#      the index method (hnsw) is still missing, bench_ext is recreated (FRESH_DB=1 always
#      recreates both databases);
#   4. dataset: real384 = bench/embeddings.py (ROWS x 384 + NQ held-out queries, .npy, cached
#      in BENCH_DIR/vectors); real128 = the same generator at 128 dimensions (1,000,000 rows:
#      low intrinsic dimension, like SIFT-style 1M x 128 sets and unlike isotropic clusters, where
#      no hnsw reaches recall 0.95 at ef_search 400); clustered128 = vector-bench's synthetic
#      clustered data
#      (-n ROWS --dim 128 --clusters 1000, cached with its ground truth by `vector-bench gen`);
#   5. ROUNDS timed rounds; each round runs vector-bench for both extensions (order alternating
#      between rounds): load the table once (reused while the data set is unchanged), build the
#      index (build time, size), then for every ef_search value one single-client pass over all
#      queries and one pass with CLIENTS concurrent clients (vector-bench --clients), recall@10
#      against exact ground truth;
#   6. insert test (INSERT=0 skips it), on real384 vectors whatever DATASET is (INSERT_ROUNDS
#      rounds, each side): table of INSERT_BASE rows with the index built, one COPY of
#      INSERT_TIMED more rows timed (rows/s), then more rows up to INSERT_BASE/2 in all; recall@10
#      at ef_search=INSERT_EF against brute force over the final table; and (INSERT_FRESH=1) the
#      same after a fresh build on the final table (bench/hnsw_insert.py);
#   7. summary (bench/hnsw_summary.py): RESULTS/summary.json and RESULTS/summary.md: recall/QPS
#      per ef_search for both, QPS interpolated at recall@10 = TARGET (0.95) and the ratio
#      ours/pgvector, build time, index size and insert rows/s with their ratios.
#
# Environment knobs (defaults in brackets):
#   DATASET [real384]        real384 | real128 | clustered128
#   ROWS                     base rows [real384: 120000, real128 and clustered128: 1000000]
#   NQ [1000]                queries;  SEED [42]: dataset seed
#   SPREAD                   clustered128: vector-bench --spread [vector-bench's default, 0.2]
#   METRIC [l2]              l2 | cosine | ip
#   INDEX [hnsw:m=16,ef_construction=64]   index spec of both sides (vector-bench syntax)
#   EXT_INDEX [INDEX]        ours only, e.g. ivfflat:lists=100 for a dry run before hnsw exists
#   PGV_INDEX [INDEX]        pgvector only
#   EF_SEARCH [10,20,40,64,100,200,400]   hnsw.ef_search sweep (10 and 20 so that recall 0.95
#                            is bracketed even where ef_search=40 already exceeds it; they are
#                            fast);  PROBES [1,2,4,8,16,32]: the ivfflat sweep (dry runs)
#   CLIENTS [4]              concurrent clients (each setting also runs with 1 client)
#   ROUNDS [3]               timed rounds (each rebuilds the index: build time is a median too)
#   PARAM_FORMAT [binary]    how query vectors are sent (binary | text)
#   TARGET [0.95]            recall@10 at which QPS is interpolated
#   INSERT [1]               run the insert test;  INSERT_ROUNDS [1]
#   INSERT_BASE [50000]  INSERT_TIMED [10000]  INSERT_EXTRA [INSERT_BASE/2]  INSERT_EF [40]
#   INSERT_PROBES [10]       query setting of the insert test when the index is ivfflat
#   INSERT_FRESH [1]         also measure a fresh build on the final insert table
#   SIDES ["ours pgvector"]  which sides to run (e.g. SIDES=ours to re-run only vector_ext)
#   PGV_FROM                 a previous RESULTS directory: reuse its pgvector reports (same
#                            dataset/metric/settings) instead of running pgvector again
#   RESULTS [bench-results/hnsw/<dataset>-<metric>-<timestamp>]   output directory
#   BENCH_DIR [/tmp/vector_ext_bench]  PORT [5544]  KEEP [0]  FRESH_DB [0]
#   SKIP_BUILD [0]           use target/release/vector-bench as it is
#   VENV [$HOME/.cache/vector_ext/clients-venv]   Python with numpy + psycopg 3
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
source scripts/lib.sh
LOG_TAG=bench-hnsw
die() { log "error: $*"; exit 1; }
T_START=$(date +%s)
step() { log "[$(( $(date +%s) - T_START ))s] $*"; }

DATASET=${DATASET:-real384}
case $DATASET in
  real384) ROWS=${ROWS:-120000}; DIM=384 ;;
  real128) ROWS=${ROWS:-1000000}; DIM=128 ;;
  clustered128) ROWS=${ROWS:-1000000}; DIM=128 ;;
  *) die "DATASET must be real384, real128 or clustered128, not '$DATASET'" ;;
esac
NQ=${NQ:-1000}
SEED=${SEED:-42}
METRIC=${METRIC:-l2}
case $METRIC in l2|cosine|ip) ;; *) die "METRIC must be l2, cosine or ip, not '$METRIC'" ;; esac
INDEX=${INDEX:-hnsw:m=16,ef_construction=64}
EXT_INDEX=${EXT_INDEX:-$INDEX}
PGV_INDEX=${PGV_INDEX:-$INDEX}
EF_SEARCH=${EF_SEARCH:-10,20,40,64,100,200,400}
PROBES=${PROBES:-1,2,4,8,16,32}
CLIENTS=${CLIENTS:-4}
ROUNDS=${ROUNDS:-3}
PARAM_FORMAT=${PARAM_FORMAT:-binary}
TARGET=${TARGET:-0.95}
INSERT=${INSERT:-1}
INSERT_ROUNDS=${INSERT_ROUNDS:-1}
INSERT_BASE=${INSERT_BASE:-50000}
INSERT_TIMED=${INSERT_TIMED:-10000}
INSERT_EXTRA=${INSERT_EXTRA:-$(( INSERT_BASE / 2 ))}
INSERT_EF=${INSERT_EF:-40}
INSERT_PROBES=${INSERT_PROBES:-10}
INSERT_FRESH=${INSERT_FRESH:-1}
SIDES=${SIDES:-ours pgvector}
PGV_FROM=${PGV_FROM:-}
BENCH_DIR=$(realpath -m "${BENCH_DIR:-/tmp/vector_ext_bench}")
PORT=${PORT:-5544}
KEEP=${KEEP:-0}
FRESH_DB=${FRESH_DB:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
VENV=${VENV:-$HOME/.cache/vector_ext/clients-venv}
STAMP=$(date +%Y%m%d-%H%M%S)
DEFAULT_RESULTS=0; [ -n "${RESULTS:-}" ] || DEFAULT_RESULTS=1
RESULTS=$(realpath -m "${RESULTS:-bench-results/hnsw/$DATASET-$METRIC-$STAMP}")

for v in ROWS NQ SEED CLIENTS ROUNDS INSERT_ROUNDS INSERT_BASE INSERT_TIMED INSERT_EXTRA INSERT_EF \
         INSERT_PROBES PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer, not '${!v}'"
done
[ "$INSERT_TIMED" -le "$INSERT_EXTRA" ] || die "INSERT_TIMED ($INSERT_TIMED) > INSERT_EXTRA ($INSERT_EXTRA)"
RUN_OURS=0; RUN_PGV=0
for s in $SIDES; do
  case $s in ours) RUN_OURS=1 ;; pgvector) RUN_PGV=1 ;; *) die "SIDES: unknown side '$s' (ours, pgvector)" ;; esac
done
if [ -n "$PGV_FROM" ]; then
  PGV_FROM=$(realpath -e "$PGV_FROM") || die "PGV_FROM: no such directory"
  ls "$PGV_FROM"/vector-round*.json >/dev/null 2>&1 || die "PGV_FROM: no vector-round*.json in $PGV_FROM"
  RUN_PGV=0
fi
[ "$RUN_OURS" = 1 ] || [ "$RUN_PGV" = 1 ] || [ -n "$PGV_FROM" ] || die "nothing to run (SIDES='$SIDES')"
PY=$VENV/bin/python
if [ ! -x "$PY" ] || ! "$PY" -c 'import numpy, psycopg' 2>/dev/null; then
  step "Python virtualenv with numpy + psycopg missing: bash scripts/clients-venv.sh"
  bash scripts/clients-venv.sh >&2 || die "could not make the virtualenv $VENV"
  "$PY" -c 'import numpy, psycopg' || die "$PY lacks numpy or psycopg"
fi

mkdir -p "$RESULTS" "$BENCH_DIR/bin" "$BENCH_DIR/vectors" "$BENCH_DIR/cache"
[ "$DEFAULT_RESULTS" = 0 ] || ln -sfn "$RESULTS" "$(dirname "$RESULTS")/latest"
step "dataset $DATASET ($ROWS x $DIM, $NQ queries, seed $SEED), metric $METRIC, ours: $EXT_INDEX, pgvector: $PGV_INDEX, $ROUNDS round(s), $CLIENTS clients; results in $RESULTS"

# ---- 1. vector-bench ------------------------------------------------------------------------
if [ "$SKIP_BUILD" = 1 ]; then
  [ -x target/release/vector-bench ] || die "SKIP_BUILD=1 but target/release/vector-bench is missing"
else
  step "cargo build --release -p vector_bench"
  cargo build --release -p vector_bench >&2 || die "building vector-bench failed"
fi
install -m 755 target/release/vector-bench "$BENCH_DIR/bin/vector-bench"
VB=$BENCH_DIR/bin/vector-bench

# ---- 2. cluster -----------------------------------------------------------------------------
STARTED=0
cleanup() {
  local rc=$?
  if [ "$STARTED" = 1 ] && [ "$KEEP" != 1 ]; then
    log "stopping the benchmark cluster ($BENCH_DIR; data directory kept)"
    cluster_stop "$BENCH_DIR"
  elif [ "$STARTED" = 1 ]; then
    log "cluster left running: psql -h 127.0.0.1 -p $PORT -U postgres bench_ext"
  fi
  [ $rc -eq 0 ] || log "failed (exit $rc); server log: $BENCH_DIR/postgres.log"
}
trap cleanup EXIT
if as_postgres "$PG_BIN/pg_ctl" -D "$BENCH_DIR/data" status >/dev/null 2>&1; then
  step "reusing the running cluster in $BENCH_DIR"
else
  if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
    die "port $PORT is taken by another server (scripts/demo.sh's .demo cluster?): stop it or set PORT"
  fi
  step "starting the benchmark cluster in $BENCH_DIR on 127.0.0.1:$PORT"
  cluster_start "$BENCH_DIR" "$PORT" shared_buffers=4GB maintenance_work_mem=4GB \
    max_parallel_maintenance_workers=2 work_mem=64MB max_connections=20 max_wal_size=4GB \
    || die "could not start the cluster (see $BENCH_DIR/postgres.log)"
  STARTED=1
fi
psql_() { as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
psql_ -d postgres -Atc "SELECT 'server settings: ' || string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers','maintenance_work_mem','max_parallel_maintenance_workers','work_mem','max_connections','max_wal_size','huge_pages')" >&2

# ---- 3. databases ---------------------------------------------------------------------------
SHARE=$("$PG_CONFIG" --sharedir)/extension
db_exists() { [ "$(psql_ -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]; }
recreate_db() { psql_ -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
ensure_db() { if [ "$FRESH_DB" = 1 ] || ! db_exists "$1"; then step "creating database $1"; recreate_db "$1"; fi; }
method_of() { printf '%s' "${1%%:*}"; }
EXT_METHOD=$(method_of "$EXT_INDEX")
if [ "$RUN_OURS" = 1 ]; then
  [ -f "$SHARE/vector_ext.control" ] || die "vector_ext is not installed (cargo pgrx install / bash scripts/test.sh installs it)"
  ensure_db bench_ext
  psql_ -d bench_ext -c "CREATE EXTENSION IF NOT EXISTS vector_ext"
  psql_ -d bench_ext -c "ALTER EXTENSION vector_ext UPDATE" 2>/dev/null || true
  if [ "$(psql_ -d bench_ext -Atc "SELECT 1 FROM pg_am WHERE amname = '$EXT_METHOD'")" != 1 ]; then
    step "bench_ext has no access method $EXT_METHOD: recreating it with the installed vector_ext"
    recreate_db bench_ext
    psql_ -d bench_ext -c "CREATE EXTENSION vector_ext"
    [ "$(psql_ -d bench_ext -Atc "SELECT 1 FROM pg_am WHERE amname = '$EXT_METHOD'")" = 1 ] \
      || die "the installed vector_ext has no access method '$EXT_METHOD' (set EXT_INDEX for a dry run)"
  fi
  step "bench_ext: $(psql_ -d bench_ext -Atc "SELECT extname || ' ' || extversion FROM pg_extension WHERE extname = 'vector_ext'")"
fi
if [ "$RUN_PGV" = 1 ]; then
  if [ ! -f "$SHARE/vector--0.8.6.sql" ] || vector_is_alias; then
    step "installing pgvector 0.8.6 (../shared/anchors/install-pgvector.sh)"
    [ -f ../shared/anchors/install-pgvector.sh ] || die "../shared/anchors/install-pgvector.sh not found"
    bash ../shared/anchors/install-pgvector.sh >&2 || die "installing pgvector failed"
  fi
  ensure_db bench_pgv
  psql_ -d bench_pgv -c "CREATE EXTENSION IF NOT EXISTS vector"
  v=$(psql_ -d bench_pgv -Atc "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
  if [ "$v" != 0.8.6 ]; then
    step "bench_pgv has extension vector $v (not pgvector 0.8.6): recreating it"
    recreate_db bench_pgv
    psql_ -d bench_pgv -c "CREATE EXTENSION vector"
    v=$(psql_ -d bench_pgv -Atc "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    [ "$v" = 0.8.6 ] || die "CREATE EXTENSION vector gave version $v, not pgvector 0.8.6"
  fi
  step "bench_pgv: pgvector $v"
fi

# ---- 4. dataset -----------------------------------------------------------------------------
embeddings() {  # embeddings ROWS [DIM] -> prints base and queries paths
  local rows=$1 dim=${2:-384}
  local name="real$dim-n$rows-q$NQ-s$SEED"
  "$PY" bench/embeddings.py --rows "$rows" --dim "$dim" --queries "$NQ" --seed "$SEED" \
    --out-dir "$BENCH_DIR/vectors" --name "$name" >/dev/null
  printf '%s\n%s\n' "$BENCH_DIR/vectors/$name.base.npy" "$BENCH_DIR/vectors/$name.queries.npy"
}
META=
case $DATASET in
  real384|real128)
    step "dataset: bench/embeddings.py --rows $ROWS --dim $DIM (cached in $BENCH_DIR/vectors)"
    mapfile -t F < <(embeddings "$ROWS" "$DIM")
    [ -f "${F[0]:-}" ] && [ -f "${F[1]:-}" ] || die "bench/embeddings.py failed"
    DATA_ARGS=(--data "${F[0]}" --queries "${F[1]}" --nq "$NQ")
    META=${F[0]%.base.npy}.json
    TABLE=items_$DATASET ;;
  clustered128)
    DATA_ARGS=(-n "$ROWS" --dim 128 --clusters 1000 --seed "$SEED" --nq "$NQ")
    [ -n "${SPREAD:-}" ] && DATA_ARGS+=(--spread "$SPREAD")
    step "dataset: vector-bench gen ${DATA_ARGS[*]} (cached in $BENCH_DIR/cache)"
    "$VB" gen "${DATA_ARGS[@]}" --metric "$METRIC" --cache-dir "$BENCH_DIR/cache" >&2
    TABLE=items_clustered128 ;;
esac

# ---- 5. timed rounds ------------------------------------------------------------------------
sweep_for() {  # the sweep options for an index spec
  case $(method_of "$1") in
    hnsw) echo "--ef-search $EF_SEARCH" ;;
    ivfflat) echo "--probes $PROBES" ;;
    *) echo "" ;;
  esac
}
run_bench() {  # run_bench SIDE ROUND
  local side=$1 r=$2 ext db spec
  if [ "$side" = ours ]; then ext=vector_ext db=bench_ext spec=$EXT_INDEX
  else ext=vector db=bench_pgv spec=$PGV_INDEX; fi
  local name="$ext-round$r" t0
  t0=$(date +%s)
  step "round $r/$ROUNDS: $ext, $spec (log: $RESULTS/$name.log)"
  # shellcheck disable=SC2046  # (word splitting of the sweep options is intended)
  "$VB" run --ext "$ext" --url "host=127.0.0.1 port=$PORT user=postgres dbname=$db" \
    "${DATA_ARGS[@]}" --cache-dir "$BENCH_DIR/cache" --table "$TABLE" --metric "$METRIC" -k 10 \
    --index "$spec" $(sweep_for "$spec") --clients "$CLIENTS" --param-format "$PARAM_FORMAT" \
    --build-set maintenance_work_mem=4GB --build-set max_parallel_maintenance_workers=2 \
    --set work_mem=64MB --out-dir "$RESULTS" --name "$name" --no-bandwidth \
    $([ "$r" = "$ROUNDS" ] || echo --no-plot) 2>&1 | tee "$RESULTS/$name.log" >&2 || {
    # A failed build or setting is in the report; carry on, so the other side and the other
    # rounds still run and the summary shows what was measured. The exit status says it failed.
    log "error: vector-bench failed for $ext in round $r (see $RESULTS/$name.log); continuing"
    FAILED=$(( FAILED + 1 ))
  }
  [ -f "$RESULTS/$name.json" ] || log "error: vector-bench wrote no $RESULTS/$name.json"
  step "round $r/$ROUNDS: $ext done in $(( $(date +%s) - t0 )) s"
}
FAILED=0
for r in $(seq 1 "$ROUNDS"); do
  if [ $(( r % 2 )) = 1 ]; then order="ours pgvector"; else order="pgvector ours"; fi
  for side in $order; do
    if [ "$side" = ours ] && [ "$RUN_OURS" = 1 ]; then run_bench ours "$r"; fi
    if [ "$side" = pgvector ] && [ "$RUN_PGV" = 1 ]; then run_bench pgvector "$r"; fi
  done
done
if [ -n "$PGV_FROM" ]; then
  step "reusing pgvector results from $PGV_FROM"
  cp "$PGV_FROM"/vector-round*.json "$RESULTS/"
  cp "$PGV_FROM"/insert-vector-round*.json "$RESULTS/" 2>/dev/null || true
fi

# ---- 6. insert test -------------------------------------------------------------------------
if [ "$INSERT" = 1 ]; then
  need=$(( INSERT_BASE + INSERT_EXTRA ))
  if [ "$DATASET" = real384 ] && [ "$ROWS" -ge "$need" ]; then
    IF=("${F[@]}")   # embeddings.py's data is prefix-stable: the first rows are the same
  else
    step "insert data: bench/embeddings.py --rows $need"
    mapfile -t IF < <(embeddings "$need")
    [ -f "${IF[0]:-}" ] && [ -f "${IF[1]:-}" ] || die "bench/embeddings.py failed"
  fi
  insert_run() {  # insert_run SIDE ROUND
    local side=$1 r=$2 ext db spec sets=()
    if [ "$side" = ours ]; then ext=vector_ext db=bench_ext spec=$EXT_INDEX
    else ext=vector db=bench_pgv spec=$PGV_INDEX; fi
    case $(method_of "$spec") in
      hnsw) sets=(--set "hnsw.ef_search=$INSERT_EF") ;;
      ivfflat) sets=(--set "ivfflat.probes=$INSERT_PROBES") ;;
    esac
    local fresh=(); [ "$INSERT_FRESH" = 1 ] && fresh=(--fresh)
    step "insert test round $r/$INSERT_ROUNDS: $ext, $spec: $INSERT_BASE rows indexed, +$INSERT_TIMED timed, +$INSERT_EXTRA in all"
    "$PY" bench/hnsw_insert.py --url "host=127.0.0.1 port=$PORT user=postgres dbname=$db" \
      --ext "$ext" --data "${IF[0]}" --queries "${IF[1]}" --nq "$NQ" --metric "$METRIC" \
      --base-rows "$INSERT_BASE" --timed-rows "$INSERT_TIMED" --extra-rows "$INSERT_EXTRA" \
      --index "$spec" "${sets[@]}" --build-set maintenance_work_mem=4GB \
      --build-set max_parallel_maintenance_workers=2 "${fresh[@]}" \
      --out "$RESULTS/insert-$ext-round$r.json" 2>&1 | tee "$RESULTS/insert-$ext-round$r.log" >&2 || {
      log "error: insert test failed for $ext (see $RESULTS/insert-$ext-round$r.log); continuing"
      FAILED=$(( FAILED + 1 ))
    }
  }
  for r in $(seq 1 "$INSERT_ROUNDS"); do
    if [ $(( r % 2 )) = 1 ]; then order="ours pgvector"; else order="pgvector ours"; fi
    for side in $order; do
      if [ "$side" = ours ] && [ "$RUN_OURS" = 1 ]; then insert_run ours "$r"; fi
      if [ "$side" = pgvector ] && [ "$RUN_PGV" = 1 ]; then insert_run pgvector "$r"; fi
    done
  done
fi

# ---- 7. summary -----------------------------------------------------------------------------
shopt -s nullglob
OURS_J=("$RESULTS"/vector_ext-round*.json)
PGV_J=("$RESULTS"/vector-round*.json)
OURS_I=("$RESULTS"/insert-vector_ext-round*.json)
PGV_I=("$RESULTS"/insert-vector-round*.json)
shopt -u nullglob
[ ${#OURS_J[@]} -gt 0 ] || [ ${#PGV_J[@]} -gt 0 ] || die "no reports in $RESULTS"
SUM_ARGS=(--target "$TARGET" --out-json "$RESULTS/summary.json" --out-md "$RESULTS/summary.md"
  --title "hnsw benchmark ($DATASET, $METRIC): vector_ext ($EXT_INDEX) vs pgvector 0.8.6 ($PGV_INDEX)")
[ ${#OURS_J[@]} -gt 0 ] && SUM_ARGS+=(--ours "${OURS_J[@]}")
[ ${#PGV_J[@]} -gt 0 ] && SUM_ARGS+=(--theirs "${PGV_J[@]}")
[ -n "$META" ] && [ -f "$META" ] && SUM_ARGS+=(--dataset-meta "$META")
[ ${#OURS_I[@]} -gt 0 ] && SUM_ARGS+=(--ours-insert "${OURS_I[@]}")
[ ${#PGV_I[@]} -gt 0 ] && SUM_ARGS+=(--theirs-insert "${PGV_I[@]}")
step "summary"
echo >&2
"$PY" bench/hnsw_summary.py "${SUM_ARGS[@]}" || die "summary failed"
echo >&2
step "done: $RESULTS/summary.md, $RESULTS/summary.json (reports: $RESULTS/*-round*.json)"
[ "$FAILED" = 0 ] || die "$FAILED run(s) failed: see the errors above and the logs in $RESULTS"
