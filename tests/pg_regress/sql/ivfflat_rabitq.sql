-- ivfflat WITH (quantization = 'rabitq'): lists of 1-bit codes, candidates re-ranked by the
-- exact distance read from the heap. With every list probed the result is the seq scan's (a
-- bound that fails only lets a row come later; the strict factor makes that negligible); at
-- fewer probes recall stays that of the unquantized index
SELECT setseed(0.5);
CREATE TABLE rq (id int, v vector(48));
INSERT INTO rq SELECT i, (SELECT array_agg((random() * 2 - 1 + (i % 7) * 0.3 * (g % 3))::real) FROM generate_series(1, 48) g WHERE i > 0)
FROM generate_series(1, 5000) i;
INSERT INTO rq SELECT 6000 + id, v FROM rq WHERE id <= 50;                              -- exact duplicates
INSERT INTO rq VALUES (7001, NULL), (7002, array_fill(0, ARRAY[48])::real[]::vector);  -- NULL, zero vector
CREATE TABLE rqq AS SELECT i, (SELECT array_agg((random() * 2 - 1 + 0.5 * (g % 3))::real) FROM generate_series(1, 48) g WHERE i > 0)::vector AS q
FROM generate_series(1, 4) i;
INSERT INTO rqq VALUES (5, (SELECT v FROM rq WHERE id = 9));
CREATE INDEX rq_l2 ON rq USING ivfflat (v vector_l2_ops) WITH (lists = 20, quantization = 'rabitq');
CREATE INDEX rq_ip ON rq USING ivfflat (v vector_ip_ops) WITH (lists = 20, quantization = rabitq);
CREATE INDEX rq_cos ON rq USING ivfflat (v vector_cosine_ops) WITH (lists = 20, quantization = 'rabitq');
-- 48 dimensions: a 24-byte code per row instead of a 192-byte vector
SELECT pg_relation_size('rq_l2') * 4 < pg_relation_size('rq') AS compact;
EXPLAIN (COSTS OFF) SELECT id FROM rq ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48]' LIMIT 5;
SET ivfflat.probes = 20;
SET ivfflat.rabitq_epsilon = 3.5;
SELECT op, k, array_agg(DISTINCT same('rq', op, q::text, k, 'v IS NOT NULL')) AS result
FROM rqq, unnest(ARRAY['<->', '<#>', '<=>']) op, unnest(ARRAY[1, 10, 100]) k
GROUP BY op, k ORDER BY op, k;
-- every row comes back once through the index (the zero vector last under cosine)
SELECT count(*) AS all_rows, count(DISTINCT id) AS distinct_rows FROM knn('rq', '<=>', (SELECT q::text FROM rqq WHERE i = 1), 100000, true);
SELECT id AS last_by_cosine FROM knn('rq', '<=>', (SELECT q::text FROM rqq WHERE i = 1), 100000, true) OFFSET 5049;
RESET ivfflat.rabitq_epsilon;
-- at 4 of 20 lists: recall of the codes within 0.02 of the vectors' (same lists, same rows)
SET ivfflat.probes = 4;
CREATE TEMP TABLE rq_recall AS
SELECT op, avg(recall('rq', op, q::text, 10)) AS r FROM rqq, unnest(ARRAY['<->', '<#>', '<=>']) op GROUP BY op;
DROP INDEX rq_l2, rq_ip, rq_cos;
CREATE INDEX rq_l2 ON rq USING ivfflat (v vector_l2_ops) WITH (lists = 20);
CREATE INDEX rq_ip ON rq USING ivfflat (v vector_ip_ops) WITH (lists = 20);
CREATE INDEX rq_cos ON rq USING ivfflat (v vector_cosine_ops) WITH (lists = 20);
SELECT op, r >= avg(recall('rq', op, q::text, 10)) - 0.02 AS recall_as_unquantized
FROM rq_recall, rqq GROUP BY op, r ORDER BY op;
DROP INDEX rq_l2, rq_ip, rq_cos;

-- inserts, deletes, VACUUM; rows of other transactions as the snapshot sees them
CREATE INDEX rq_l2 ON rq USING ivfflat (v vector_l2_ops) WITH (lists = 20, quantization = 'rabitq');
SET ivfflat.probes = 20;
SET ivfflat.rabitq_epsilon = 3.5;
INSERT INTO rq SELECT 10000 + i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 48) g WHERE i > 0) FROM generate_series(1, 500) i;
SELECT array_agg(DISTINCT same('rq', '<->', q::text, 20, 'v IS NOT NULL')) AS after_insert FROM rqq;
DELETE FROM rq WHERE id % 3 = 0;
-- deleted, not yet vacuumed: the index still has them, the scan's snapshot does not
SELECT count(*) AS deleted_rows_returned FROM rqq, LATERAL (SELECT id FROM rq ORDER BY v <-> q LIMIT 30) s WHERE id % 3 = 0;
VACUUM rq;
SELECT array_agg(DISTINCT same('rq', '<->', q::text, 50, 'v IS NOT NULL')) AS after_vacuum FROM rqq;
BEGIN;
INSERT INTO rq VALUES (20000, (SELECT q FROM rqq WHERE i = 2));
SELECT id AS own_insert_seen FROM rq ORDER BY v <-> (SELECT q FROM rqq WHERE i = 2) LIMIT 1;
ROLLBACK;
SELECT id <> 20000 AS rolled_back_row_gone FROM rq ORDER BY v <-> (SELECT q FROM rqq WHERE i = 2) LIMIT 1;
-- an iterative scan under a 1% filter still returns its rows
SET ivfflat.probes = 1;
SET ivfflat.iterative_scan = relaxed_order;
SELECT count(*) AS filtered FROM (SELECT id FROM rq WHERE id % 100 = 1 ORDER BY v <-> (SELECT q FROM rqq WHERE i = 3) LIMIT 10) s;
RESET ivfflat.iterative_scan;
RESET ivfflat.probes;
RESET ivfflat.rabitq_epsilon;

-- halfvec; an index built over no rows of a column without a dimension, laid out by its
-- first insert
CREATE TABLE rqh AS SELECT id, v::halfvec(48) AS v FROM rq;
CREATE INDEX ON rqh USING ivfflat (v halfvec_l2_ops) WITH (lists = 10, quantization = 'rabitq');
SET ivfflat.probes = 10;
SELECT array_agg(DISTINCT same('rqh', '<->', q::text, 10, 'v IS NOT NULL')) AS halfvec FROM rqq;
-- an expression index: the re-ranking evaluates the expression on the heap row
CREATE INDEX rq_expr ON rq USING ivfflat ((v::halfvec(48)) halfvec_l2_ops) WITH (lists = 10, quantization = 'rabitq');
SELECT uses_index('SELECT id FROM rq ORDER BY v::halfvec(48) <-> ''[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]''::halfvec LIMIT 5') AS expression_index_used;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM rqh ORDER BY v <-> (SELECT q::halfvec FROM rqq WHERE i = 1), id LIMIT 10) s) AS expression_index_exact
FROM (SELECT id FROM rq ORDER BY v::halfvec(48) <-> (SELECT q::halfvec FROM rqq WHERE i = 1) LIMIT 10) s;
DROP INDEX rq_expr;
CREATE TABLE rqe (id int, v vector);
CREATE INDEX ON rqe USING ivfflat (v vector_l2_ops) WITH (lists = 3, quantization = 'rabitq');
INSERT INTO rqe SELECT i, ARRAY[i, i % 5, 1]::real[] FROM generate_series(1, 100) i;
SELECT same('rqe', '<->', '[50,2,1]', 5) AS formed_by_insert;
RESET ivfflat.probes;

-- errors
CREATE INDEX ON rq USING ivfflat (v vector_l1_ops) WITH (quantization = 'rabitq');
CREATE TABLE rqb (v bit(64));
CREATE INDEX ON rqb USING ivfflat (v bit_hamming_ops) WITH (quantization = 'rabitq');
CREATE INDEX ON rq USING ivfflat (v vector_l2_ops) WITH (quantization = 'pq');
SET ivfflat.rabitq_epsilon = 11;
DROP TABLE rq, rqq, rqh, rqe, rqb;
