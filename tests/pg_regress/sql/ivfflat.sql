-- ivfflat: pgvector's syntax and GUCs; exact with probes = lists; recall rises with probes
SELECT setseed(0.7);
-- 40 well-separated clusters of 100 points in 8 dimensions, plus duplicates and NULLs
CREATE TABLE iv (id int, v vector(8));
INSERT INTO iv SELECT c * 100 + j,
  (SELECT array_agg((c % 5 * 10 + c / 5 * 3 + (random() - 0.5) + 0 * g)::real) FROM generate_series(1, 8) g)
FROM generate_series(0, 39) c, generate_series(0, 99) j;
INSERT INTO iv SELECT 5000 + i, '[1,1,1,1,1,1,1,1]' FROM generate_series(1, 60) i;   -- 60 duplicates
INSERT INTO iv SELECT 6000 + i, NULL FROM generate_series(1, 5) i;
CREATE TABLE ivq AS SELECT i, (SELECT v FROM iv WHERE id = i * 97 % 4000) AS q FROM generate_series(1, 6) i;
CREATE INDEX iv_l2 ON iv USING ivfflat (v vector_l2_ops) WITH (lists = 40);
SELECT uses_index('SELECT id FROM iv ORDER BY v <-> ''[1,2,3,4,5,6,7,8]'' LIMIT 5') AS knn_uses_index,
       uses_index('SELECT id FROM iv WHERE id = 3') AS where_uses_index;
-- probes = lists: exactly the seq-scan result
SET ivfflat.probes = 40;
SELECT array_agg(DISTINCT same('iv', '<->', q::text, k, 'v IS NOT NULL')) AS exact
FROM ivq, unnest(ARRAY[1, 10, 100]) k;
-- recall rises with probes (and the nearest cluster alone already finds most neighbours)
CREATE FUNCTION mean_recall(probes int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r float8;
BEGIN
  PERFORM set_config('ivfflat.probes', probes::text, true);
  SELECT avg(recall('iv', '<->', q::text, 50)) INTO r FROM ivq;
  RETURN r;
END $$;
SELECT mean_recall(1) >= 0.5 AS probe1_finds_most, mean_recall(1) <= mean_recall(4) AND mean_recall(4) <= mean_recall(40) AS rises,
       mean_recall(40) = 1 AS exact_at_all_lists;
RESET ivfflat.probes;
-- duplicates: all 60 come back
SELECT count(*) AS duplicates FROM (SELECT id FROM iv ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 60) s WHERE id > 5000;
-- inserts after the build, delete + VACUUM
INSERT INTO iv VALUES (7001, '[100,100,100,100,100,100,100,100]');
SELECT id FROM iv ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;
DELETE FROM iv WHERE id = 7001 OR id BETWEEN 5001 AND 5030;
VACUUM iv;
SELECT id FROM iv ORDER BY v <-> '[99,99,99,99,99,99,99,99]' LIMIT 1;
SELECT count(*) AS duplicates_left FROM (SELECT id FROM iv ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 60) s WHERE id > 5000;
-- iterative scan: a 0.1%-selective filter (4 matching rows, in different lists) still returns
-- its k rows; without it, or capped at one probe, only the nearest list is searched
SELECT count(*) AS without_iterative FROM (SELECT id FROM iv WHERE id % 1000 = 42 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 4) s;
SET ivfflat.iterative_scan = relaxed_order;
SELECT count(*) AS with_iterative FROM (SELECT id FROM iv WHERE id % 1000 = 42 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 4) s;
SET ivfflat.max_probes = 1;
SELECT count(*) AS capped_by_max_probes FROM (SELECT id FROM iv WHERE id % 1000 = 42 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 4) s;
RESET ivfflat.iterative_scan; RESET ivfflat.max_probes;
-- space is reused across delete-all / VACUUM / re-insert
CREATE TABLE ivc (id int, v vector(4));
INSERT INTO ivc SELECT i, ARRAY[i % 10, i % 7, i % 3, 1]::real[] FROM generate_series(1, 3000) i;
CREATE INDEX ivc_idx ON ivc USING ivfflat (v vector_l2_ops) WITH (lists = 10);
CREATE TEMP TABLE ivsizes (bytes bigint);
INSERT INTO ivsizes SELECT pg_relation_size('ivc_idx');
DELETE FROM ivc; VACUUM ivc;
INSERT INTO ivc SELECT i, ARRAY[i % 10, i % 7, i % 3, 1]::real[] FROM generate_series(1, 3000) i;
INSERT INTO ivsizes SELECT pg_relation_size('ivc_idx');
DELETE FROM ivc; VACUUM ivc;
INSERT INTO ivc SELECT i, ARRAY[i % 10, i % 7, i % 3, 1]::real[] FROM generate_series(1, 3000) i;
INSERT INTO ivsizes SELECT pg_relation_size('ivc_idx');
SELECT max(bytes) <= 1.1 * min(bytes) AS size_stable FROM ivsizes;
SET ivfflat.probes = 10;
SELECT same('ivc', '<->', '[3,3,1,1]', 100) AS after_cycles;
RESET ivfflat.probes;
-- every opclass, exact at probes = lists; cosine with zero vectors
CREATE INDEX iv_ip ON iv USING ivfflat (v vector_ip_ops) WITH (lists = 8);
CREATE INDEX iv_cos ON iv USING ivfflat (v vector_cosine_ops) WITH (lists = 8);
CREATE INDEX iv_l1 ON iv USING ivfflat (v vector_l1_ops) WITH (lists = 8);
DROP INDEX iv_l2;
INSERT INTO iv SELECT 8000 + i, array_fill(0, ARRAY[8])::real[]::vector FROM generate_series(1, 3) i;
SET ivfflat.probes = 8;
SELECT op, array_agg(DISTINCT same('iv', op, q::text, 30, 'v IS NOT NULL')) AS result
FROM ivq, unnest(ARRAY['<#>', '<=>', '<+>']) op GROUP BY op ORDER BY op;
RESET ivfflat.probes;
-- halfvec, and beyond 2000 dimensions
CREATE TABLE ivh (id int, v halfvec(8));
INSERT INTO ivh SELECT id, v FROM iv WHERE v IS NOT NULL;
CREATE INDEX ON ivh USING ivfflat (v halfvec_l2_ops) WITH (lists = 20);
SET ivfflat.probes = 20;
SELECT same('ivh', '<->', (SELECT q::halfvec::text FROM ivq WHERE i = 1), 20) AS halfvec_exact;
SET maintenance_work_mem = '256MB';
CREATE TABLE ivbig (id int, v vector(3000));
INSERT INTO ivbig SELECT i, (SELECT array_agg(sin(i * j)::real) FROM generate_series(1, 3000) j) FROM generate_series(1, 40) i;
CREATE INDEX ON ivbig USING ivfflat (v vector_l2_ops) WITH (lists = 4);
INSERT INTO ivbig SELECT i, (SELECT array_agg(cos(i * j)::real) FROM generate_series(1, 3000) j) FROM generate_series(41, 50) i;
SET ivfflat.probes = 4;
SELECT same('ivbig', '<->', (SELECT v::text FROM ivbig WHERE id = 45), 10) AS dims_3000;
-- vectors spanning pages: freed slots are reused (size stable over delete / VACUUM /
-- re-insert of the same rows, which go back to the same lists)
CREATE TABLE ivbigsizes (n int, bytes bigint);
CREATE TABLE ivbigkeep AS SELECT * FROM ivbig WHERE id > 20;
INSERT INTO ivbigsizes SELECT 0, pg_relation_size('ivbig_v_idx');
DELETE FROM ivbig WHERE id > 20; VACUUM ivbig;
INSERT INTO ivbig SELECT * FROM ivbigkeep;
INSERT INTO ivbigsizes SELECT 1, pg_relation_size('ivbig_v_idx');
DELETE FROM ivbig WHERE id > 20; VACUUM ivbig;
INSERT INTO ivbig SELECT * FROM ivbigkeep;
INSERT INTO ivbigsizes SELECT 2, pg_relation_size('ivbig_v_idx');
SELECT count(DISTINCT bytes) = 1 AS spanning_size_stable FROM ivbigsizes;
SELECT same('ivbig', '<->', (SELECT v::text FROM ivbig WHERE id = 33), 50) AS dims_3000_reused;
SELECT count(*) AS all_found FROM (SELECT id FROM ivbig ORDER BY v <-> (SELECT v FROM ivbig WHERE id = 7) LIMIT 100) s;
DROP TABLE ivbigsizes, ivbigkeep;
RESET ivfflat.probes;
-- an empty build: little data, then inserts are found; lists > rows
CREATE TABLE ive (id int, v vector(2));
CREATE INDEX ON ive USING ivfflat (v vector_l2_ops);
INSERT INTO ive VALUES (1, '[1,1]'), (2, '[5,5]'), (3, '[9,9]');
SET ivfflat.probes = 100;
SELECT array_agg(id) AS found FROM (SELECT id FROM ive ORDER BY v <-> '[4,4]' LIMIT 3) s;
RESET ivfflat.probes;
CREATE TABLE ivsmall (id int, v vector(2));
INSERT INTO ivsmall SELECT i, ARRAY[i, i]::real[] FROM generate_series(1, 20) i;
CREATE INDEX ON ivsmall USING ivfflat (v vector_l2_ops) WITH (lists = 50);
SET ivfflat.probes = 50;
SELECT same('ivsmall', '<->', '[3,3]', 20) AS lists_over_rows;
RESET ivfflat.probes;
-- the per-backend cache of centroids and list chains (all in this one session): rows
-- inserted after a scan cached the chains (new head pages) are found; so are rows after
-- REINDEX with other lists, TRUNCATE, and a rebuild under the same name
CREATE TABLE ivcache (id int, v vector(4));
INSERT INTO ivcache SELECT i, ARRAY[i % 13, i % 7, i % 5, i % 3]::real[] FROM generate_series(1, 2000) i;
CREATE INDEX ivcache_idx ON ivcache USING ivfflat (v vector_l2_ops) WITH (lists = 4);
SET ivfflat.probes = 4;
SELECT same('ivcache', '<->', '[1,2,3,4]', 10) AS cached_first;
INSERT INTO ivcache SELECT 10000 + i, ARRAY[1 + i * 1e-3, 2, 3, 4]::real[] FROM generate_series(1, 1500) i;
SELECT same('ivcache', '<->', '[1,2,3,4]', 50) AS after_inserts;
SELECT count(*) AS all_rows FROM (SELECT id FROM ivcache ORDER BY v <-> '[1,2,3,4]' LIMIT 100000) s;
ALTER INDEX ivcache_idx SET (lists = 9);
REINDEX INDEX ivcache_idx;
SET ivfflat.probes = 9;
SELECT same('ivcache', '<->', '[9,0,0,0]', 10) AS after_reindex;
TRUNCATE ivcache;
INSERT INTO ivcache VALUES (1, '[5,5,5,5]'), (2, '[6,6,6,6]');
SELECT array_agg(id) AS after_truncate FROM (SELECT id FROM ivcache ORDER BY v <-> '[6,6,6,6]' LIMIT 5) s;
DROP INDEX ivcache_idx;
CREATE INDEX ivcache_idx ON ivcache USING ivfflat (v vector_l2_ops) WITH (lists = 1);
INSERT INTO ivcache VALUES (3, '[7,7,7,7]');
SELECT array_agg(id) AS after_recreate FROM (SELECT id FROM ivcache ORDER BY v <-> '[7,7,7,7]' LIMIT 5) s;
RESET ivfflat.probes;
-- errors with pgvector's wording
CREATE INDEX ON iv USING ivfflat (v vector_l2_ops) WITH (lists = 0);
CREATE INDEX ON iv USING ivfflat (v vector_l2_ops) WITH (lists = 32769);
SET ivfflat.probes = 0;
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.max_probes = 0;
CREATE TABLE ivnodim (v vector);
CREATE INDEX ON ivnodim USING ivfflat (v vector_l2_ops);
SET maintenance_work_mem = '1MB';
CREATE TABLE ivmem (v vector(2000));
CREATE INDEX ON ivmem USING ivfflat (v vector_l2_ops) WITH (lists = 1000);
RESET maintenance_work_mem;
SHOW ivfflat.probes;
SELECT opcname, amvalidate(oid) FROM pg_opclass WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'ivfflat') ORDER BY opcname;
DROP TABLE iv, ivq, ivc, ivh, ivbig, ive, ivsmall, ivnodim, ivmem, ivcache;
