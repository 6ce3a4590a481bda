-- flat index: results equal ORDER BY over a sequential scan, for every opclass

-- random data with duplicates, NULL vectors and zero vectors
SELECT setseed(0.42);
CREATE TABLE f (id int, v vector(8));
INSERT INTO f SELECT i, (SELECT array_agg(round((random() * 4 - 2)::numeric, 1)::real) FROM generate_series(1, 8) WHERE i > 0)
FROM generate_series(1, 3000) i;
INSERT INTO f SELECT 3000 + id, v FROM f WHERE id <= 200;            -- exact duplicates
INSERT INTO f SELECT 4000 + i, NULL FROM generate_series(1, 10) i;     -- NULL embeddings
INSERT INTO f SELECT 5000 + i, array_fill(0, ARRAY[8])::real[]::vector FROM generate_series(1, 5) i;  -- zero vectors
CREATE TABLE fq AS SELECT i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) WHERE i > 0)::vector AS q
FROM generate_series(1, 5) i;
INSERT INTO fq VALUES (6, (SELECT v FROM f WHERE id = 7)), (7, array_fill(0, ARRAY[8])::real[]::vector);

CREATE INDEX f_l2 ON f USING flat (v vector_l2_ops);
CREATE INDEX f_ip ON f USING flat (v vector_ip_ops);
CREATE INDEX f_cos ON f USING flat (v vector_cosine_ops);
CREATE INDEX f_l1 ON f USING flat (v vector_l1_ops);
-- (NULL vectors are not indexed, as in pgvector: compare over the rows that have one)
SELECT op, k, array_agg(DISTINCT same('f', op, q::text, k, 'v IS NOT NULL')) AS result
FROM fq, unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, unnest(ARRAY[1, 10, 100, 4000]) k
GROUP BY op, k ORDER BY op, k;
SELECT count(*) AS all_rows_through_index FROM knn('f', '<->', '[1,1,1,1,1,1,1,1]', 10000, true);
-- filtered queries keep pulling: k rows come back even when the filter rejects 99%
SELECT same('f', '<->', q::text, 10, 'id % 100 = 7') AS filtered FROM fq WHERE i = 1;
SELECT count(*) AS filtered_rows FROM (SELECT id FROM f WHERE id % 100 = 7 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10) s;

-- a filter rejecting 99.9% pulls past the first pass (4096 candidates): the resumed pass
-- continues exactly after the last row returned, with many tied distances
CREATE TABLE resume (id int, v vector(4));
INSERT INTO resume SELECT i, ARRAY[i % 7, i % 5, i % 3, 1]::real[] FROM generate_series(1, 12000) i;
CREATE INDEX ON resume USING flat (v vector_l2_ops);
SELECT same('resume', '<->', '[1,1,1,1]', 12, 'id % 1000 = 3') AS resumed;
SELECT count(*) AS all_rows, count(DISTINCT id) AS distinct_rows FROM knn('resume', '<->', '[1,1,1,1]', 20000, true);
DROP TABLE resume;

-- the planner picks the index for ORDER BY … LIMIT and not otherwise
SELECT uses_index('SELECT id FROM f ORDER BY v <-> ''[1,2,3,4,5,6,7,8]'' LIMIT 5') AS knn_uses_index,
       uses_index('SELECT id FROM f WHERE id = 3') AS where_uses_index,
       uses_index('SELECT id FROM f ORDER BY id LIMIT 5') AS order_by_id_uses_index;
EXPLAIN (COSTS OFF) SELECT id FROM f ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 5;
DROP INDEX f_ip, f_cos, f_l1;

-- inserts after the build are found; deletes + VACUUM never return dead rows
INSERT INTO f SELECT 10000 + i, ARRAY[i, i, i, i, i, i, i, i]::real[] FROM generate_series(1, 300) i;
SELECT same('f', '<->', '[150,150,150,150,150,150,150,150]', 20) AS after_insert;
SELECT array_agg(id) AS nearest FROM (SELECT id FROM f ORDER BY v <-> '[150,150,150,150,150,150,150,150]' LIMIT 3) s;
DELETE FROM f WHERE id BETWEEN 10100 AND 10200;
SELECT array_agg(id) AS after_delete FROM (SELECT id FROM f ORDER BY v <-> '[150,150,150,150,150,150,150,150]' LIMIT 3) s;
VACUUM f;
SELECT array_agg(id) AS after_vacuum FROM (SELECT id FROM f ORDER BY v <-> '[150,150,150,150,150,150,150,150]' LIMIT 3) s;
SELECT same('f', '<->', q::text, 50) AS after_vacuum_same FROM fq WHERE i = 2;
-- space is reused: index size is stable over delete-all / VACUUM / re-insert cycles
CREATE TABLE cyc (id int, v vector(16));
CREATE INDEX ON cyc USING flat (v vector_l2_ops);
INSERT INTO cyc SELECT i, array_fill(i::real, ARRAY[16])::vector FROM generate_series(1, 2000) i;
CREATE TEMP TABLE sizes (bytes bigint);
INSERT INTO sizes SELECT pg_relation_size('cyc_v_idx');
DELETE FROM cyc;
VACUUM cyc;
INSERT INTO cyc SELECT i, array_fill(i::real, ARRAY[16])::vector FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT pg_relation_size('cyc_v_idx');
DELETE FROM cyc;
VACUUM cyc;
INSERT INTO cyc SELECT i, array_fill(i::real, ARRAY[16])::vector FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT pg_relation_size('cyc_v_idx');
DELETE FROM cyc;
VACUUM cyc;
INSERT INTO cyc SELECT i, array_fill(i::real, ARRAY[16])::vector FROM generate_series(1, 2000) i;
INSERT INTO sizes SELECT pg_relation_size('cyc_v_idx');
SELECT count(DISTINCT bytes) AS distinct_sizes, min(bytes) = (SELECT pg_relation_size('cyc_v_idx')) AS stable FROM sizes;
SELECT count(*) FROM (SELECT id FROM cyc ORDER BY v <-> array_fill(7::real, ARRAY[16])::vector LIMIT 2000) s;

-- halfvec opclasses
CREATE TABLE h (id int, v halfvec(8));
INSERT INTO h SELECT id, v::halfvec FROM f WHERE v IS NOT NULL;
CREATE INDEX h_l2 ON h USING flat (v halfvec_l2_ops);
CREATE INDEX h_cos ON h USING flat (v halfvec_cosine_ops);
CREATE INDEX h_ip ON h USING flat (v halfvec_ip_ops);
CREATE INDEX h_l1 ON h USING flat (v halfvec_l1_ops);
SELECT op, array_agg(DISTINCT same('h', op, q::halfvec::text, 25)) AS result
FROM fq, unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op GROUP BY op ORDER BY op;

-- beyond pgvector's 2000-dimension limit: vectors spanning pages
CREATE TABLE big (id int, v vector(4096));
INSERT INTO big SELECT i, (SELECT array_agg(sin(i * j)::real) FROM generate_series(1, 4096) j) FROM generate_series(1, 60) i;
CREATE INDEX ON big USING flat (v vector_l2_ops);
INSERT INTO big SELECT i, (SELECT array_agg(cos(i * j)::real) FROM generate_series(1, 4096) j) FROM generate_series(61, 80) i;
SELECT same('big', '<->', (SELECT v::text FROM big WHERE id = 70), 10) AS dims_4096;
CREATE TABLE huge (id int, v vector(16000));
INSERT INTO huge SELECT i, array_fill((i % 7)::real, ARRAY[16000])::vector FROM generate_series(1, 12) i;
CREATE INDEX ON huge USING flat (v vector_l1_ops);
SELECT same('huge', '<+>', array_fill(3::real, ARRAY[16000])::vector::text, 12) AS dims_16000;
CREATE TABLE bighalf (id int, v halfvec(4096));
INSERT INTO bighalf SELECT id, v::halfvec FROM big;
CREATE INDEX ON bighalf USING flat (v halfvec_cosine_ops);
SELECT same('bighalf', '<=>', (SELECT v::text FROM bighalf WHERE id = 3), 10) AS halfvec_4096;

-- columns without a typmod: dimensions come from the first vector
CREATE TABLE nodim (id int, v vector);
CREATE INDEX nodim_idx ON nodim USING flat (v vector_l2_ops);
INSERT INTO nodim VALUES (1, '[1,2,3]'), (2, '[3,2,1]');
INSERT INTO nodim VALUES (3, '[1,2]');
SELECT id FROM nodim ORDER BY v <-> '[1,2,2]' LIMIT 1;
SELECT id FROM nodim ORDER BY v <-> '[1,2]' LIMIT 1;

-- misuse gives clear errors
CREATE INDEX ON f USING flat (v);
CREATE INDEX ON f USING flat (id);
CREATE INDEX ON f USING flat (v vector_l2_ops, v vector_l2_ops);
CREATE INDEX ON h USING flat (v vector_l2_ops);
CREATE UNIQUE INDEX ON f USING flat (v vector_l2_ops);

-- empty tables, unlogged tables
CREATE TABLE empty (id int, v vector(2));
CREATE INDEX ON empty USING flat (v vector_l2_ops);
SELECT count(*) FROM (SELECT id FROM empty ORDER BY v <-> '[1,1]' LIMIT 5) s;
INSERT INTO empty VALUES (1, '[1,1]');
SELECT id FROM empty ORDER BY v <-> '[1,1]' LIMIT 5;
CREATE UNLOGGED TABLE unl (id int, v vector(2));
CREATE INDEX ON unl USING flat (v vector_l2_ops);
INSERT INTO unl VALUES (1, '[1,1]'), (2, '[5,5]');
SELECT id FROM unl ORDER BY v <-> '[4,4]' LIMIT 1;

-- CREATE INDEX can be cancelled
CREATE TABLE slow (id int, v vector(64));
INSERT INTO slow SELECT i, array_fill((i % 100)::real, ARRAY[64])::vector FROM generate_series(1, 200000) i;
SET statement_timeout = '10ms';
CREATE INDEX slow_idx ON slow USING flat (v vector_l2_ops);
RESET statement_timeout;
SELECT count(*) AS leftover_index FROM pg_class WHERE relname = 'slow_idx';

-- every opclass validates
SELECT opcname, amvalidate(oid) FROM pg_opclass WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'flat') ORDER BY opcname;
DROP TABLE f, fq, cyc, h, big, huge, bighalf, nodim, empty, unl, slow;
