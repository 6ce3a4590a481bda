-- hnsw: pgvector's syntax, options and GUCs; recall against the seq-scan result (floors that a
-- broken graph fails: the parallel build links in a varying order, so only floors are shown)
SELECT setseed(0.3);
CREATE TABLE hn (id int, v vector(8));
INSERT INTO hn SELECT i, (SELECT array_agg((random() * 2 - 1 + 0 * g + 0 * i)::real) FROM generate_series(1, 8) g)
FROM generate_series(1, 3000) i;
INSERT INTO hn SELECT 5000 + i, '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' FROM generate_series(1, 60) i;  -- 60 duplicates
INSERT INTO hn SELECT 6000 + i, NULL FROM generate_series(1, 5) i;
CREATE TABLE hnq AS SELECT i, (SELECT v FROM hn WHERE id = i * 131 % 3000 + 1) AS q FROM generate_series(1, 20) i;
CREATE INDEX hn_l2 ON hn USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
SELECT uses_index('SELECT id FROM hn ORDER BY v <-> ''[1,2,3,4,5,6,7,8]'' LIMIT 5') AS knn_uses_index,
       uses_index('SELECT id FROM hn WHERE id = 3') AS where_uses_index;
-- recall rises with ef_search; rows come back nearest first
CREATE FUNCTION mean_recall(tab text, op text, ef int, k int DEFAULT 10) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r float8;
BEGIN
  PERFORM set_config('hnsw.ef_search', ef::text, true);
  EXECUTE format('SELECT avg(recall(%L, %L, q::text, %s)) FROM hnq', tab, op, k) INTO r;
  RETURN r;
END $$;
CREATE FUNCTION in_order(tab text, op text, k int) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE ok bool;
BEGIN
  SELECT bool_and(sorted) INTO ok FROM (
    SELECT (SELECT bool_and(d >= prev) FROM (SELECT d, lag(d, 1, '-infinity') OVER (ORDER BY ord) prev
             FROM knn(tab, op, q::text, k, true) WITH ORDINALITY t(id, d, ord)) s) AS sorted FROM hnq) x;
  RETURN ok;
END $$;
SELECT mean_recall('hn', '<->', 40) >= 0.9 AS ef40_recall, mean_recall('hn', '<->', 200) >= 0.98 AS ef200_recall,
       mean_recall('hn', '<->', 10) <= mean_recall('hn', '<->', 200) AS rises, in_order('hn', '<->', 50) AS nearest_first;
-- duplicates share nodes; all 60 come back
SET hnsw.ef_search = 100;
SELECT count(*) AS duplicates FROM (SELECT id FROM hn ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 60) s WHERE id > 5000;
RESET hnsw.ef_search;
-- iterative scans: a 1% filter still returns its 10 rows; strict_order in distance order
SELECT count(*) <= 10 AS without_iterative FROM (SELECT id FROM hn WHERE id % 100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) s;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) AS relaxed FROM (SELECT id FROM hn WHERE id % 100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) s;
SET hnsw.iterative_scan = strict_order;
SELECT count(*) AS strict, bool_and(d >= prev) AS strict_in_order FROM (
  SELECT d, lag(d, 1, '-infinity') OVER (ORDER BY ord) prev FROM
  (SELECT v <-> '[0,0,0,0,0,0,0,0]' d, row_number() OVER () ord FROM
     (SELECT v FROM hn WHERE id % 100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) a) b) c;
SELECT recall('hn', '<->', '[0,0,0,0,0,0,0,0]', 10, 'id % 100 = 7') >= 0.8 AS filtered_recall;
SET hnsw.max_scan_tuples = 1;
SELECT count(*) BETWEEN 1 AND 10 AS capped_by_max_scan_tuples FROM (SELECT id FROM hn WHERE id % 100 = 7 ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 10) s;
RESET hnsw.iterative_scan; RESET hnsw.max_scan_tuples;
-- inserts after the build; delete half and VACUUM: no dead row returned, recall holds
INSERT INTO hn SELECT 10000 + i, (SELECT array_agg((random() * 2 - 1 + 0 * g + 0 * i)::real) FROM generate_series(1, 8) g)
FROM generate_series(1, 1500) i;
SELECT mean_recall('hn', '<->', 40) >= 0.9 AS recall_after_inserts;
DELETE FROM hn WHERE id % 2 = 0;
VACUUM hn;
SELECT count(*) AS dead_rows_returned FROM hnq, LATERAL (SELECT id FROM hn ORDER BY v <-> q LIMIT 20) s WHERE id % 2 = 0;
SELECT mean_recall('hn', '<->', 40) >= 0.9 AS recall_after_vacuum, in_order('hn', '<->', 30) AS nearest_first_after_vacuum;
-- rows inserted after VACUUM take the freed node slots (only the 1 in m that need upper-level
-- room go to the end): the index grows by far less than 500 new nodes would need
CREATE TEMP TABLE size_after_vacuum AS SELECT pg_relation_size('hn_l2') AS bytes;
INSERT INTO hn SELECT 20000 + i, (SELECT array_agg((random() * 2 - 1 + 0 * g + 0 * i)::real) FROM generate_series(1, 8) g)
FROM generate_series(1, 500) i;
SELECT pg_relation_size('hn_l2') <= bytes * 1.05 AS freed_slots_reused FROM size_after_vacuum;
SELECT mean_recall('hn', '<->', 40) >= 0.9 AS recall_after_reinserts;
-- index scans are counted
SELECT pg_stat_force_next_flush();
SELECT idx_scan > 0 AS scans_counted FROM pg_stat_user_indexes WHERE indexrelname = 'hn_l2';
-- every opclass; a zero vector has no cosine distance and is not indexed (as in pgvector)
DROP INDEX hn_l2;
CREATE INDEX hn_ip ON hn USING hnsw (v vector_ip_ops);
SELECT mean_recall('hn', '<#>', 40) >= 0.9 AS ip_recall;
DROP INDEX hn_ip;
INSERT INTO hn SELECT 30000 + i, array_fill(0, ARRAY[8])::real[]::vector FROM generate_series(1, 3) i;
CREATE INDEX hn_cos ON hn USING hnsw (v vector_cosine_ops);
SELECT mean_recall('hn', '<=>', 40) >= 0.9 AS cosine_recall,
       (SELECT count(*) FROM (SELECT id FROM hn ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 5000) s WHERE id > 30000) AS zero_vectors_returned;
DROP INDEX hn_cos;
CREATE INDEX hn_l1 ON hn USING hnsw (v vector_l1_ops);
SELECT mean_recall('hn', '<+>', 40) >= 0.9 AS l1_recall;
DROP INDEX hn_l1;
CREATE TABLE hnh AS SELECT id, v::halfvec(8) AS v FROM hn;
CREATE INDEX ON hnh USING hnsw (v halfvec_l2_ops);
SELECT avg(recall('hnh', '<->', q::halfvec::text, 10)) >= 0.9 AS halfvec_recall FROM hnq;
CREATE INDEX ON hnh USING hnsw (v halfvec_cosine_ops);
SELECT avg(recall('hnh', '<=>', q::halfvec::text, 10)) >= 0.9 AS halfvec_cosine_recall FROM hnq;
CREATE TABLE hnb (id int, v bit(64));
INSERT INTO hnb SELECT i, binary_quantize((SELECT array_agg((random() - 0.5 + 0 * g + 0 * i)::real) FROM generate_series(1, 64) g)::vector)::bit(64)
FROM generate_series(1, 2000) i;
CREATE INDEX hnb_ham ON hnb USING hnsw (v bit_hamming_ops);
SELECT avg(recall('hnb', '<~>', v::text, 10)) >= 0.9 AS hamming_recall FROM (SELECT v FROM hnb WHERE id <= 20) s;
DROP INDEX hnb_ham;
CREATE INDEX hnb_jac ON hnb USING hnsw (v bit_jaccard_ops);
SELECT avg(recall('hnb', '<%>', v::text, 10)) >= 0.9 AS jaccard_recall FROM (SELECT v FROM hnb WHERE id <= 20) s;
-- beyond 2000 dimensions (pgvector's limit): vectors span pages
CREATE TABLE hnbig (id int, v vector(3000));
INSERT INTO hnbig SELECT i, (SELECT array_agg(sin(i * j)::real) FROM generate_series(1, 3000) j) FROM generate_series(1, 60) i;
CREATE INDEX ON hnbig USING hnsw (v vector_l2_ops);
SELECT same('hnbig', '<->', (SELECT v::text FROM hnbig WHERE id = 17), 5) AS big_dims;
-- a graph that outgrows maintenance_work_mem: pgvector's NOTICE, then row-by-row inserts
CREATE TABLE hnm (id int, v vector(32));
INSERT INTO hnm SELECT i, (SELECT array_agg((random() * 2 - 1 + 0 * g + 0 * i)::real) FROM generate_series(1, 32) g)
FROM generate_series(1, 8000) i;
SET maintenance_work_mem = '1MB';
\set VERBOSITY terse
CREATE INDEX hnm_idx ON hnm USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
\set VERBOSITY default
RESET maintenance_work_mem;
SET hnsw.ef_search = 200;
SELECT avg(recall('hnm', '<->', v::text, 10)) >= 0.9 AS recall_after_flush FROM (SELECT v FROM hnm WHERE id % 400 = 0) s;
RESET hnsw.ef_search;
-- empty builds, unlogged tables, TRUNCATE, REINDEX
CREATE UNLOGGED TABLE hne (id int, v vector(3));
CREATE INDEX hne_idx ON hne USING hnsw (v vector_l2_ops);
INSERT INTO hne SELECT i, ARRAY[i, i % 7, 1]::real[] FROM generate_series(1, 300) i;
SELECT id FROM hne ORDER BY v <-> '[100,2,1]' LIMIT 3;
TRUNCATE hne;
INSERT INTO hne VALUES (1, '[1,1,1]'), (2, '[2,2,2]');
SELECT id FROM hne ORDER BY v <-> '[2,2,2]' LIMIT 3;
REINDEX INDEX hne_idx;
SELECT id FROM hne ORDER BY v <-> '[2,2,2]' LIMIT 3;
-- errors, with pgvector's wording
CREATE INDEX ON hn USING hnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON hn USING hnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON hn USING hnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON hn USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON hn USING hnsw (v vector_l2_ops) WITH (lists = 3);
CREATE TABLE hnu (v vector);
CREATE INDEX ON hnu USING hnsw (v vector_l2_ops);
SET hnsw.ef_search = 0;
SET hnsw.ef_search = 1001;
SET hnsw.iterative_scan = sideways;
SET hnsw.scan_mem_multiplier = 0.5;
SET hnsw.no_such_setting = 1;
SHOW hnsw.ef_search;
SHOW hnsw.iterative_scan;
SHOW hnsw.max_scan_tuples;
SHOW hnsw.scan_mem_multiplier;
SET enable_seqscan = off;
SELECT id FROM hne ORDER BY v <-> '[1,1]' LIMIT 1;
RESET enable_seqscan;
