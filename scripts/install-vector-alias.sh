#!/usr/bin/env bash
# Make `CREATE EXTENSION vector` install vector_ext, as frameworks that create pgvector's
# extension by name expect (Django's VectorExtension(), LangChain's PGVector, migrations):
# writes vector.control and vector--<version>.sql (+ upgrade scripts), copies of vector_ext's,
# into Postgres' extension directory. Never touches pgvector's files: if a vector.control that
# is not ours exists, nothing is written (pgvector keeps the name).
#
#   bash scripts/install-vector-alias.sh          (after vector_ext itself is installed)
#   PG_CONFIG=/path/to/pg_config bash scripts/install-vector-alias.sh
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
dir=$("$PG_CONFIG" --sharedir)/extension
marker='# vector_ext alias'
if [ ! -f "$dir/vector_ext.control" ]; then
  echo "install-vector-alias: vector_ext is not installed in $dir" >&2
  exit 1
fi
if [ -f "$dir/vector.control" ] && ! grep -qx "$marker" "$dir/vector.control"; then
  echo "install-vector-alias: pgvector is installed ($dir/vector.control): CREATE EXTENSION vector stays pgvector's" >&2
  exit 0
fi
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$dir/vector_ext.control")
# Our previous alias scripts go; pgvector's are never there (its control would be).
rm -f "$dir"/vector--*.sql
for f in "$dir"/vector_ext--*.sql; do
  cp "$f" "$dir/vector--${f##*/vector_ext--}"
done
cat >"$dir/vector.control" <<CONTROL
$marker
# CREATE EXTENSION vector installs vector_ext (pgvector-compatible); written by
# scripts/install-vector-alias.sh, replaced by pgvector's own file if pgvector is installed.
comment = 'vector_ext under pgvector''s extension name: vector, halfvec, sparsevec, bit; flat, ivfflat and hnsw indexes'
default_version = '$version'
module_pathname = '\$libdir/vector_ext'
relocatable = false
superuser = true
trusted = false
CONTROL
echo "install-vector-alias: CREATE EXTENSION vector now installs vector_ext $version" >&2
