#!/usr/bin/env bash
# A/B benchmark of two builds of the extension on the same data, in one interleaved run, so that a
# refactor can show "performance unchanged" (or not):
#
#   bash scripts/ab-bench.sh A B [rounds] -- <vector-bench run arguments...>
#   bash scripts/ab-bench.sh --restore    (only after a run was killed: puts the installed files back)
#
# A and B are each one of:
#   - a library file (vector_ext.so): only the library is swapped; the build runs against the SQL
#     objects created from the extension's installed SQL script (vector_ext.control and
#     vector_ext--*.sql in $(pg_config --sharedir)/extension, left as they are), so a library
#     alone must agree with the installed SQL interface;
#   - a package directory made by `cargo pgrx package` (e.g. target/release/vector_ext-pg15, which
#     holds .../lib/postgresql/15/lib/vector_ext.so and .../share/postgresql/15/extension/ with
#     vector_ext.control and vector_ext--*.sql): the build's whole file set is installed for its
#     runs, so A and B may differ in their SQL (versions, operator classes, support functions).
#
#   e.g. two libraries (same SQL):
#        cp "$(pg_config --pkglibdir)/vector_ext.so" /tmp/before.so   # before the change
#        cp "$(pg_config --pkglibdir)/vector_ext.so" /tmp/after.so    # after, rebuilt + installed
#        bash scripts/ab-bench.sh /tmp/before.so /tmp/after.so 3 -- \
#          -n 100000 --dim 128 --index flat --index ivfflat:lists=100 --probes 1,8,32
#   e.g. two packages (SQL may differ): the baseline commit packaged in a clone of its own,
#        git clone -q . /tmp/ab/base-src && git -C /tmp/ab/base-src checkout -q <commit>
#        (cd /tmp/ab/base-src && CARGO_TARGET_DIR=/tmp/ab/base-target \
#           cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config)
#        cargo pgrx package --pg-config /usr/lib/postgresql/15/bin/pg_config   # the working tree
#        bash scripts/ab-bench.sh /tmp/ab/base-target/release/vector_ext-pg15 \
#          target/release/vector_ext-pg15 3 -- -n 100000 --dim 128 --index ivfflat:lists=100
#
# Run it after `bash scripts/demo.sh` or `bash scripts/test.sh` has set up the machine and
# installed the extension (vector_ext must be installed: its files are backed up and put back):
# this script never builds vector_ext itself (it only builds vector-bench,
# `cargo build --release -p vector_bench`, if target/release/vector-bench is missing). A's and B's
# files and the vector-bench binary are copied aside at the start, so rebuilding while it runs
# is safe (installing another build into the system Postgres while it runs is not: it is
# detected, the run fails, and the foreign files are left in place).
#
# What it does:
#   - starts a dedicated throwaway cluster (AB_DIR, default /tmp/vector_ext_ab, on
#     127.0.0.1:AB_PORT, default 5546; shared_buffers sized like demo.sh, huge_pages=try) with a
#     database `vector_ab`; the data directory and the cached data set / ground truth
#     (vector-bench's --cache-dir, default bench-results/cache) are kept between invocations;
#   - backs up the installed $(pg_config --pkglibdir)/vector_ext.so -- and, when A or B is a
#     package, vector_ext.control and every vector_ext--* file in $(pg_config --sharedir)/extension
#     -- to AB_DIR/builds/orig, and on exit (normal end, error or interrupt) puts exactly that
#     back: same bytes, modes and mtimes, and the same set of vector_ext--* files;
#   - for each round (default 3) runs A then B (B then A in even rounds). Each run: stop the
#     cluster, install that build's files (each by an atomic rename; for a package, also its
#     control file and scripts, removing the other vector_ext--* files), start the cluster
#     (backends cache the library, so a restart is required), then run
#       vector-bench run --url <cluster> <arguments> \
#         --out-dir AB_DIR/results --name <label>-round<N> --no-plot
#     which writes AB_DIR/results/<label>-round<N>.json (and its text table in .txt);
#   - with two libraries, the table is loaded and the ground truth computed once, before the
#     first run, with A's library (a vector-bench run limited to one seq-scan query; report in
#     AB_DIR/prepare), and every run reuses that table;
#   - when A or B is a package, every run starts from a fresh database instead: DROP DATABASE
#     vector_ab, CREATE DATABASE, CREATE EXTENSION vector_ext from that build's files, so no run
#     sees an object created by the other build; the table is then loaded with that build (the
#     same one-query seq-scan run; report in AB_DIR/load/<label>-round<N>.txt) and the cluster
#     restarted, so that the measured run starts, as with libraries, with the table loaded and
#     checkpointed, its pages in the OS cache but not in shared_buffers. (With --reload no load
#     run is made: the measured run loads the table itself and its load time is reported.) A
#     library given next to a package runs with the installed (original) SQL files;
#   - prints, for each configuration row (index + setting), the median over rounds of QPS, p50
#     latency and index build time for A and B and the ratio B/A (QPS ratio > 1: B faster;
#     p50 / build ratio < 1: B faster), and writes it to AB_DIR/results/summary.json (and .txt).
#
# --url, --out-dir and --name are set by this script; --ext must be vector_ext (the default).
# Pass --no-bandwidth to skip vector-bench's memory-bandwidth test (a few seconds per run).
#
# If the script is killed without a chance to clean up (SIGKILL, power loss), the next invocation
# refuses to run until `bash scripts/ab-bench.sh --restore` has put the backed-up files back (it
# also stops the cluster, if still running).
#
# Environment knobs:
#   AB_DIR=/tmp/vector_ext_ab   cluster directory (data/, postgres.log, socket, results/, builds/)
#   AB_PORT=5546                port of the cluster on 127.0.0.1
#   AB_SHARED_BUFFERS=...       shared_buffers (default: 3x the table size from -n/--dim, at
#                               least 2048MB; 2048MB with --data)
#   AB_BENCH=target/release/vector-bench   the vector-bench binary to use
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}
RESTORE_ONLY=0
case "${1:-}" in
  -h|--help|"") usage ;;
  --restore) [ $# -eq 1 ] || usage; RESTORE_ONLY=1 ;;
esac
if [ "$RESTORE_ONLY" = 0 ]; then
  [ $# -ge 3 ] || usage
  A_IN=$(realpath -e -- "$1" 2>/dev/null) || { echo "ab-bench: no such file or directory: $1" >&2; exit 2; }
  B_IN=$(realpath -e -- "$2" 2>/dev/null) || { echo "ab-bench: no such file or directory: $2" >&2; exit 2; }
  shift 2
  ROUNDS=3
  if [ "${1:-}" != -- ]; then ROUNDS=${1:-}; shift || true; fi
  [ "${1:-}" = -- ] || usage
  shift
  BENCH_ARGS=("$@")
  [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ab-bench: rounds must be a positive integer, not '$ROUNDS'" >&2; exit 2; }
fi

cd "$(dirname "$0")/.."
source scripts/lib.sh
LOG_TAG=ab-bench
die() { log "error: $*"; exit 1; }

AB_DIR=$(realpath -m "${AB_DIR:-/tmp/vector_ext_ab}")
PORT=${AB_PORT:-5546}
DB=vector_ab
URL="host=127.0.0.1 port=$PORT user=postgres dbname=$DB"
RESULTS=$AB_DIR/results
BUILDS=$AB_DIR/builds        # A/, B/, orig/ (the backup): lib/vector_ext.so [+ extension/*]
PENDING=$BUILDS/restore-pending
PKGLIB=$("$PG_CONFIG" --pkglibdir)
SO=$PKGLIB/vector_ext.so
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
TMP_LIB=$PKGLIB/.vector_ext.so.ab-bench.$$        # (a name Postgres does not look at)
TMP_EXT=$EXTDIR/.vector_ext.ab-bench.$$.tmp
SCOPE=lib   # the system files managed: lib = the library; full = also control file and scripts

md5() { md5sum <"$1" | cut -c1-32; }

# --- the managed system files, named lib/vector_ext.so and extension/<name>, as in AB_DIR/builds/*.
system_files() {
  [ -f "$SO" ] && echo lib/vector_ext.so
  if [ "$SCOPE" = full ]; then
    local f
    for f in "$EXTDIR"/vector_ext.control "$EXTDIR"/vector_ext--*; do
      [ -f "$f" ] && echo "extension/${f##*/}"
    done
  fi
  return 0
}
sys_path() {
  case $1 in
    lib/*) echo "$PKGLIB/${1#lib/}" ;;
    extension/*) echo "$EXTDIR/${1#extension/}" ;;
    *) return 1 ;;
  esac
}
# "name md5" per managed file, sorted: of the system installation, or of a build directory.
system_manifest() {
  local r
  system_files | while read -r r; do echo "$r $(md5 "$(sys_path "$r")")"; done | LC_ALL=C sort
}
build_manifest() {   # dir
  local r
  (
    cd "$1"
    for d in lib extension; do [ ! -d "$d" ] || find "$d" -type f; done |
      while read -r r; do echo "$r $(md5 "$r")"; done
  ) | LC_ALL=C sort
}

# Copy $1 to $2 through the temporary file $3 and a rename (a process that has the old file
# mapped keeps it), with the mode and owner of $4 if given.
put_file() {   # src dst tmp [reference]
  cp -p "$1" "$3"
  if [ -n "${4:-}" ]; then
    chmod --reference="$4" "$3"
    chown --reference="$4" "$3" 2>/dev/null || true
  fi
  mv -f "$3" "$2"
}
# Make the managed system files those of a build directory (A, B or orig): its files are put in
# place, and the managed files it does not have are removed.
install_build() {   # dir
  local dir=$1 r sum ref
  while read -r r sum; do
    case $r in
      lib/*) ref=$BUILDS/orig/$r; put_file "$dir/$r" "$(sys_path "$r")" "$TMP_LIB" "$ref" ;;
      extension/*)
        ref=$BUILDS/orig/$r
        [ -f "$ref" ] || ref=$BUILDS/orig/extension/vector_ext.control
        put_file "$dir/$r" "$(sys_path "$r")" "$TMP_EXT" "$ref" ;;
    esac
  done < <(build_manifest "$dir")
  system_files | while read -r r; do
    [ -f "$dir/$r" ] || rm -f -- "$(sys_path "$r")"
  done
}
restore_orig() {
  install_build "$BUILDS/orig" && [ "$(system_manifest)" = "$(cat "$BUILDS/orig.manifest")" ]
}

# Postgres needs a cwd it can enter, and must not inherit the lock (fd 9).
in_ab_dir() { (cd "$AB_DIR" && exec 9>&- && "$@"); }

mkdir -p "$AB_DIR" "$BUILDS"
exec 9>"$AB_DIR/.lock"
flock -n 9 || die "another ab-bench.sh is running on $AB_DIR"

# --- a previous run killed (SIGKILL, power loss) before it could put the installed files back?
if [ -f "$AB_DIR/so/restore-pending" ]; then   # (left by the first version of this script)
  die "a previous ab-bench run did not restore $SO (see $AB_DIR/so/restore-pending); check and" \
    "restore it, e.g. cp -p $AB_DIR/so/installed-backup.so $SO.tmp && mv -f $SO.tmp $SO;" \
    "then rm $AB_DIR/so/restore-pending"
fi
if [ -f "$PENDING" ]; then
  SCOPE=$(sed -n 's/^scope=//p' "$PENDING")
  [ "$SCOPE" = lib ] || [ "$SCOPE" = full ] || die "$PENDING is not readable; restore by hand"
  [ -f "$BUILDS/orig.manifest" ] || die "$PENDING without $BUILDS/orig.manifest: restore by hand"
  if [ "$RESTORE_ONLY" = 1 ]; then
    in_ab_dir cluster_stop "$AB_DIR"
  fi
  if [ "$(system_manifest)" = "$(cat "$BUILDS/orig.manifest")" ]; then
    log "the installed files are those backed up by the previous run (nothing to restore)"
    rm -f "$PENDING"
  elif [ "$RESTORE_ONLY" = 1 ]; then
    rm -f "$TMP_LIB" "$TMP_EXT" "$PKGLIB"/.vector_ext.so.ab-bench.* "$EXTDIR"/.vector_ext.ab-bench.*.tmp
    restore_orig || die "could not restore the files backed up in $BUILDS/orig (listed in $PENDING)"
    rm -f "$PENDING"
    log "restored the installed files from $BUILDS/orig:"
    sed 's/^/  /' "$BUILDS/orig.manifest" >&2
    exit 0
  else
    die "a previous ab-bench run did not put back the installed files (see $PENDING): run" \
      "bash scripts/ab-bench.sh --restore to reinstall its backup ($BUILDS/orig)"
  fi
fi
if [ "$RESTORE_ONLY" = 1 ]; then
  log "nothing to restore (no $PENDING)"
  exit 0
fi

BENCH=${AB_BENCH:-$PWD/target/release/vector-bench}
command -v python3 >/dev/null || die "python3 is needed for the summary"

# --- A and B: a library, or a package directory.
is_pg_library() {
  [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] && grep -q Pg_magic_func "$1"
}
find_one() {   # dir pattern what
  local hits
  mapfile -t hits < <(find "$1" -path "$2" -type f)
  [ ${#hits[@]} -gt 0 ] || die "$1 is neither a library file nor a package directory" \
    "(cargo pgrx package): no $3 ($2) in it"
  [ ${#hits[@]} -eq 1 ] || die "$1 holds more than one $3: ${hits[*]}; give one package directory"
  echo "${hits[0]}"
}
declare -A KIND LIBSRC CTLSRC
for label in A B; do
  [ $label = A ] && in=$A_IN || in=$B_IN
  if [ -d "$in" ]; then
    KIND[$label]=package
    LIBSRC[$label]=$(find_one "$in" "*/lib/postgresql/$PGVER/lib/vector_ext.so" "library")
    CTLSRC[$label]=$(find_one "$in" "*/share/postgresql/$PGVER/extension/vector_ext.control" \
      "control file")
    compgen -G "${CTLSRC[$label]%/*}/vector_ext--*.sql" >/dev/null ||
      die "$in: no vector_ext--*.sql next to ${CTLSRC[$label]}"
    SCOPE=full
  elif [ -f "$in" ]; then
    KIND[$label]=library
    LIBSRC[$label]=$in
  else
    die "$in is neither a file nor a directory"
  fi
  is_pg_library "${LIBSRC[$label]}" ||
    die "${LIBSRC[$label]} is not a PostgreSQL extension library (ELF with Pg_magic_func)"
done
[ -f "$SO" ] || die "$SO is not installed: run bash scripts/demo.sh or bash scripts/test.sh first"
[ -f "$EXTDIR/vector_ext.control" ] || die "vector_ext is not installed in $EXTDIR"

# --- vector-bench arguments: the ones this script owns, and the data size for shared_buffers.
ROWS=100000 DIM=128 HAVE_DATA=0 HAVE_NOPLOT=0 HAVE_RELOAD=0   # vector-bench's defaults
PREP_ARGS=()   # the arguments that choose the data set and the table, for the load runs
for ((i = 0; i < ${#BENCH_ARGS[@]}; i++)); do
  arg=${BENCH_ARGS[i]} next=${BENCH_ARGS[i + 1]:-}
  case $arg in
    --data|--queries|--truth|--limit|-n|--n|--dim|--clusters|--spread|--skew|--seed|--nq|\
    --query-seed|--cache-dir|--table|--metric|-k|--k|--ext|--threads)
      PREP_ARGS+=("$arg" "$next") ;;   # (its value is looked at once more below: harmless)
    --data=*|--queries=*|--truth=*|--limit=*|--n=*|--dim=*|--clusters=*|--spread=*|--skew=*|\
    --seed=*|--nq=*|--query-seed=*|--cache-dir=*|--table=*|--metric=*|--k=*|--ext=*|--threads=*|\
    -n?*|-k?*)
      PREP_ARGS+=("$arg") ;;
  esac
  case $arg in
    --url|--url=*|--out-dir|--out-dir=*|--name|--name=*)
      die "${arg%%=*} is set by ab-bench.sh; leave it out" ;;
    --ext) [ "$next" = vector_ext ] || die "--ext must be vector_ext (the build under test)" ;;
    --ext=*) [ "${arg#--ext=}" = vector_ext ] || die "--ext must be vector_ext (the build under test)" ;;
    -n|--n) ROWS=$next ;;
    --n=*) ROWS=${arg#--n=} ;;
    -n*) ROWS=${arg#-n} ;;
    --dim) DIM=$next ;;
    --dim=*) DIM=${arg#--dim=} ;;
    --data|--data=*) HAVE_DATA=1 ;;
    --no-plot) HAVE_NOPLOT=1 ;;
    --reload) HAVE_RELOAD=1 ;;
  esac
done
if [ -n "${AB_SHARED_BUFFERS:-}" ]; then
  SHARED_BUFFERS=$AB_SHARED_BUFFERS
elif [ "$HAVE_DATA" = 0 ] && [[ $ROWS =~ ^[0-9]+$ ]] && [[ $DIM =~ ^[0-9]+$ ]]; then
  DATA_MB=$(( ROWS * (DIM * 4 + 64) / 1048576 ))
  SHARED_BUFFERS=$(( DATA_MB * 3 > 2048 ? DATA_MB * 3 : 2048 ))MB
else
  SHARED_BUFFERS=2048MB
fi
RUN_EXTRA=(--out-dir "$RESULTS")
[ "$HAVE_NOPLOT" = 1 ] || RUN_EXTRA+=(--no-plot)

mkdir -p "$RESULTS" "$AB_DIR/bin"
if [ ! -x "$BENCH" ]; then
  log "building vector-bench (release): cargo build --release -p vector_bench"
  cargo build --release --quiet -p vector_bench >&2
fi
[ -x "$BENCH" ] || die "$BENCH not found"
cp -p "$BENCH" "$AB_DIR/bin/vector-bench.tmp"   # (a rebuild during the run must not change it)
mv -f "$AB_DIR/bin/vector-bench.tmp" "$AB_DIR/bin/vector-bench"
BENCH=$AB_DIR/bin/vector-bench

# --- back up the installed files; from here on, every exit puts them back.
rm -rf "$BUILDS/orig" "$BUILDS/A" "$BUILDS/B" "$BUILDS"/*.manifest "$BUILDS"/*.extversion
mkdir -p "$BUILDS/orig/lib"
cp -p "$SO" "$BUILDS/orig/lib/vector_ext.so"
if [ "$SCOPE" = full ]; then
  mkdir -p "$BUILDS/orig/extension"
  for f in "$EXTDIR"/vector_ext.control "$EXTDIR"/vector_ext--*; do
    [ -f "$f" ] && cp -p "$f" "$BUILDS/orig/extension/"
  done
fi
build_manifest "$BUILDS/orig" >"$BUILDS/orig.manifest"
[ "$(system_manifest)" = "$(cat "$BUILDS/orig.manifest")" ] ||
  die "the installed files changed while they were backed up (another install running?)"
{
  echo "scope=$SCOPE"
  echo "# backup of the installed files in $BUILDS/orig, taken by ab-bench.sh pid $$ at $(date -Is);"
  echo "# installed: $SO, $EXTDIR/{vector_ext.control,vector_ext--*} (scope full only)"
  cat "$BUILDS/orig.manifest"
} >"$PENDING"
log "installed files backed up to $BUILDS/orig:"
sed 's/^/  /' "$BUILDS/orig.manifest" >&2
SWAPPED=0   # set once we start replacing the installed files

# Is every managed system file one we put there: the bytes of the same file of the original
# installation, of A or of B? (Prints the first one that is not.)
all_ours() {
  local r sum known
  known=$(cat "$BUILDS"/orig.manifest "$BUILDS"/A.manifest "$BUILDS"/B.manifest 2>/dev/null)
  while read -r r sum; do
    grep -qxF -- "$r $sum" <<<"$known" || { echo "$r"; return 1; }
  done < <(system_manifest)
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  rm -f "$TMP_LIB" "$TMP_EXT"
  if [ -f "$AB_DIR/data/postmaster.pid" ]; then
    log "stopping the cluster in $AB_DIR"
    in_ab_dir cluster_stop "$AB_DIR"
  fi
  put_back || rc=1
  exit "$rc"
}
# Put the backed-up files back (the cluster stopped); fails if they could not be.
put_back() {
  local foreign
  if [ "$SWAPPED" = 0 ]; then
    rm -f "$PENDING"
  elif foreign=$(all_ours); then
    # The original, A's or B's files: what we put there. The backup goes back (same bytes,
    # modes and mtimes; the vector_ext--* files it does not have are removed).
    if restore_orig; then
      SWAPPED=0
      rm -f "$PENDING"
      log "restored the original installed files (as listed in $BUILDS/orig.manifest)"
    else
      log "error: could not restore the installed files from $BUILDS/orig: run" \
        "bash scripts/ab-bench.sh --restore, or restore them by hand (see $PENDING)"
      return 1
    fi
  else
    log "warning: $(sys_path "$foreign") was replaced by someone else during the run" \
      "(another build installed?); the installed files are left as they are;" \
      "the originals are in $BUILDS/orig (listed in $BUILDS/orig.manifest)"
    SWAPPED=0
    rm -f "$PENDING"
    return 1
  fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- A's and B's files, copied aside (a rebuild during the run must not change them).
for label in A B; do
  dst=$BUILDS/$label
  mkdir -p "$dst/lib"
  cp -p "${LIBSRC[$label]}" "$dst/lib/vector_ext.so"
  if [ "${KIND[$label]}" = package ]; then
    mkdir -p "$dst/extension"
    cp -p "${CTLSRC[$label]}" "$dst/extension/"
    for f in "${CTLSRC[$label]%/*}"/vector_ext--*; do
      [ -f "$f" ] && cp -p "$f" "$dst/extension/"
    done
  elif [ "$SCOPE" = full ]; then   # a library next to a package: the installed SQL files
    mkdir -p "$dst/extension"
    cp -p "$BUILDS"/orig/extension/* "$dst/extension/"
  fi
  build_manifest "$dst" >"$BUILDS/$label.manifest"
done
describe() {   # label: one line on the build
  local in ver=""
  [ "$1" = A ] && in=$A_IN || in=$B_IN
  if [ "$SCOPE" = full ]; then
    ver=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\(.*\)'.*/\1/p" \
      "$BUILDS/$1/extension/vector_ext.control")
    ver=", default_version ${ver:-?}"
  fi
  echo "$in (${KIND[$1]}; library md5 $(md5 "$BUILDS/$1/lib/vector_ext.so")$ver)"
}
log "A = $(describe A)"
log "B = $(describe B)"
if cmp -s "$BUILDS/A.manifest" "$BUILDS/B.manifest"; then
  log "note: A and B are byte-identical (an A/A run: ratios show the noise)"
fi
for label in A B; do
  if [ "${KIND[$label]}" = library ] && [ "$SCOPE" = full ]; then
    log "note: $label is a library: it runs with the installed (original) control file and scripts"
  fi
done

# --- the cluster and its database.
CLUSTER_SETTINGS=("shared_buffers=$SHARED_BUFFERS" maintenance_work_mem=1GB huge_pages=try
  max_wal_size=4GB checkpoint_timeout=30min jit=off)
start_cluster() { in_ab_dir cluster_start "$AB_DIR" "$PORT" "${CLUSTER_SETTINGS[@]}"; }
stop_cluster() { in_ab_dir cluster_stop "$AB_DIR"; }
psql_ab() {
  in_ab_dir as_postgres "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres \
    -v ON_ERROR_STOP=1 "$@"
}

# Stop the cluster, install A's or B's files, start the cluster.
use_build() {   # label
  stop_cluster
  SWAPPED=1
  install_build "$BUILDS/$1"
  [ "$(system_manifest)" = "$(cat "$BUILDS/$1.manifest")" ] ||
    die "installing $1's files failed (the installed files differ from $BUILDS/$1)"
  start_cluster
}

# A new database with the extension created from the installed (that build's) files.
fresh_database() {   # label
  local ver
  psql_ab -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  psql_ab -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION vector_ext" ||
    die "CREATE EXTENSION vector_ext failed with $1's files (server log: $AB_DIR/postgres.log)"
  ver=$(psql_ab -d "$DB" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'vector_ext'")
  echo "$ver" >"$BUILDS/$1.extversion"
  log "fresh database $DB: CREATE EXTENSION vector_ext -> version $ver"
}

# Load the table (and compute the ground truth, cached) with a one-query seq-scan run.
load_table() {   # out-dir name what
  mkdir -p "$1"
  log "$3: loading the data set (vector-bench ${PREP_ARGS[*]} --index seqscan --exact-queries 1;" \
    "report: $1/$2.txt)"
  "$BENCH" run --url "$URL" "${PREP_ARGS[@]}" --index seqscan --seqscan-workers 0 \
    --exact-queries 1 --warmup 0 --no-bandwidth --no-plot --out-dir "$1" --name "$2" \
    >"$1/$2.txt" || die "the load run failed (see above and $1/$2.txt)"
}

stop_cluster   # one left running by an earlier run would keep its old settings
log "cluster $AB_DIR on 127.0.0.1:$PORT, shared_buffers=$SHARED_BUFFERS, huge_pages=try"
rm -f "$RESULTS"/A-round*.* "$RESULTS"/B-round*.* "$RESULTS"/summary.json "$RESULTS"/summary.txt

if [ "$SCOPE" = lib ]; then
  # Two libraries: one database for all runs, its extension created from the installed SQL.
  start_cluster
  psql_ab -d postgres <<SQL
SELECT 'CREATE DATABASE $DB' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB')
\gexec
SQL
  # Re-create the extension (and so drop the table) when its installed SQL script changed.
  EXT_SIG="ext=vector_ext script-md5=$(cat "$EXTDIR/vector_ext.control" \
    "$EXTDIR/vector_ext"--*.sql | md5sum | cut -c1-32)"
  have_sig=$(psql_ab -d "$DB" -At -c \
    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()")
  if [ "$have_sig" != "$EXT_SIG" ]; then
    log "creating extension vector_ext in database $DB (new, or its installed SQL script changed)"
    psql_ab -d "$DB" <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_items;
DROP EXTENSION IF EXISTS vector_ext CASCADE;
CREATE EXTENSION vector_ext;
COMMENT ON DATABASE $DB IS '$EXT_SIG';
SQL
  fi
  for label in A B; do
    psql_ab -d "$DB" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'vector_ext'" \
      >"$BUILDS/$label.extversion"
  done
  # --- prepare: load the table and compute the ground truth before the first measured run.
  if [ "$HAVE_RELOAD" = 0 ]; then
    use_build A
    load_table "$AB_DIR/prepare" prepare "prepare (A's library)"
  fi
fi

# --- the interleaved runs.
run_one() {   # label round
  local label=$1 round=$2 name t0=$SECONDS
  name=$label-round$round
  log "round $round/$ROUNDS: $label -- restarting the cluster with $label's files" \
    "(library md5 $(md5 "$BUILDS/$label/lib/vector_ext.so"))"
  use_build "$label"
  if [ "$SCOPE" = full ]; then
    fresh_database "$label"
    if [ "$HAVE_RELOAD" = 0 ]; then
      load_table "$AB_DIR/load" "$name" "round $round/$ROUNDS: $label"
      stop_cluster   # (a shutdown checkpoint; shared_buffers start cold, as with libraries)
      start_cluster
    fi
  fi
  log "round $round/$ROUNDS: $label -- vector-bench run ${BENCH_ARGS[*]} (report: $RESULTS/$name.txt)"
  if ! "$BENCH" run --url "$URL" "${BENCH_ARGS[@]}" "${RUN_EXTRA[@]}" --name "$name" \
      >"$RESULTS/$name.txt"; then
    die "vector-bench failed for $label in round $round (its report so far: $RESULTS/$name.txt," \
      "server log: $AB_DIR/postgres.log)"
  fi
  [ -f "$RESULTS/$name.json" ] || die "vector-bench wrote no $RESULTS/$name.json"
  [ "$(system_manifest)" = "$(cat "$BUILDS/$label.manifest")" ] ||
    die "the installed files were replaced during $label's run in round $round (another build installed?)"
  log "round $round/$ROUNDS: $label done in $(( SECONDS - t0 )) s -> $RESULTS/$name.json"
}

START=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  if (( r % 2 == 1 )); then order=(A B); else order=(B A); fi
  for label in "${order[@]}"; do run_one "$label" "$r"; done
done
stop_cluster
log "all $(( 2 * ROUNDS )) runs done in $(( SECONDS - START )) s"
put_back || die "the installed files were not put back (see above)"

# --- the summary: medians over rounds, B/A.
python3 - "$RESULTS" "$ROUNDS" "$BUILDS" "$A_IN" "${KIND[A]}" "$B_IN" "${KIND[B]}" \
  "${BENCH_ARGS[@]}" <<'PY' |
import json, math, os, statistics, sys

res_dir, rounds = sys.argv[1], int(sys.argv[2])
builds_dir = sys.argv[3]
bench_args = sys.argv[8:]

def build_info(label, path, kind):
    files = {}
    with open(os.path.join(builds_dir, f"{label}.manifest")) as f:
        for line in f:
            name, md5 = line.split()
            files[name] = md5
    ver = None
    try:
        with open(os.path.join(builds_dir, f"{label}.extversion")) as f:
            ver = f.read().strip() or None
    except FileNotFoundError:
        pass
    return {"path": path, "kind": kind, "md5": files.get("lib/vector_ext.so"),
            "extension_version": ver, "files": files}

so = {"A": build_info("A", sys.argv[4], sys.argv[5]), "B": build_info("B", sys.argv[6], sys.argv[7])}
LABELS = ("A", "B")
METRICS = ("qps", "p50_ms", "recall", "concurrent_qps", "build_s")

rows = {}          # (config, setting) -> {label: {metric: [values per round]}}
bandwidth = {l: [] for l in LABELS}
files = {l: [] for l in LABELS}
for r in range(1, rounds + 1):
    for l in LABELS:
        path = os.path.join(res_dir, f"{l}-round{r}.json")
        with open(path) as f:
            rep = json.load(f)
        files[l].append(path)
        bw = rep.get("bandwidth")
        if bw:
            bandwidth[l].append(bw.get("all_threads_gbs"))
        for c in rep.get("configs", []):
            build = c.get("build") or {}
            settings = c.get("results") or []
            if not settings:       # a failed build: keep the row so it shows up
                settings = [{"setting": "-", "error": c.get("error") or "no results"}]
            for i, s in enumerate(settings):
                key = (c["label"], s.get("setting", "-"))
                row = rows.setdefault(key, {x: {m: [] for m in METRICS} | {"errors": []}
                                            for x in LABELS})
                v = row[l]
                if c.get("error") or s.get("error"):
                    v["errors"].append({"round": r, "error": c.get("error") or s.get("error")})
                    continue
                v["qps"].append(s["qps"])
                v["p50_ms"].append(s["p50_ms"])
                v["recall"].append(s["recall"])
                if s.get("concurrent"):
                    v["concurrent_qps"].append(s["concurrent"]["qps"])
                if i == 0 and "seconds" in build:
                    v["build_s"].append(build["seconds"])

def med(xs):
    return statistics.median(xs) if xs else None

def ratio(a, b):
    return b / a if a and b is not None else None

def spread(xs):
    m = med(xs)
    return (max(xs) - min(xs)) / m if xs and m else None

out_rows = []
for (cfg, setting), row in rows.items():
    o = {"config": cfg, "setting": setting}
    for l in LABELS:
        v = row[l]
        o[l] = {f"{m}_median": med(v[m]) for m in METRICS} | {
            "qps_spread": spread(v["qps"]), "rounds": {m: v[m] for m in METRICS if v[m]},
            "errors": v["errors"]}
    o["ratio_b_over_a"] = {m: ratio(o["A"][f"{m}_median"], o["B"][f"{m}_median"])
                           for m in ("qps", "p50_ms", "concurrent_qps", "build_s")}
    ra, rb = o["A"]["recall_median"], o["B"]["recall_median"]
    o["recall_differs"] = ra is not None and rb is not None and abs(ra - rb) > 1e-9
    out_rows.append(o)

qps_ratios = [o["ratio_b_over_a"]["qps"] for o in out_rows if o["ratio_b_over_a"]["qps"]]
geo = math.exp(sum(map(math.log, qps_ratios)) / len(qps_ratios)) if qps_ratios else None
summary = {
    "rounds": rounds,
    "order": [["A", "B"] if r % 2 == 1 else ["B", "A"] for r in range(1, rounds + 1)],
    "libraries": so,
    "bench_args": bench_args,
    "result_files": files,
    "bandwidth_all_threads_gbs": {l: bandwidth[l] for l in LABELS if bandwidth[l]},
    "qps_ratio_geomean": geo,
    "rows": out_rows,
}
with open(os.path.join(res_dir, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")

def num(x, kind):
    if x is None:
        return "-"
    if kind == "ratio":
        return f"{x:.3f}"
    if kind == "pct":
        return f"{100 * x:.0f}%"
    if kind == "s":
        return f"{x:.2f}"
    a = abs(x)
    return f"{x:.0f}" if a >= 100 else f"{x:.1f}" if a >= 10 else f"{x:.2f}" if a >= 1 else f"{x:.3f}"

have_conc = any(o["A"]["concurrent_qps_median"] is not None for o in out_rows)
have_build = any(o["A"]["build_s_median"] is not None for o in out_rows)
head = ["config", "setting", "QPS A", "QPS B", "B/A"]
if rounds > 1:
    head += ["spread"]
if have_conc:
    head += ["cQPS A", "cQPS B", "B/A"]
head += ["p50 ms A", "p50 ms B", "B/A"]
if have_build:
    head += ["build s A", "build s B", "B/A"]
table = [head]
notes = []
for o in out_rows:
    A, B, R = o["A"], o["B"], o["ratio_b_over_a"]
    line = [o["config"], o["setting"] + (" *" if o["recall_differs"] else ""),
            num(A["qps_median"], "v"), num(B["qps_median"], "v"), num(R["qps"], "ratio")]
    if rounds > 1:
        sp = [x for x in (A["qps_spread"], B["qps_spread"]) if x is not None]
        line += [num(max(sp), "pct") if sp else "-"]
    if have_conc:
        line += [num(A["concurrent_qps_median"], "v"), num(B["concurrent_qps_median"], "v"),
                 num(R["concurrent_qps"], "ratio")]
    line += [num(A["p50_ms_median"], "v"), num(B["p50_ms_median"], "v"), num(R["p50_ms"], "ratio")]
    if have_build:
        line += [num(A["build_s_median"], "s"), num(B["build_s_median"], "s"), num(R["build_s"], "ratio")]
    table.append(line)
    if o["recall_differs"]:
        notes.append(f"* {o['config']} {o['setting']}: recall differs, "
                     f"A {A['recall_median']:.4f} vs B {B['recall_median']:.4f}")
    for l in LABELS:
        if o[l]["errors"]:
            e = o[l]["errors"]
            msg = (e[0]["error"].splitlines() or [""])[0][:160]
            notes.append(f"! {o['config']} {o['setting']}: {l} failed in round(s) "
                         f"{','.join(str(x['round']) for x in e)}: {msg}")

w = [max(len(r[i]) for r in table) for i in range(len(head))]
def what(l):
    b = so[l]
    v = f" {b['extension_version']}" if b["extension_version"] else ""
    return f"{b['path']} ({b['kind']}{v})"

print(f"A/B over {rounds} round(s), medians; A = {what('A')}, B = {what('B')}")
for i, r in enumerate(table):
    print("  ".join(c.ljust(w[j]) if j < 2 else c.rjust(w[j]) for j, c in enumerate(r)).rstrip())
    if i == 0:
        print("-" * (sum(w) + 2 * (len(w) - 1)))
if geo is not None:
    print(f"QPS B/A, geometric mean over {len(qps_ratios)} rows: {geo:.3f}"
          + ("  (spread: (max-min)/median of QPS over rounds, the worse of A and B)" if rounds > 1 else ""))
for l in LABELS:
    if bandwidth[l]:
        print(f"memory bandwidth during {l}'s runs (all threads, GB/s): "
              + ", ".join(f"{x:.1f}" for x in bandwidth[l]))
for n in notes:
    print(n)
print(f"summary: {os.path.join(res_dir, 'summary.json')}")
PY
  tee "$RESULTS/summary.txt"
