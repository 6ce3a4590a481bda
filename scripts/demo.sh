#!/usr/bin/env bash
# The main job: set up the machine, build + install vector_ext (release), start a throwaway
# PostgreSQL 15 cluster owned by postgres in .demo/ on 127.0.0.1:5544, and run a
# nearest-neighbour workload. KEEP=1 leaves the server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/lib.sh
LOG_TAG=demo
DEMO_DIR=$PWD/.demo
PORT=${DEMO_PORT:-5544}

install_extension --release
chmod a+rX "$PWD"
cluster_start "$DEMO_DIR" "$PORT" shared_buffers=2GB maintenance_work_mem=1GB
[ "${KEEP:-0}" = 1 ] || trap 'cluster_stop "$DEMO_DIR"' EXIT

psql_demo() { as_postgres "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

log "nearest neighbours on a small table (full benchmark: vector-bench, see README)"
psql_demo <<'SQL'
DROP EXTENSION IF EXISTS vector_ext CASCADE;
CREATE EXTENSION vector_ext;
CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));
INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), i % 7]::real[] FROM generate_series(1, 1000) i;
\echo 'five nearest items to [0.5, 0.5, 3] by L2, cosine and inner product:'
SELECT id, embedding, round((embedding <-> '[0.5,0.5,3]')::numeric, 4) AS l2
FROM items ORDER BY embedding <-> '[0.5,0.5,3]' LIMIT 5;
SELECT id, round((embedding <=> '[0.5,0.5,3]')::numeric, 4) AS cosine
FROM items ORDER BY embedding <=> '[0.5,0.5,3]' LIMIT 5;
SELECT id, round((embedding <#> '[0.5,0.5,3]')::numeric, 4) AS neg_inner_product
FROM items ORDER BY embedding <#> '[0.5,0.5,3]' LIMIT 5;
SELECT avg(embedding) AS centroid, count(*) FROM items;
SQL
log "done"
