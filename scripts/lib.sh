# Shared helpers for scripts/: install the extension, run a throwaway cluster as `postgres`.
# Source it; it defines functions and sets PG_BIN.
PGVER=15
PG_BIN=/usr/lib/postgresql/$PGVER/bin
PG_CONFIG=$PG_BIN/pg_config
PG_REGRESS=/usr/lib/postgresql/$PGVER/lib/pgxs/src/test/regress/pg_regress
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[%s]\033[0m %s\n' "${LOG_TAG:-vector_ext}" "$*" >&2; }

# Run a command as the postgres OS user (Postgres refuses to run as root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

# Build and install the extension into the system Postgres tree.
#   install_extension [--release]
install_extension() {
  log "building and installing vector_ext ${1:-(debug)}"
  # Unlink the old library first: cargo pgrx overwrites it in place, which would pull the
  # pages from under servers that have it loaded (they keep the old file this way).
  rm -f "$("$PG_CONFIG" --pkglibdir)/vector_ext.so"
  cargo pgrx install --pg-config "$PG_CONFIG" "$@" >&2
  PG_CONFIG="$PG_CONFIG" bash "$(dirname "${BASH_SOURCE[0]}")/install-vector-alias.sh"
}

# True when `CREATE EXTENSION vector` is our alias (not pgvector).
vector_is_alias() {
  grep -qx '# vector_ext alias' "$("$PG_CONFIG" --sharedir)/extension/vector.control" 2>/dev/null
}

# Start (creating if needed) a cluster in DIR listening on 127.0.0.1:PORT, socket in DIR.
#   cluster_start DIR PORT [extra postgres -c settings...]
cluster_start() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  chown postgres "$dir" 2>/dev/null || true
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initdb $dir/data"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    return 0
  fi
  local opts="-p $port -k $dir -c listen_addresses=127.0.0.1"
  for setting in "$@"; do opts="$opts -c $setting"; done
  log "starting Postgres $PGVER on 127.0.0.1:$port ($dir)"
  # No Rust backtraces in error details: they would make regression output machine-specific.
  as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE \
    "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w start >/dev/null
}

cluster_stop() {
  local dir=$1
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
