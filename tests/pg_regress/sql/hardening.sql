-- Inputs a hostile or careless user can reach: none may crash the backend or leave an index
-- that blocks everyday operations.
SET temp_buffers = 100;  -- the smallest local buffer pool (used at the end; settable only now)

-- aggregate state functions are SQL-callable: states are validated as pgvector does, and no
-- vector outside 1..16000 dimensions can be built from one
SELECT vector_avg(array_prepend(1::float8, array_fill(1::float8, ARRAY[40000])));
SELECT vector_avg(array_prepend(1::float8, array_fill(1::float8, ARRAY[16001])));
SELECT halfvec_avg(array_prepend(1::float8, array_fill(1::float8, ARRAY[16001])));
SELECT vector_dims(vector_avg(array_prepend(1::float8, array_fill(1::float8, ARRAY[16000]))));
SELECT vector_avg('{1}');
SELECT halfvec_avg('{1}');
SELECT vector_avg('{}');
SELECT vector_avg('{{1,2},{3,4}}');
SELECT vector_avg('{1,NULL}');
SELECT vector_avg('{0}') IS NULL AS avg_of_nothing_is_null, vector_avg('{2,4,6}'), halfvec_avg('{2,4,6}');
SELECT vector_accum('{}', '[1,2]');
SELECT halfvec_accum('{1,NULL}', '[1,2]');
SELECT vector_accum('{0}', '[1,2]'), vector_accum('{1,1,1}', '[1,2]');
SELECT vector_accum('{1,1,1,1}', '[1,2]');
SELECT vector_combine('{}', '{0}');
SELECT vector_combine('{1,1}', '{2,2,2}');
SELECT vector_combine(array_prepend(1::float8, array_fill(1::float8, ARRAY[16001])), '{0}');
SELECT vector_combine('{5}', '{0}');
SELECT vector_combine('{0}', '{0}'), vector_combine('{0}', '{2,4,6}'), vector_combine('{1,1,1}', '{2,4,6}');
SELECT halfvec_combine('{1,1}', '{1,1,1}');
SELECT '[1,2]'::vector <-> '[3,4]' AS still_alive;

-- TRUNCATE, REINDEX and VACUUM FULL of an ivfflat index on a column without a declared
-- dimension: the empty rebuild works, and the first insert lays the index out
CREATE TABLE nodim (id int, v vector);
INSERT INTO nodim VALUES (0, '[1,2,3]');
CREATE INDEX nodim_ivf ON nodim USING ivfflat (v vector_l2_ops) WITH (lists = 2);
CREATE INDEX nodim_flat ON nodim USING flat (v vector_l2_ops);
TRUNCATE nodim;
REINDEX TABLE nodim;
VACUUM FULL nodim;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM nodim ORDER BY v <-> '[1,2,3]' LIMIT 5) s;
INSERT INTO nodim SELECT i, ARRAY[i % 13, i % 7, 1]::real[]::vector FROM generate_series(1, 300) i;
INSERT INTO nodim VALUES (-1, '[1,2]');
SET ivfflat.probes = 2;
SELECT same('nodim', '<->', '[3,1,1]', 20);
DROP INDEX nodim_flat;
SELECT same('nodim', '<->', '[3,1,1]', 20);
VACUUM nodim;
RESET ivfflat.probes;
RESET enable_seqscan;
-- the same on a table created empty, and on an unlogged one (its init fork)
CREATE TABLE nodim2 (id int, v vector);
CREATE INDEX ON nodim2 USING ivfflat (v vector_cosine_ops) WITH (lists = 3);
CREATE UNLOGGED TABLE nodim3 (id int, v vector);
CREATE INDEX ON nodim3 USING ivfflat (v vector_ip_ops) WITH (lists = 3);
INSERT INTO nodim2 SELECT i, ARRAY[i % 5 + 1, i % 3, 2]::real[]::vector FROM generate_series(1, 100) i;
INSERT INTO nodim3 SELECT i, ARRAY[i % 5 + 1, i % 3, 2]::real[]::vector FROM generate_series(1, 100) i;
SET ivfflat.probes = 3;
SELECT same('nodim2', '<=>', '[1,1,1]', 10), same('nodim3', '<#>', '[1,1,1]', 10);
RESET ivfflat.probes;
DROP TABLE nodim, nodim2, nodim3;

-- the index is never used without ORDER BY: it does not store NULL vectors, so an unordered
-- scan (even with enable_seqscan = off, even a partial index) would lose those rows
CREATE TABLE unord (id int, v vector(2));
INSERT INTO unord SELECT i, CASE WHEN i % 10 = 0 THEN NULL ELSE ARRAY[i, -i]::real[]::vector END
FROM generate_series(1, 100) i;
CREATE INDEX ON unord USING flat (v vector_l2_ops) WHERE id < 50;
CREATE INDEX ON unord USING ivfflat (v vector_l2_ops) WITH (lists = 2) WHERE id < 50;
SET enable_seqscan = off;
SELECT count(*) AS all_rows FROM unord;
SELECT count(*) AS partial_rows FROM unord WHERE id < 50;
SELECT count(*) AS with_null_vector FROM unord WHERE id < 50 AND v IS NULL;
EXPLAIN (COSTS OFF) SELECT id FROM unord WHERE id < 50;
EXPLAIN (COSTS OFF) SELECT id FROM unord WHERE id < 50 ORDER BY v <-> '[1,1]' LIMIT 3;
RESET enable_seqscan;
DROP TABLE unord;

-- a flat build is cancellable at any row: with a 1 ms statement timeout it stops long before
-- reaching the last row (whose wrong dimension would fail it otherwise)
CREATE TABLE cancel_build (v vector);
INSERT INTO cancel_build SELECT '[1,2,3]' FROM generate_series(1, 200000);
INSERT INTO cancel_build VALUES ('[1,2]');
SET statement_timeout = '1ms';
CREATE INDEX ON cancel_build USING flat (v vector_l2_ops);
RESET statement_timeout;
CREATE INDEX ON cancel_build USING flat (v vector_l2_ops);
DROP TABLE cancel_build;

-- scans beyond the first pass stay within work_mem (passes resume after the last row): a
-- filter that keeps 1 row in 50, and a NULL query, still get every row, in order
CREATE TABLE passes (id int, v vector(4));
INSERT INTO passes SELECT i, ARRAY[i % 97, i % 89, (i * 7) % 101, 1]::real[]::vector
FROM generate_series(1, 30000) i;
CREATE INDEX passes_flat ON passes USING flat (v vector_l2_ops);
SET work_mem = '64kB';
SELECT same('passes', '<->', '[5,5,5,1]', 200, 'id % 50 = 3');
SET enable_seqscan = off;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM passes ORDER BY v <-> NULL) s;
DROP INDEX passes_flat;
CREATE INDEX passes_ivf ON passes USING ivfflat (v vector_l2_ops) WITH (lists = 4);
SET ivfflat.probes = 4;
SELECT same('passes', '<->', '[5,5,5,1]', 200, 'id % 50 = 3');
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM passes ORDER BY v <-> NULL) s;
RESET ALL;
DROP TABLE passes;

-- a scan pins at most its share of the buffer pool: a temporary table's index of 170 pages
-- scanned with 100 local buffers (which its heap pages need too)
CREATE TEMP TABLE tmp_scan (id int, v vector(16));
INSERT INTO tmp_scan SELECT i, ARRAY(SELECT ((i * 13 + j * 7) % 29)::real FROM generate_series(1, 16) j)::vector
FROM generate_series(1, 20000) i;
CREATE INDEX tmp_flat ON tmp_scan USING flat (v vector_l2_ops);
SELECT same('tmp_scan', '<->', '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]', 10);
DROP INDEX tmp_flat;
CREATE INDEX ON tmp_scan USING ivfflat (v vector_l2_ops) WITH (lists = 2);
SET ivfflat.probes = 2;
SELECT same('tmp_scan', '<->', '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]', 10);
RESET ivfflat.probes;
DROP TABLE tmp_scan;

-- ivfflat's memory is bounded by maintenance_work_mem before it is allocated, k-means state
-- and centroids included (32768 lists of 16000 dimensions would be 2 GB per copy)
SET maintenance_work_mem = '1MB';
CREATE TABLE ivmem16k (v vector(16000));
INSERT INTO ivmem16k SELECT array_fill(1, ARRAY[16000])::vector;
CREATE INDEX ON ivmem16k USING ivfflat (v vector_l2_ops) WITH (lists = 32768);
CREATE TABLE ivmem_untyped (v vector);
CREATE INDEX ON ivmem_untyped USING ivfflat (v vector_l2_ops) WITH (lists = 32768);
INSERT INTO ivmem_untyped SELECT array_fill(1, ARRAY[16000])::vector;
RESET maintenance_work_mem;
DROP TABLE ivmem16k, ivmem_untyped;
-- an empty bit string cannot be indexed (a function returning bit without a length makes one)
CREATE TABLE ebits (v bit varying);
INSERT INTO ebits VALUES (B'');
CREATE FUNCTION as_bit(varbit) RETURNS bit IMMUTABLE LANGUAGE sql AS 'SELECT $1';
CREATE INDEX ON ebits USING flat ((as_bit(v)) bit_hamming_ops);
DROP TABLE ebits;
DROP FUNCTION as_bit;
-- index scans are counted in pg_stat_user_indexes (idx_scan by the access method, idx_tup_read
-- by Postgres), so monitoring does not report the indexes as unused
CREATE TABLE counted_f (id int, v vector(2));
INSERT INTO counted_f SELECT i, ARRAY[i, i]::real[]::vector FROM generate_series(1, 100) i;
CREATE TABLE counted_i AS SELECT * FROM counted_f;
CREATE INDEX counted_flat ON counted_f USING flat (v vector_l2_ops);
CREATE INDEX counted_ivf ON counted_i USING ivfflat (v vector_l2_ops) WITH (lists = 2);
SET enable_seqscan = off;
SET ivfflat.probes = 2;
SELECT id FROM counted_f ORDER BY v <-> '[1,1]' LIMIT 3;
SELECT id FROM counted_f ORDER BY v <-> '[50,50]' LIMIT 2;
SELECT id FROM counted_i ORDER BY v <-> '[1,1]' LIMIT 4;
RESET ALL;
SELECT pg_stat_force_next_flush();
SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes
WHERE relname IN ('counted_f', 'counted_i') ORDER BY 1;
DROP TABLE counted_f, counted_i;
