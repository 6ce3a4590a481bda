#!/usr/bin/env bash
# Multi-process tests of the flat index, each scenario on its own throwaway PostgreSQL 15
# cluster(s) run as the `postgres` OS user:
#   * crash recovery (pg_ctl stop -m immediate) after build + insert + delete + VACUUM, with
#     full_page_writes on and off; right after CREATE INDEX (logged and unlogged tables);
#     in the middle of concurrent writes;
#   * replay on a hot standby (pg_basebackup -R), read while the primary writes, then promotion;
#   * concurrency: writers, VACUUM and readers at once;
#   * wal_level = minimal: TRUNCATE (or CREATE) + index + load in one transaction, then crash;
#   * full_page_writes = off: a standby replays the reuse of an index page that the primary
#     extended in a change whose WAL was lost (all zeroes on the primary, absent on the standby).
# Every result is compared with an independent reference, the same query over a sequential
# scan (tests/multiprocess/helpers.sql); every server log is checked for PANIC, TRAP and
# backends terminated by a signal.
#
#   bash tests/multiprocess/run.sh          (from the repo root, as root or postgres; ~3 min)
#
# Environment: MP_SKIP_INSTALL=1  use the extension already installed (no build)
#              MP_DURATION=20     seconds of concurrent load in the concurrency scenario
#              MP_KEEP=1          keep /tmp/vector_ext_mp (data dirs, logs) after the run
#              MP_ONLY="a b"      run only the scenarios whose functions are named (e.g. minimal)
# Ports 5610-5622, directories under /tmp/vector_ext_mp.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
LOG_TAG=multiprocess
# lib.sh's progress messages (initdb, starting Postgres …) only with MP_VERBOSE=1
log() { if [ "${MP_VERBOSE:-0}" = 1 ]; then printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; fi; }

HERE=$PWD/tests/multiprocess
ROOT=/tmp/vector_ext_mp
DURATION=${MP_DURATION:-20}
declare -A PORT=(
  [template]=5619 [crash_fpw_on]=5610 [crash_fpw_off]=5614 [crash_build]=5615
  [crash_load]=5616 [primary]=5611 [standby]=5612 [conc]=5613 [progress]=5617
  [minimal]=5618 [fpw_primary]=5620 [fpw_standby]=5621 [backtrace]=5622
  [hprimary]=5623 [hstandby]=5624
)
BG_PIDS=$ROOT/background.pids

# ------------------------------------------------------------------------------ helpers

pgctl() { as_postgres timeout -k 5 90 "$PG_BIN/pg_ctl" "$@"; }

# psql on cluster NAME, database mp: unaligned, tuples only, stop at the first error, bounded.
sql() {
  local name=$1; shift
  timeout -k 5 120 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 \
    -p "${PORT[$name]}" -U postgres -d mp "$@"
}

start() { # NAME [settings...]
  local name=$1; shift
  cluster_start "$ROOT/$name" "${PORT[$name]}" "$@"
}

stop() { # NAME [mode]: fast shutdown, falling back to immediate; never fails
  local data=$ROOT/$1/data
  [ -f "$data/postmaster.pid" ] || return 0
  pgctl -D "$data" -m "${2:-fast}" -w -t 30 stop >/dev/null 2>&1 ||
    pgctl -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}

crash() { # NAME: immediate shutdown = no checkpoint, no buffer flush, recovery on next start
  pgctl -D "$ROOT/$1/data" -m immediate -w -t 30 stop >/dev/null
}

# A new cluster NAME: a copy of the template (database mp with the extension and helpers).
new_cluster() {
  local dir=$ROOT/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -a "$ROOT/template/data" "$dir/data"
  rm -f "$dir/data/postmaster.opts"
  : >"$dir/postgres.log"
  chown -R postgres "$dir"
}

note() { echo "  $*"; }

# verify NAME LABEL SQL: the one-line result must start with "ok"
verify() {
  local name=$1 label=$2 out
  out=$(sql "$name" -c "$3" 2>&1)
  local rc=$?
  note "$label: $(head -2 <<<"$out")"
  [ $rc -eq 0 ] && [ "${out#ok}" != "$out" ]
}

# expect NAME LABEL SQL WANT: the result must equal WANT
expect() {
  local name=$1 label=$2 want=$4 out
  out=$(sql "$name" -c "$3" 2>&1)
  local rc=$?
  if [ $rc -eq 0 ] && [ "$out" = "$want" ]; then
    note "$label: $out"
  else
    note "$label: got '$(head -2 <<<"$out")', want '$want'"
    return 1
  fi
}

# The log of NAME shows a crash recovery whose redo started at or before LSN (so everything
# written after that LSN came back from WAL, not from data files).
check_recovery() {
  local name=$1 lsn=$2 log=$ROOT/$1/postgres.log redo
  if ! grep -q "database system was interrupted\|was not properly shut down" "$log"; then
    note "no crash recovery in $log"; return 1
  fi
  redo=$(grep -o 'redo starts at [0-9A-F]*/[0-9A-F]*' "$log" | tail -1 | awk '{print $4}')
  if [ -z "$redo" ]; then note "no 'redo starts at' in $log"; return 1; fi
  expect "$name" "crash recovery, redo from $redo <= $lsn (the changes came from WAL)" \
    "SELECT '$redo'::pg_lsn <= '$lsn'::pg_lsn" t
}

# Print how many blocks of a relation file are all zero (informational, taken at crash time:
# content that exists only in shared buffers and WAL).
zero_blocks() {
  local f=$1 n z=0 i
  [ -f "$f" ] || { echo "missing"; return 0; }
  n=$(($(stat -c %s "$f") / 8192))
  for ((i = 0; i < n; i++)); do
    if [ "$(dd if="$f" bs=8192 skip=$i count=1 2>/dev/null | tr -d '\000' | head -c1 | wc -c)" = 0 ]; then
      z=$((z + 1))
    fi
  done
  echo "$n blocks, $z all-zero"
}

# Render a pgbench script template for table TBL: render SCRIPT TBL DIMS [K] -> path
render() {
  local src=$HERE/pgbench/$1.sql out=$ROOT/pgbench/$1_$2${4:+_$4}.sql
  mkdir -p "$ROOT/pgbench"
  sed "s/@TBL@/$2/g; s/@DIMS@/$3/g; s/@K@/${4:-0}/g" "$src" >"$out"
  echo "$out"
}

# bench NAME DURATION CLIENTS OUTFILE [pgbench args...]: runs in the background; pid in $!
bench() {
  local name=$1 dur=$2 clients=$3 out=$4; shift 4
  timeout -k 5 $((dur + 120)) "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "${PORT[$name]}" -U postgres \
    -T "$dur" -c "$clients" -j "$clients" "$@" mp >"$out" 2>&1 &
  echo $! >>"$BG_PIDS"
}

# wait_bench PID LABEL OUTFILE: pgbench must exit 0 with no aborted client
wait_bench() {
  local pid=$1 label=$2 out=$3 rc=0
  wait "$pid" || rc=$?
  local n; n=$(grep -o 'number of transactions actually processed: [0-9]*' "$out" | awk '{print $NF}')
  if [ $rc -ne 0 ] || grep -q 'aborted\|ERROR' "$out"; then
    note "$label: pgbench exit $rc"
    grep -m 5 'aborted\|ERROR\|error' "$out" | sed 's/^/    /'
    return 1
  fi
  note "$label: ${n:-?} transactions, no errors"
}

# wait_replay PRIMARY STANDBY: bounded (30 s) wait until the standby replayed the primary's WAL
wait_replay() {
  local target i
  target=$(sql "$1" -c "SELECT pg_current_wal_lsn()")
  for ((i = 0; i < 300; i++)); do
    if [ "$(sql "$2" -c "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")" = t ]; then
      note "standby replayed up to $target"
      return 0
    fi
    sleep 0.1
  done
  note "standby did not replay up to $target within 30 s"
  return 1
}

# Fail on PANIC, assertion failures and backends killed by a signal in the logs of NAMEs.
check_logs() {
  local status=0 name log
  for name in "$@"; do
    log=$ROOT/$name/postgres.log
    [ -f "$log" ] || continue
    if grep -n 'PANIC\|TRAP:\|terminated by signal' "$log" >/dev/null; then
      note "$name server log:"
      grep -n 'PANIC\|TRAP:\|terminated by signal' "$log" | head -5 | sed 's/^/    /'
      status=1
    fi
  done
  return $status
}

kill_background() {
  local pid
  [ -f "$BG_PIDS" ] || return 0
  while read -r pid; do
    kill "$pid" 2>/dev/null || true
  done <"$BG_PIDS"
  : >"$BG_PIDS"
}

cleanup() {
  kill_background
  local name
  for name in "${!PORT[@]}"; do stop "$name"; done
  if [ "${MP_KEEP:-0}" != 1 ] && [ "$failed" -eq 0 ]; then
    rm -rf "$ROOT"
  else
    echo "data directories and server logs kept in $ROOT" >&2
  fi
}

passed=0
failed=0
# scenario TITLE FUNCTION CLUSTER...: run FUNCTION (errexit on) in a subshell, then stop its
# clusters (unless KEEP_RUNNING=1) and check their logs; prints PASS/FAIL.
scenario() {
  local title=$1 fn=$2 t0=$SECONDS rc=0 name
  shift 2
  if [ -n "${MP_ONLY:-}" ] && ! grep -qw -- "$fn" <<<"$MP_ONLY"; then return 0; fi
  echo "== $title"
  # not part of a || list: errexit must stay in force inside the function
  (set -e; "$fn")
  rc=$?
  kill_background
  for name in "$@"; do
    if [ $rc -ne 0 ] && [ -f "$ROOT/$name/postgres.log" ]; then
      note "last lines of the $name server log:"
      grep -E '^[0-9]{4}-' "$ROOT/$name/postgres.log" | tail -n 6 | cut -c 1-200 | sed 's/^/    /'
    fi
    [ "${KEEP_RUNNING:-0}" = 1 ] || stop "$name"
  done
  check_logs "$@" || rc=1
  if [ $rc -eq 0 ]; then
    echo "PASS: $title ($((SECONDS - t0)) s)"
    passed=$((passed + 1))
  else
    echo "FAIL: $title ($((SECONDS - t0)) s)"
    failed=$((failed + 1))
  fi
}

# 13. hnsw: build, inserts, delete + VACUUM (link repair) on a primary with a streaming standby
#     (vector, vector beyond a page, sparsevec with long rows that spill out of their segment);
#     concurrent inserts and queries while VACUUM runs; then the primary crashes. The standby's
#     and the recovered primary's graphs answer like the primary's did (recall against their
#     own seq scan, every row live and at its true distance), and take writes again.
hnsw() {
  new_cluster hprimary
  start hprimary "${PRIMARY_SETTINGS[@]}" "${CRASH_SETTINGS[@]}"
  sql hprimary >/dev/null <<'SQL'
CREATE TABLE h (id bigserial PRIMARY KEY, v vector(16)) WITH (vacuum_truncate = false);
INSERT INTO h (v) SELECT mp_rand_vec(16) FROM generate_series(1, 4000);
INSERT INTO h (v) SELECT NULL FROM generate_series(1, 10);
INSERT INTO h (v) SELECT v FROM h WHERE id % 83 = 0;
CREATE TABLE hbig (id bigserial PRIMARY KEY, v vector(3000))
  WITH (vacuum_truncate = false, toast.vacuum_truncate = false);
INSERT INTO hbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 100);
SELECT mp_add_queries('h', 6, 3);
SELECT mp_add_queries('hbig', 3, 2);
CHECKPOINT;
SQL
  rm -rf "$ROOT/hstandby"
  mkdir -p "$ROOT/hstandby"
  chown postgres "$ROOT/hstandby"
  as_postgres timeout -k 5 120 "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "${PORT[hprimary]}" \
    -U postgres -D "$ROOT/hstandby/data" -R -X stream -c fast
  start hstandby "${STANDBY_SETTINGS[@]}"
  local lsn0
  lsn0=$(sql hprimary -c "SELECT pg_current_wal_lsn()")
  sql hprimary >/dev/null <<'SQL'
CREATE INDEX h_l2 ON h USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX hbig_l2 ON hbig USING hnsw (v vector_l2_ops);
INSERT INTO h (v) SELECT mp_rand_vec(16) FROM generate_series(1, 1000);
UPDATE h SET v = mp_rand_vec(16) WHERE id % 40 = 1;
INSERT INTO hbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 30);
DELETE FROM h WHERE id % 3 = 2;
DELETE FROM hbig WHERE id % 4 = 0;
VACUUM (INDEX_CLEANUP ON) h;
VACUUM (INDEX_CLEANUP ON) hbig;
INSERT INTO h (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
CREATE TABLE hsp (id bigserial PRIMARY KEY, v sparsevec(2000)) WITH (vacuum_truncate = false);
INSERT INTO hsp (v) SELECT mp_rand_sparse(2000, 5 + i % 60) FROM generate_series(1, 2000) i;
CREATE INDEX hsp_l2 ON hsp USING hnsw (v sparsevec_l2_ops) WITH (m = 8, ef_construction = 32);
INSERT INTO hsp (v) SELECT mp_rand_sparse(2000, 300 + i % 600) FROM generate_series(1, 150) i;
DELETE FROM hsp WHERE id % 3 = 2;
VACUUM (INDEX_CLEANUP ON) hsp;
INSERT INTO hsp (v) SELECT mp_rand_sparse(2000, 5 + i % 900) FROM generate_series(1, 100) i;
SQL
  local ok=0
  verify hprimary "primary: h" "SELECT mp_hnsw_check('h')" || ok=1
  verify hprimary "primary: hbig" "SELECT mp_hnsw_check('hbig')" || ok=1
  verify hprimary "primary: hsp" "SELECT mp_hnsw_sparse_check('hsp')" || ok=1
  # inserts and queries while VACUUM repairs links
  local dur=8 w=() r=() wp rp
  w+=(-f "$(render insert h 16)@6" -f "$(render delete h 16)@3" -f "$(render update h 16)@2")
  w+=(-f "$(render vacuum h 16)@1")
  r+=(-f "$(render reader_approx h 16 20)@4")
  bench hprimary "$dur" 2 "$ROOT/hprimary/writers.out" "${w[@]}"
  wp=$!
  bench hprimary "$dur" 1 "$ROOT/hprimary/readers.out" "${r[@]}"
  rp=$!
  wait_bench "$wp" "primary writers + VACUUM ($dur s)" "$ROOT/hprimary/writers.out" || ok=1
  wait_bench "$rp" "primary readers during writes ($dur s)" "$ROOT/hprimary/readers.out" || ok=1
  sql hprimary >/dev/null -c "VACUUM (INDEX_CLEANUP ON) h"
  verify hprimary "primary after concurrent writes: h" "SELECT mp_hnsw_check('h')" || ok=1
  wait_replay hprimary hstandby || ok=1
  verify hstandby "standby: h" "SELECT mp_hnsw_check('h')" || ok=1
  verify hstandby "standby: hbig" "SELECT mp_hnsw_check('hbig')" || ok=1
  verify hstandby "standby: hsp" "SELECT mp_hnsw_sparse_check('hsp')" || ok=1
  local fp
  fp=$(sql hprimary -c "SELECT mp_fingerprint('h')")
  stop hstandby
  crash hprimary
  start hprimary "${PRIMARY_SETTINGS[@]}" "${CRASH_SETTINGS[@]}"
  check_recovery hprimary "$lsn0" || ok=1
  expect hprimary "h contents survived" "SELECT mp_fingerprint('h')" "$fp" || ok=1
  verify hprimary "after recovery: h" "SELECT mp_hnsw_check('h')" || ok=1
  verify hprimary "after recovery: hbig" "SELECT mp_hnsw_check('hbig')" || ok=1
  verify hprimary "after recovery: hsp" "SELECT mp_hnsw_sparse_check('hsp')" || ok=1
  sql hprimary >/dev/null <<'SQL'
INSERT INTO h (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
DELETE FROM h WHERE id % 5 = 1;
VACUUM (INDEX_CLEANUP ON) h;
INSERT INTO hbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 10);
INSERT INTO hsp (v) SELECT mp_rand_sparse(2000, 300 + i % 700) FROM generate_series(1, 100) i;
SQL
  verify hprimary "writes after recovery: h" "SELECT mp_hnsw_check('h')" || ok=1
  verify hprimary "writes after recovery: hbig" "SELECT mp_hnsw_check('hbig')" || ok=1
  verify hprimary "writes after recovery: hsp" "SELECT mp_hnsw_sparse_check('hsp')" || ok=1
  return $ok
}

# ------------------------------------------------------------------------------ scenarios

# 6. CREATE INDEX reports its phase and tuple counts in pg_stat_progress_create_index, polled
#    from a second session while the build runs.
progress() {
  local name=progress ok=0 method opts seen builder
  new_cluster "$name"
  start "$name"
  sql "$name" -c "CREATE TABLE tp (id bigserial PRIMARY KEY, v vector(32))" \
    -c "INSERT INTO tp (v) SELECT mp_rand_vec(32) FROM generate_series(1, 150000)"
  for method in flat ivfflat; do
    opts=""
    [ "$method" = ivfflat ] && opts="WITH (lists = 200)"
    sql "$name" -c "DROP INDEX IF EXISTS tp_idx"
    sql "$name" -c "CREATE INDEX tp_idx ON tp USING $method (v vector_l2_ops) $opts" &
    builder=$!
    seen=""
    for _ in $(seq 1 1500); do
      seen+=$(sql "$name" -c "SELECT phase || ' ' || tuples_done || '/' || tuples_total
                             FROM pg_stat_progress_create_index" 2>/dev/null || true)$'\n'
      kill -0 "$builder" 2>/dev/null || break
      sleep 0.01
    done
    wait "$builder" || { note "$method: CREATE INDEX failed"; ok=1; continue; }
    seen=$(grep -v '^$' <<<"$seen" | sort -u)
    note "$method phases seen: $(tr '\n' ';' <<<"$seen" | cut -c 1-300)"
    if [ "$method" = flat ]; then
      grep -qE '^building index: loading tuples [1-9][0-9]*/' <<<"$seen" ||
        { note "flat: no 'loading tuples' progress with tuples done"; ok=1; }
    else
      grep -qE '^building index: (performing k-means|assigning tuples|loading tuples) ' <<<"$seen" ||
        { note "ivfflat: no k-means/assign/load phase seen"; ok=1; }
    fi
  done
  return $ok
}

# Settings for crash tests: changes after the last checkpoint live only in WAL.
CRASH_SETTINGS=(wal_level=replica checkpoint_timeout=1h max_wal_size=4GB bgwriter_lru_maxpages=0
  autovacuum=off)

# 1. Build, insert, update, roll back, delete + VACUUM, reuse freed slots; then crash.
crash_dml() {
  local name=$1 fpw=$2
  new_cluster "$name"
  start "$name" "${CRASH_SETTINGS[@]}" "full_page_writes=$fpw"
  sql "$name" >/dev/null <<'SQL'
CREATE TABLE t (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 5000);
INSERT INTO t (v) SELECT NULL FROM generate_series(1, 20);
INSERT INTO t (v) SELECT v FROM t WHERE id % 97 = 0;          -- duplicates: ties
CREATE TABLE tbig (id bigserial PRIMARY KEY, v vector(3000));  -- a slot spans two pages
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 150);
CREATE TABLE tiv (id bigserial PRIMARY KEY, v vector(16));     -- ivfflat
INSERT INTO tiv (v) SELECT v FROM t;
CREATE TABLE tivq (id bigserial PRIMARY KEY, v vector(16));    -- ivfflat, RaBitQ codes
INSERT INTO tivq (v) SELECT v FROM t;
CREATE TABLE tsp (id bigserial PRIMARY KEY, v sparsevec(5000)); -- flat over sparsevec
INSERT INTO tsp (v) SELECT mp_rand_sparse(5000, 1 + (i * 37) % 120) FROM generate_series(1, 2000) i;
SELECT mp_add_queries('t', 6, 3);
SELECT mp_add_queries('tbig', 3, 2);
CHECKPOINT;
SQL
  local lsn0
  lsn0=$(sql "$name" -c "SELECT pg_current_wal_lsn()")
  sql "$name" >/dev/null <<'SQL'
CREATE INDEX t_l2 ON t USING flat (v vector_l2_ops);
CREATE INDEX t_ip ON t USING flat (v vector_ip_ops);
CREATE INDEX tbig_l2 ON tbig USING flat (v vector_l2_ops);
CREATE INDEX tiv_l2 ON tiv USING ivfflat (v vector_l2_ops) WITH (lists = 20);
CREATE INDEX tivq_l2 ON tivq USING ivfflat (v vector_l2_ops) WITH (lists = 20, quantization = rabitq);
INSERT INTO tivq (v) SELECT mp_rand_vec(16) FROM generate_series(1, 800);
DELETE FROM tivq WHERE id % 7 = 3;
VACUUM (INDEX_CLEANUP ON) tivq;
INSERT INTO tivq (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
CREATE INDEX tsp_l2 ON tsp USING flat (v sparsevec_l2_ops);
INSERT INTO tsp (v) SELECT mp_rand_sparse(5000, 1 + (i * 53) % 900) FROM generate_series(1, 300) i;
DELETE FROM tsp WHERE id % 4 = 1;
VACUUM (INDEX_CLEANUP ON) tsp;
INSERT INTO tsp (v) SELECT mp_rand_sparse(5000, 1 + (i * 29) % 200) FROM generate_series(1, 400) i;
DELETE FROM tsp WHERE id % 9 = 2;
INSERT INTO tiv (v) SELECT mp_rand_vec(16) FROM generate_series(1, 800);
DELETE FROM tiv WHERE id % 7 = 3;
VACUUM (INDEX_CLEANUP ON) tiv;
INSERT INTO tiv (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
-- aminsert after the build
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 1500);
INSERT INTO t (v) VALUES (NULL);
UPDATE t SET v = mp_rand_vec(16) WHERE id % 50 = 1;
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 40);
BEGIN;
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 100);
ROLLBACK;
-- ambulkdelete
DELETE FROM t WHERE id % 7 = 3;
DELETE FROM tbig WHERE id % 5 = 0;
VACUUM (INDEX_CLEANUP ON) t;
VACUUM (INDEX_CLEANUP ON) tbig;
-- reuse of freed slots, and dead rows left for after the crash
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 600);
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 20);
DELETE FROM t WHERE id % 11 = 5;
SQL
  verify "$name" "before crash: t" "SELECT mp_verify('t')"
  verify "$name" "before crash: tbig" "SELECT mp_verify('tbig', 20)"
  verify "$name" "before crash: tiv (ivfflat)" "SELECT mp_verify('tiv')"
  verify "$name" "before crash: tsp (flat sparsevec)" "SELECT mp_flat_sparse_check('tsp')"
  verify "$name" "before crash: tivq (ivfflat rabitq)" "SELECT mp_verify('tivq')"
  local fp_t fp_big f_idx f_big
  fp_t=$(sql "$name" -c "SELECT mp_fingerprint('t')")
  fp_big=$(sql "$name" -c "SELECT mp_fingerprint('tbig')")
  f_idx=$ROOT/$name/data/$(sql "$name" -c "SELECT pg_relation_filepath('t_l2')")
  f_big=$ROOT/$name/data/$(sql "$name" -c "SELECT pg_relation_filepath('tbig_l2')")
  crash "$name"
  note "crashed (immediate stop); on disk: t_l2 $(zero_blocks "$f_idx"), tbig_l2 $(zero_blocks "$f_big")"
  start "$name" "${CRASH_SETTINGS[@]}" "full_page_writes=$fpw"
  check_recovery "$name" "$lsn0"
  local ok=0
  expect "$name" "t contents survived" "SELECT mp_fingerprint('t')" "$fp_t" || ok=1
  expect "$name" "tbig contents survived" "SELECT mp_fingerprint('tbig')" "$fp_big" || ok=1
  verify "$name" "after recovery: t" "SELECT mp_verify('t')" || ok=1
  verify "$name" "after recovery: t count" "SELECT mp_index_count('t')" || ok=1
  verify "$name" "after recovery: tbig" "SELECT mp_verify('tbig', 20)" || ok=1
  verify "$name" "after recovery: tbig count" "SELECT mp_index_count('tbig')" || ok=1
  verify "$name" "after recovery: tiv (ivfflat)" "SELECT mp_verify('tiv')" || ok=1
  verify "$name" "after recovery: tiv count" "SELECT mp_index_count('tiv')" || ok=1
  verify "$name" "after recovery: tsp (flat sparsevec)" "SELECT mp_flat_sparse_check('tsp')" || ok=1
  verify "$name" "after recovery: tivq (ivfflat rabitq)" "SELECT mp_verify('tivq')" || ok=1
  verify "$name" "after recovery: tivq count" "SELECT mp_index_count('tivq')" || ok=1
  # the recovered index keeps working: more inserts, bulk delete, slot reuse
  sql "$name" >/dev/null <<'SQL'
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
VACUUM (INDEX_CLEANUP ON) t;
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
DELETE FROM tbig WHERE id % 3 = 0;
VACUUM (INDEX_CLEANUP ON) tbig;
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 10);
VACUUM (INDEX_CLEANUP ON) tsp;
INSERT INTO tsp (v) SELECT mp_rand_sparse(5000, 1 + (i * 31) % 700) FROM generate_series(1, 200) i;
SQL
  verify "$name" "writes after recovery: tsp (flat sparsevec)" "SELECT mp_flat_sparse_check('tsp')" || ok=1
  verify "$name" "writes after recovery: t" "SELECT mp_verify('t')" || ok=1
  verify "$name" "writes after recovery: tbig" "SELECT mp_verify('tbig', 20)" || ok=1
  return $ok
}
crash_fpw_on() { crash_dml crash_fpw_on on; }
crash_fpw_off() { crash_dml crash_fpw_off off; }

# 2. Crash right after CREATE INDEX (no later writes): the logged table's index is intact.
crash_build() {
  local name=crash_build
  new_cluster "$name"
  start "$name" "${CRASH_SETTINGS[@]}"
  sql "$name" >/dev/null <<'SQL'
CREATE UNLOGGED TABLE tu_ckpt (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tu_ckpt (v) SELECT mp_rand_vec(16) FROM generate_series(1, 2000);
CREATE INDEX tu_ckpt_l2 ON tu_ckpt USING flat (v vector_l2_ops);
CREATE UNLOGGED TABLE tu (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tu (v) SELECT mp_rand_vec(16) FROM generate_series(1, 3000);
CREATE UNLOGGED TABLE tuiv (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tuiv (v) SELECT mp_rand_vec(16) FROM generate_series(1, 3000);
CREATE TABLE tl (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tl (v) SELECT mp_rand_vec(16) FROM generate_series(1, 5000);
INSERT INTO tl (v) SELECT v FROM tl WHERE id % 89 = 0;
SELECT mp_add_queries('tl', 6, 3);
CHECKPOINT;
SQL
  local lsn0
  lsn0=$(sql "$name" -c "SELECT pg_current_wal_lsn()")
  sql "$name" >/dev/null <<'SQL'
CREATE INDEX tu_l2 ON tu USING flat (v vector_l2_ops);
CREATE INDEX tuiv_l2 ON tuiv USING ivfflat (v vector_l2_ops) WITH (lists = 10);
CREATE INDEX tl_l2 ON tl USING flat (v vector_l2_ops);
CREATE INDEX tl_ip ON tl USING flat (v vector_ip_ops);
SQL
  verify "$name" "before crash: tl" "SELECT mp_verify('tl')"
  verify "$name" "before crash: tu" "SELECT mp_verify('tu')"
  local fp f_idx
  fp=$(sql "$name" -c "SELECT mp_fingerprint('tl')")
  f_idx=$ROOT/$name/data/$(sql "$name" -c "SELECT pg_relation_filepath('tl_l2')")
  crash "$name"
  note "crashed right after CREATE INDEX; on disk: tl_l2 $(zero_blocks "$f_idx")"
  start "$name" "${CRASH_SETTINGS[@]}"
  check_recovery "$name" "$lsn0"
  local ok=0
  expect "$name" "tl contents survived" "SELECT mp_fingerprint('tl')" "$fp" || ok=1
  verify "$name" "after recovery: tl" "SELECT mp_verify('tl')" || ok=1
  verify "$name" "after recovery: tl count" "SELECT mp_index_count('tl')" || ok=1
  sql "$name" -c "INSERT INTO tl (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300)" \
    -c "DELETE FROM tl WHERE id % 5 = 0" -c "VACUUM (INDEX_CLEANUP ON) tl" \
    -c "INSERT INTO tl (v) SELECT mp_rand_vec(16) FROM generate_series(1, 100)"
  verify "$name" "writes after recovery: tl" "SELECT mp_verify('tl')" || ok=1
  return $ok
}

# 2b. Same crash (cluster kept running by 2.): the unlogged tables are reset to empty and their
#     indexes usable. tu was indexed after the last checkpoint, tu_ckpt before it.
crash_unlogged() {
  local name=crash_build ok=0 t err
  [ -f "$ROOT/$name/data/postmaster.pid" ] || { note "cluster $name not running"; return 1; }
  for t in tu tu_ckpt tuiv; do
    expect "$name" "$t is empty after the crash" "SELECT count(*) FROM $t" 0 || ok=1
    verify "$name" "empty $t through its index" "SELECT mp_verify('$t')" || ok=1
    if err=$(sql "$name" -c "INSERT INTO $t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 500)" \
               -c "DELETE FROM $t WHERE id % 5 = 0" -c "VACUUM (INDEX_CLEANUP ON) $t" \
               -c "INSERT INTO $t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 100)" 2>&1); then
      verify "$name" "inserts, delete + VACUUM on $t" "SELECT mp_verify('$t')" || ok=1
    else
      note "inserts into $t failed: $(head -1 <<<"$err")"
      ok=1
    fi
  done
  return $ok
}

# 3. Crash in the middle of concurrent writes (3 pgbench writers + VACUUM on tw, one client
#    committing tagged single-row inserts into tack): every acknowledged commit survives, and
#    both indexes agree with a seq scan, before and after VACUUM and further inserts.
crash_load() {
  local name=crash_load
  new_cluster "$name"
  start "$name" wal_level=replica checkpoint_timeout=1h max_wal_size=4GB
  sql "$name" >/dev/null <<'SQL'
CREATE TABLE tw (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tw (v) SELECT mp_rand_vec(16) FROM generate_series(1, 3000);
CREATE INDEX tw_l2 ON tw USING flat (v vector_l2_ops);
CREATE TABLE tack (id bigserial PRIMARY KEY, tag int NOT NULL, v vector(16));
INSERT INTO tack (tag, v) SELECT 0, mp_rand_vec(16) FROM generate_series(1, 500);
CREATE INDEX tack_l2 ON tack USING flat (v vector_l2_ops);
SELECT mp_add_queries('tw', 6, 3);
CHECKPOINT;
SQL
  local lsn0 w=()
  lsn0=$(sql "$name" -c "SELECT pg_current_wal_lsn()")
  w+=(-f "$(render insert tw 16)@6" -f "$(render delete tw 16)@4" -f "$(render update tw 16)@2")
  w+=(-f "$(render rollback tw 16)@1" -f "$(render insert_null tw 16)@1" -f "$(render vacuum tw 16)@1")
  bench "$name" 60 3 "$ROOT/$name/writers.out" "${w[@]}"
  local bench_pid=$!
  # the tag is recorded only after psql returned from the (synchronous) COMMIT
  local acked=$ROOT/$name/acked
  : >"$acked"
  (
    for ((i = 1; i < 100000; i++)); do
      sql "$name" -c "INSERT INTO tack (tag, v) VALUES ($i, mp_rand_vec(16))" 2>/dev/null || break
      echo $i >>"$acked"
    done
  ) &
  local ack_pid=$!
  echo $ack_pid >>"$BG_PIDS"
  sleep 6
  crash "$name"
  wait "$ack_pid" || true
  kill "$bench_pid" 2>/dev/null || true
  wait "$bench_pid" 2>/dev/null || true
  local n_acked tags
  n_acked=$(wc -l <"$acked")
  tags=$(paste -sd, "$acked")
  note "crashed under load (3 pgbench writers + VACUUM) after $n_acked acknowledged single-row commits"
  start "$name" wal_level=replica checkpoint_timeout=1h max_wal_size=4GB
  local ok=0
  check_recovery "$name" "$lsn0" || ok=1
  [ "$n_acked" -gt 0 ] || { note "no commit was acknowledged before the crash"; ok=1; }
  expect "$name" "acknowledged commits present" \
    "SELECT count(DISTINCT tag) FROM tack WHERE tag = ANY ('{${tags}}'::int[])" "$n_acked" || ok=1
  sql "$name" -c "SELECT mp_add_queries('tack', 4, 4)" >/dev/null
  verify "$name" "after recovery: tw" "SELECT mp_verify('tw', 50, 3)" || ok=1
  verify "$name" "after recovery: tw count" "SELECT mp_index_count('tw')" || ok=1
  verify "$name" "after recovery: tack (complete scans find every row)" "SELECT mp_verify('tack', 50, 8)" || ok=1
  sql "$name" -c "VACUUM (INDEX_CLEANUP ON) tw"
  verify "$name" "after VACUUM: tw" "SELECT mp_verify('tw', 50, 3)" || ok=1
  sql "$name" -c "INSERT INTO tw (v) SELECT mp_rand_vec(16) FROM generate_series(1, 500)"
  verify "$name" "after more inserts: tw" "SELECT mp_verify('tw', 50, 3)" || ok=1
  return $ok
}

PRIMARY_SETTINGS=(wal_level=replica max_wal_senders=5 wal_keep_size=1GB)
STANDBY_SETTINGS=(hot_standby=on hot_standby_feedback=on)

# 4. A hot standby replays build, inserts, deletes and VACUUM; it is read while the primary
#    writes, then checked against its own seq scan and against the primary.
standby() {
  new_cluster primary
  start primary "${PRIMARY_SETTINGS[@]}"
  sql primary >/dev/null <<'SQL'
CREATE TABLE t (id bigserial PRIMARY KEY, v vector(16)) WITH (vacuum_truncate = false);
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 4000);
INSERT INTO t (v) SELECT NULL FROM generate_series(1, 10);
INSERT INTO t (v) SELECT v FROM t WHERE id % 83 = 0;
CREATE TABLE tbig (id bigserial PRIMARY KEY, v vector(3000))
  WITH (vacuum_truncate = false, toast.vacuum_truncate = false);  -- no AccessExclusiveLock to replay
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 120);
CREATE UNLOGGED TABLE tu (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tu (v) SELECT mp_rand_vec(16) FROM generate_series(1, 1000);
CREATE TABLE tq (id bigserial PRIMARY KEY, v vector(16)) WITH (vacuum_truncate = false); -- RaBitQ
INSERT INTO tq (v) SELECT v FROM t;
SELECT mp_add_queries('t', 6, 3);
SELECT mp_add_queries('tbig', 3, 2);
SQL
  rm -rf "$ROOT/standby"
  mkdir -p "$ROOT/standby"
  chown postgres "$ROOT/standby"
  as_postgres timeout -k 5 120 "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "${PORT[primary]}" \
    -U postgres -D "$ROOT/standby/data" -R -X stream -c fast
  start standby "${STANDBY_SETTINGS[@]}"
  expect standby "standby in recovery" "SELECT pg_is_in_recovery()" t
  # everything index-related happens after the base backup: the standby gets it from WAL
  sql primary >/dev/null <<'SQL'
CREATE INDEX t_l2 ON t USING flat (v vector_l2_ops);
CREATE INDEX t_ip ON t USING flat (v vector_ip_ops);
CREATE INDEX tbig_l2 ON tbig USING flat (v vector_l2_ops);
CREATE INDEX tu_l2 ON tu USING flat (v vector_l2_ops);
CREATE INDEX tq_l2 ON tq USING ivfflat (v vector_l2_ops) WITH (lists = 16, quantization = rabitq);
INSERT INTO tq (v) SELECT mp_rand_vec(16) FROM generate_series(1, 600);
DELETE FROM tq WHERE id % 5 = 1;
VACUUM (INDEX_CLEANUP ON) tq;
INSERT INTO tq (v) SELECT mp_rand_vec(16) FROM generate_series(1, 200);
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 1000);
UPDATE t SET v = mp_rand_vec(16) WHERE id % 40 = 1;
INSERT INTO tbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 30);
DELETE FROM t WHERE id % 6 = 2;
DELETE FROM tbig WHERE id % 4 = 0;
VACUUM (INDEX_CLEANUP ON) t;
VACUUM (INDEX_CLEANUP ON) tbig;
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
CREATE TABLE ttr (id bigserial PRIMARY KEY, v vector(16));
CREATE INDEX ttr_flat ON ttr USING flat (v vector_l2_ops);
CREATE INDEX ttr_ivf ON ttr USING ivfflat (v vector_l2_ops) WITH (lists = 8);
INSERT INTO ttr (v) SELECT mp_rand_vec(16) FROM generate_series(1, 100);
BEGIN;
TRUNCATE ttr;
INSERT INTO ttr (v) SELECT mp_rand_vec(16) FROM generate_series(1, 3000);
COMMIT;
SQL
  wait_replay primary standby
  local ok=0
  verify standby "standby after build/insert/delete/vacuum: t" "SELECT mp_verify('t')" || ok=1
  verify standby "standby: tq (ivfflat rabitq)" "SELECT mp_verify('tq')" || ok=1
  verify standby "standby: tq count" "SELECT mp_index_count('tq')" || ok=1
  expect standby "standby after TRUNCATE + load in one transaction: ttr rows" "SELECT count(*) FROM ttr" 3000 || ok=1
  verify standby "standby: ttr through its indexes" "SELECT mp_index_count('ttr')" || ok=1
  # standby readers (index vs seq scan on one snapshot) while the primary writes and vacuums
  local dur=8 w=() r=() wp rp
  w+=(-f "$(render insert t 16)@6" -f "$(render delete t 16)@4" -f "$(render update t 16)@2")
  w+=(-f "$(render rollback t 16)@1" -f "$(render insert_null t 16)@1" -f "$(render vacuum t 16)@1")
  w+=(-f "$(render insert tbig 3000)@1" -f "$(render delete tbig 3000)@1" -f "$(render vacuum tbig 3000)@1")
  r+=(-f "$(render reader t 16 20)@8" -f "$(render reader t 16 100000000)@1" -f "$(render reader tbig 3000 10)@2")
  bench primary "$dur" 3 "$ROOT/primary/writers.out" "${w[@]}"
  wp=$!
  bench standby "$dur" 2 "$ROOT/standby/readers.out" "${r[@]}"
  rp=$!
  wait_bench "$wp" "primary writers + VACUUM ($dur s)" "$ROOT/primary/writers.out" || ok=1
  wait_bench "$rp" "standby readers, index vs seq scan per snapshot ($dur s)" "$ROOT/standby/readers.out" || ok=1
  sql primary >/dev/null <<'SQL'
DELETE FROM t WHERE id % 9 = 4;
VACUUM (INDEX_CLEANUP ON) t;
VACUUM (INDEX_CLEANUP ON) tbig;
SQL
  wait_replay primary standby
  note "standby plan: $(sql standby -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY v <-> (SELECT v FROM mp_queries LIMIT 1) LIMIT 10" | grep -o 'Index Scan.*')"
  verify standby "standby vs its seq scan: t" "SELECT mp_verify('t')" || ok=1
  verify standby "standby vs its seq scan: tbig" "SELECT mp_verify('tbig', 20)" || ok=1
  verify standby "standby count: t" "SELECT mp_index_count('t')" || ok=1
  local tbl
  for tbl in t tbig; do
    expect standby "$tbl contents equal the primary's" "SELECT mp_fingerprint('$tbl')" \
      "$(sql primary -c "SELECT mp_fingerprint('$tbl')")" || ok=1
  done
  # the primary's index results, compared with the standby's index results on the standby
  local cmp=$ROOT/standby/compare.sql
  sql primary -o "$cmp" -c "
    SELECT format('SELECT %L || '': '' || mp_compare(mp_knn(%L, (SELECT v FROM mp_queries WHERE qid = %s), 50, %L, true), %L::mp_hit[], false);',
                  t || ' ' || o || ' q' || q.qid, t, q.qid, o, mp_knn(t::regclass, q.v, 50, o, true))
    FROM (VALUES ('t'), ('tbig')) tb(t), mp_index_ops(t::regclass) o, mp_queries q
    WHERE q.dims = mp_dims(t::regclass) ORDER BY t, o, q.qid"
  local res n bad
  res=$(sql standby -f "$cmp") || ok=1
  n=$(grep -c . <<<"$res")
  bad=$(grep -v ': ok$' <<<"$res" || true)
  if [ -z "$bad" ] && [ "$n" -gt 0 ]; then
    note "standby index results equal the primary's: $n queries"
  else
    note "standby index results differ from the primary's:"
    head -5 <<<"$bad" | sed 's/^/    /'
    ok=1
  fi
  return $ok
}

# 5. Promote the standby: its unlogged table is reset from the init forks (replayed from WAL)
#    and its index usable; the replayed logged indexes accept writes.
promote() {
  [ -f "$ROOT/standby/data/postmaster.pid" ] || { note "standby not running"; return 1; }
  stop primary
  pgctl -D "$ROOT/standby/data" -w -t 60 promote >/dev/null
  local ok=0
  expect standby "promoted" "SELECT pg_is_in_recovery()" f
  expect standby "unlogged tu is empty" "SELECT count(*) FROM tu" 0 || ok=1
  verify standby "empty tu through its index" "SELECT mp_verify('tu')" || ok=1
  local err
  if err=$(sql standby -c "INSERT INTO tu (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300)" 2>&1); then
    verify standby "inserts into tu" "SELECT mp_verify('tu')" || ok=1
  else
    note "inserts into tu failed: $(head -1 <<<"$err")"
    ok=1
  fi
  sql standby >/dev/null <<'SQL'
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
DELETE FROM t WHERE id % 10 = 7;
VACUUM (INDEX_CLEANUP ON) t;
INSERT INTO t (v) SELECT mp_rand_vec(16) FROM generate_series(1, 100);
SQL
  verify standby "writes on the promoted standby: t" "SELECT mp_verify('t')" || ok=1
  return $ok
}

# 6. Concurrency: 3 writers, 1 VACUUM loop, 2 readers for DURATION seconds; readers compare
#    index and seq scan on one snapshot; afterwards a final VACUUM and the full comparison.
conc() {
  local name=conc
  new_cluster "$name"
  start "$name" autovacuum_naptime=1s
  sql "$name" >/dev/null <<'SQL'
CREATE TABLE tc (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tc (v) SELECT mp_rand_vec(16) FROM generate_series(1, 5000);
INSERT INTO tc (v) SELECT v FROM tc WHERE id % 71 = 0;
CREATE INDEX tc_l2 ON tc USING flat (v vector_l2_ops);
CREATE INDEX tc_ip ON tc USING flat (v vector_ip_ops);
CREATE TABLE tcbig (id bigserial PRIMARY KEY, v vector(3000));
INSERT INTO tcbig (v) SELECT mp_rand_vec(3000) FROM generate_series(1, 150);
CREATE INDEX tcbig_l2 ON tcbig USING flat (v vector_l2_ops);
SELECT mp_add_queries('tc', 6, 3);
SELECT mp_add_queries('tcbig', 3, 2);
SQL
  local w=() v=() r=() wp vp rp ok=0
  w+=(-f "$(render insert tc 16)@6" -f "$(render delete tc 16)@4" -f "$(render update tc 16)@2")
  w+=(-f "$(render rollback tc 16)@1" -f "$(render insert_null tc 16)@1")
  w+=(-f "$(render insert tcbig 3000)@1" -f "$(render delete tcbig 3000)@1" -f "$(render update tcbig 3000)@1")
  v+=(-f "$(render vacuum tc 16)@3" -f "$(render vacuum tcbig 3000)@1")
  r+=(-f "$(render reader tc 16 20)@8" -f "$(render reader tc 16 100000000)@1" -f "$(render reader tcbig 3000 10)@2")
  bench "$name" "$DURATION" 3 "$ROOT/$name/writers.out" "${w[@]}"
  wp=$!
  bench "$name" "$DURATION" 1 "$ROOT/$name/vacuum.out" "${v[@]}"
  vp=$!
  bench "$name" "$DURATION" 2 "$ROOT/$name/readers.out" "${r[@]}"
  rp=$!
  wait_bench "$wp" "3 writers ($DURATION s)" "$ROOT/$name/writers.out" || ok=1
  wait_bench "$vp" "1 VACUUM loop ($DURATION s)" "$ROOT/$name/vacuum.out" || ok=1
  wait_bench "$rp" "2 readers, index vs seq scan per snapshot ($DURATION s)" "$ROOT/$name/readers.out" || ok=1
  sql "$name" -c "VACUUM (INDEX_CLEANUP ON) tc" -c "VACUUM (INDEX_CLEANUP ON) tcbig"
  note "final: $(sql "$name" -c "SELECT format('tc %s rows (%s NULL), tcbig %s rows',
         (SELECT count(*) FROM tc), (SELECT count(*) FROM tc WHERE v IS NULL), (SELECT count(*) FROM tcbig))")"
  verify "$name" "after final VACUUM: tc" "SELECT mp_verify('tc', 50, 4)" || ok=1
  verify "$name" "after final VACUUM: tcbig" "SELECT mp_verify('tcbig', 20, 2)" || ok=1
  verify "$name" "after final VACUUM: tc count" "SELECT mp_index_count('tc')" || ok=1
  local errors
  errors=$(grep 'ERROR:' "$ROOT/$name/postgres.log" | grep -v 'canceling autovacuum task' || true)
  if [ -n "$errors" ]; then
    note "errors in the server log:"
    head -5 <<<"$errors" | sed 's/^/    /'
    ok=1
  fi
  return $ok
}


# 7. wal_level = minimal: a relation file created in the transaction (TRUNCATE, or CREATE
#    TABLE + CREATE INDEX) gets no WAL and is fsynced at commit. Rows loaded that way must be
#    there after a crash (page images logged by the build would be replayed over them).
MINIMAL_SETTINGS=(wal_level=minimal max_wal_senders=0 wal_skip_threshold=0 checkpoint_timeout=1h
  max_wal_size=4GB autovacuum=off)
minimal() {
  local name=minimal
  new_cluster "$name"
  start "$name" "${MINIMAL_SETTINGS[@]}"
  sql "$name" >/dev/null <<'SQL'
CREATE TABLE tm (id bigserial PRIMARY KEY, v vector(32));
CREATE INDEX tm_flat ON tm USING flat (v vector_l2_ops);
CREATE TABLE tmi (id bigserial PRIMARY KEY, v vector(32));
INSERT INTO tmi (v) SELECT mp_rand_vec(32) FROM generate_series(1, 2000);
CREATE INDEX tmi_ivf ON tmi USING ivfflat (v vector_l2_ops) WITH (lists = 10);
CREATE TABLE tmn (id bigserial PRIMARY KEY, v vector);          -- no declared dimension
CREATE INDEX tmn_ivf ON tmn USING ivfflat (v vector_l2_ops) WITH (lists = 4);
CHECKPOINT;
BEGIN;
TRUNCATE tm;
INSERT INTO tm (v) SELECT mp_rand_vec(32) FROM generate_series(1, 20000);
COMMIT;
BEGIN;
TRUNCATE tmi;
INSERT INTO tmi (v) SELECT mp_rand_vec(32) FROM generate_series(1, 20000);
COMMIT;
BEGIN;
TRUNCATE tmn;
INSERT INTO tmn (v) SELECT mp_rand_vec(8) FROM generate_series(1, 3000);
COMMIT;
BEGIN;
CREATE TABLE tmc (id bigserial PRIMARY KEY, v vector(32));
CREATE INDEX tmc_flat ON tmc USING flat (v vector_l2_ops);
CREATE INDEX tmc_ivf ON tmc USING ivfflat (v vector_l2_ops) WITH (lists = 10);
INSERT INTO tmc (v) SELECT mp_rand_vec(32) FROM generate_series(1, 10000);
COMMIT;
-- and ordinary WAL-logged inserts afterwards
INSERT INTO tm (v) SELECT mp_rand_vec(32) FROM generate_series(1, 500);
INSERT INTO tmi (v) SELECT mp_rand_vec(32) FROM generate_series(1, 500);
SELECT mp_add_queries('tm', 4, 2);
SELECT mp_add_queries('tmn', 3, 2);
SQL
  local ok=0 t
  for t in tm tmi tmn tmc; do
    verify "$name" "before crash: $t" "SELECT mp_index_count('$t')" || ok=1
  done
  crash "$name"
  note "crashed (immediate stop)"
  start "$name" "${MINIMAL_SETTINGS[@]}"
  expect "$name" "rows after recovery" \
    "SELECT (SELECT count(*) FROM tm) || ' ' || (SELECT count(*) FROM tmi) || ' ' || (SELECT count(*) FROM tmn) || ' ' || (SELECT count(*) FROM tmc)" \
    "20500 20500 3000 10000" || ok=1
  for t in tm tmi tmn tmc; do
    verify "$name" "after recovery: $t, every row through its index" "SELECT mp_index_count('$t')" || ok=1
  done
  verify "$name" "after recovery: tm" "SELECT mp_verify('tm')" || ok=1
  verify "$name" "after recovery: tmn (ivfflat laid out by its first insert)" "SELECT mp_verify('tmn')" || ok=1
  return $ok
}

# 8. full_page_writes = off and a standby. The primary extends its flat index in a transaction
#    whose WAL never reaches disk (the WAL writer stopped, then killed: a crash restart); the
#    new block stays behind as zeroes on the primary and never exists on the standby. The next
#    insert reuses that block: it must be logged as a full image, or the standby stops with
#    "WAL contains references to invalid pages".
fpw_standby() {
  local ok=0
  new_cluster fpw_primary
  start fpw_primary "${PRIMARY_SETTINGS[@]}" full_page_writes=off bgwriter_lru_maxpages=0 \
    checkpoint_timeout=1h autovacuum=off
  sql fpw_primary >/dev/null <<'SQL'
CREATE TABLE tz (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tz (v) SELECT mp_rand_vec(16) FROM generate_series(1, 500);
CREATE INDEX tz_flat ON tz USING flat (v vector_l2_ops);
CREATE TABLE tzi (id bigserial PRIMARY KEY, v vector(16));
INSERT INTO tzi (v) SELECT mp_rand_vec(16) FROM generate_series(1, 500);
CREATE INDEX tzi_ivf ON tzi USING ivfflat (v vector_l2_ops) WITH (lists = 4);
SELECT mp_add_queries('tz', 4, 2);
CHECKPOINT;
SQL
  rm -rf "$ROOT/fpw_standby"
  mkdir -p "$ROOT/fpw_standby"
  chown postgres "$ROOT/fpw_standby"
  as_postgres timeout -k 5 120 "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "${PORT[fpw_primary]}" \
    -U postgres -D "$ROOT/fpw_standby/data" -R -X stream -c fast
  start fpw_standby "${STANDBY_SETTINGS[@]}"
  wait_replay fpw_primary fpw_standby
  local blocks0 walwriter
  blocks0=$(sql fpw_primary -c "SELECT pg_relation_size('tz_flat') / 8192")
  walwriter=$(sql fpw_primary -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'")
  kill -STOP "$walwriter"
  sql fpw_primary >/dev/null <<'SQL'
BEGIN;
INSERT INTO tz (v) SELECT mp_rand_vec(16) FROM generate_series(1, 400);
INSERT INTO tzi (v) SELECT mp_rand_vec(16) FROM generate_series(1, 400);
ROLLBACK;
SQL
  local blocks1
  blocks1=$(sql fpw_primary -c "SELECT pg_relation_size('tz_flat') / 8192")
  kill -KILL "$walwriter"
  local i
  for ((i = 0; i < 300; i++)); do
    sql fpw_primary -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
  done
  note "flat index: $blocks0 blocks, $blocks1 during the lost transaction, $(sql fpw_primary -c "SELECT pg_relation_size('tz_flat') / 8192") after the crash restart"
  [ "$blocks1" -gt "$blocks0" ] || { note "the lost transaction did not extend the index"; ok=1; }
  sql fpw_primary >/dev/null <<'SQL'
INSERT INTO tz (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
INSERT INTO tzi (v) SELECT mp_rand_vec(16) FROM generate_series(1, 300);
DELETE FROM tz WHERE id % 5 = 0;
VACUUM (INDEX_CLEANUP ON) tz;
SQL
  wait_replay fpw_primary fpw_standby || ok=1
  expect fpw_standby "standby still in recovery" "SELECT pg_is_in_recovery()" t || ok=1
  verify fpw_standby "standby: tz" "SELECT mp_verify('tz')" || ok=1
  verify fpw_standby "standby: tz count" "SELECT mp_index_count('tz')" || ok=1
  verify fpw_standby "standby: tzi count" "SELECT mp_index_count('tzi')" || ok=1
  verify fpw_primary "primary: tz" "SELECT mp_verify('tz')" || ok=1
  stop fpw_primary
  return $ok
}


# 9. A server started with RUST_BACKTRACE=1 (as a Rust developer's shell has it): ordinary SQL
#    errors, including one raised inside a heap-scan callback and rethrown across pgrx's
#    boundaries, carry no Rust backtrace in their DETAIL (pgvector's error output).
backtrace() {
  local name=backtrace dir=$ROOT/backtrace out
  new_cluster "$name"
  as_postgres env RUST_BACKTRACE=1 "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
    -o "-p ${PORT[$name]} -k $dir -c listen_addresses=127.0.0.1" -w start >/dev/null
  out=$(sql "$name" -v VERBOSITY=default 2>&1 <<'SQL' || true
CREATE TABLE mixed (v vector);
INSERT INTO mixed VALUES ('[1,2,3]'), ('[1,2]');
CREATE INDEX ON mixed USING flat (v vector_l2_ops);
SQL
)
  note "error output: $(tr '\n' ' ' <<<"$out" | cut -c 1-160)"
  grep -q 'expected 3 dimensions, not 2' <<<"$out" || { note "no dimension error"; return 1; }
  if grep -q 'DETAIL\|backtrace\|src/' <<<"$out"; then
    note "the error carries a backtrace"; return 1
  fi
  out=$(sql "$name" -c "SELECT '[1,2]'::vector <-> '[1]'" 2>&1 || true)
  grep -qx 'ERROR:  different vector dimensions 2 and 1' <<<"$out" ||
    { note "unexpected: $out"; return 1; }
}

# ------------------------------------------------------------------------------ main

t_start=$SECONDS
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run: stop its clusters (only those under $ROOT), start afresh.
for data in "$ROOT"/*/data; do
  [ -f "$data/postmaster.pid" ] && pgctl -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1
done
rm -rf "$ROOT"
mkdir -p "$ROOT"
chown postgres "$ROOT"
: >"$BG_PIDS"

if [ "${MP_SKIP_INSTALL:-0}" != 1 ]; then
  if ! install_extension --release; then
    echo "FAIL: install the extension (cargo pgrx install)"
    failed=1
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

# Template cluster: database mp with the extension and the helpers, copied for each scenario.
if ! {
  start template >/dev/null &&
    timeout 60 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${PORT[template]}" \
      -U postgres -d postgres -c "CREATE DATABASE mp" &&
    sql template -c "CREATE EXTENSION vector_ext" -f "$HERE/helpers.sql" &&
    sql template -At -c "SELECT 'vector_ext ' || extversion FROM pg_extension WHERE extname = 'vector_ext'"
}; then
  echo "FAIL: template cluster with the extension"
  failed=1
  echo "0 passed, 1 failed"
  exit 1
fi
stop template

scenario "crash recovery after build, insert, delete + VACUUM (full_page_writes=on)" crash_fpw_on crash_fpw_on
scenario "crash recovery after build, insert, delete + VACUUM (full_page_writes=off)" crash_fpw_off crash_fpw_off
KEEP_RUNNING=1 scenario "crash right after CREATE INDEX: logged table" crash_build crash_build
scenario "crash right after CREATE INDEX: unlogged tables empty, indexes usable" crash_unlogged crash_build
scenario "crash during concurrent writes" crash_load crash_load
KEEP_RUNNING=1 scenario "hot standby replay (build, insert, delete + VACUUM, reads during replay)" standby primary standby
scenario "standby promotion (unlogged index init fork, writes after promotion)" promote primary standby
scenario "concurrency: 3 writers, VACUUM loop, 2 readers" conc conc

scenario "CREATE INDEX progress in pg_stat_progress_create_index (flat, ivfflat)" progress progress
scenario "wal_level=minimal: TRUNCATE / CREATE + load in one transaction, then crash (flat, ivfflat)" minimal minimal
# (the primary's log shows the deliberate WAL-writer kill: only the standby's log is checked)
scenario "full_page_writes=off: standby replays the reuse of a page whose WAL was lost" fpw_standby fpw_standby
scenario "RUST_BACKTRACE=1 in the server's environment: no backtrace in SQL errors" backtrace backtrace
scenario "hnsw: standby replay, concurrent inserts/queries/VACUUM, crash recovery" hnsw hprimary hstandby

echo "multiprocess tests took $((SECONDS - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
