-- flat over sparsevec: exact search, results equal ORDER BY over a sequential scan for every
-- opclass; rows of any length up to 1000 non-zero elements packed on pages; inserts, VACUUM
-- and reuse of the room it frees; the errors
SELECT setseed(0.31);
-- bag-of-words-like rows of 0 to 300 elements (exact duplicates, zero vectors, NULLs too)
CREATE FUNCTION fs_row(topic int, nnz int) RETURNS sparsevec LANGUAGE sql AS $$
  SELECT coalesce(('{' || string_agg(k || ':' || round((random() * 4 - 2)::numeric, 1)::real, ',' ORDER BY k) || '}/3000')::sparsevec,
                  '{}/3000'::sparsevec)
  FROM (SELECT DISTINCT CASE WHEN random() < 0.7 THEN topic * 30 + 1 + floor(random() * 30)::int
                             ELSE 601 + floor(random() * 2400)::int END AS k
        FROM generate_series(1, nnz)) s
$$ VOLATILE;
CREATE TABLE fs (id int, v sparsevec(3000));
INSERT INTO fs SELECT i, fs_row(i % 20, CASE WHEN i % 50 = 0 THEN 300 ELSE i % 25 END) FROM generate_series(1, 3000) i;
-- (a rounded value of 0 leaves its element out: some rows are zero vectors)
INSERT INTO fs SELECT 3000 + id, v FROM fs WHERE id <= 100;            -- exact duplicates
INSERT INTO fs SELECT 4000 + i, NULL FROM generate_series(1, 5) i;     -- NULL embeddings
INSERT INTO fs SELECT 5000 + i, '{}/3000' FROM generate_series(1, 5) i; -- zero vectors
CREATE TABLE fsq AS SELECT i, fs_row(i, 10 + i) AS q FROM generate_series(1, 4) i;
INSERT INTO fsq VALUES (5, (SELECT v FROM fs WHERE id = 50)), (6, '{}/3000');

CREATE INDEX fs_l2 ON fs USING flat (v sparsevec_l2_ops);
CREATE INDEX fs_ip ON fs USING flat (v sparsevec_ip_ops);
CREATE INDEX fs_cos ON fs USING flat (v sparsevec_cosine_ops);
CREATE INDEX fs_l1 ON fs USING flat (v sparsevec_l1_ops);
SELECT op, k, array_agg(DISTINCT same('fs', op, q::text, k, 'v IS NOT NULL')) AS result
FROM fsq, unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, unnest(ARRAY[1, 10, 100, 4000]) k
GROUP BY op, k ORDER BY op, k;
SELECT count(*) AS all_rows_through_index FROM knn('fs', '<=>', '{1:1,2:1}/3000', 10000, true);
-- a filter rejecting 99% keeps pulling, exactly in order
SELECT same('fs', '<->', q::text, 10, 'id % 100 = 7') AS filtered FROM fsq WHERE i = 1;
EXPLAIN (COSTS OFF) SELECT id FROM fs ORDER BY v <#> '{1:1}/3000' LIMIT 5;
-- packed: far smaller than one slot per row
SELECT pg_relation_size('fs_l2') < 2 * pg_relation_size('fs') AS compact;
DROP INDEX fs_ip, fs_cos, fs_l1;

-- inserts after the build, up to the longest row, are found; deletes + VACUUM never return
-- dead rows, and the room VACUUM frees takes new rows without growing the index
INSERT INTO fs SELECT 10000 + i, fs_row(i % 20, 100 + i * 3) FROM generate_series(1, 300) i;
INSERT INTO fs VALUES (20000, (SELECT ('{' || string_agg(j || ':0.5', ',') || '}/3000')::sparsevec FROM generate_series(1, 1000) j));
SELECT array_agg(DISTINCT same('fs', '<->', q::text, 20, 'v IS NOT NULL')) AS after_insert FROM fsq;
SELECT id AS longest_row FROM fs ORDER BY v <-> (SELECT v FROM fs WHERE id = 20000) LIMIT 1;
DELETE FROM fs WHERE id % 3 = 0;
VACUUM fs;
SELECT count(*) AS dead_rows_returned FROM fsq, LATERAL (SELECT id FROM fs ORDER BY v <-> q LIMIT 50) s WHERE id % 3 = 0;
SELECT array_agg(DISTINCT same('fs', '<->', q::text, 100, 'v IS NOT NULL')) AS after_vacuum FROM fsq;
CREATE TEMP TABLE fs_size AS SELECT pg_relation_size('fs_l2') AS bytes;
INSERT INTO fs SELECT 30000 + i, fs_row(i % 20, i % 25) FROM generate_series(1, 600) i;
SELECT pg_relation_size('fs_l2') = bytes AS freed_room_reused FROM fs_size;
SELECT array_agg(DISTINCT same('fs', '<->', q::text, 100, 'v IS NOT NULL')) AS after_reuse FROM fsq;

-- a column without a typmod: the first row sets the dimension
CREATE TABLE fs2 (v sparsevec);
CREATE INDEX ON fs2 USING flat (v sparsevec_l1_ops);
INSERT INTO fs2 VALUES ('{1:1}/4'), ('{2:2,4:1}/4');
SET enable_seqscan = off;
SELECT v FROM fs2 ORDER BY v <+> '{1:1}/4';
INSERT INTO fs2 VALUES ('{1:1}/5');
-- errors: a query of another dimension (the row's dimension first, as a seq scan words it),
-- a row of more than 1000 elements
SELECT v FROM fs2 ORDER BY v <+> '{1:1}/5';
INSERT INTO fs2 VALUES ((SELECT ('{' || string_agg(j || ':1', ',') || '}/4000')::sparsevec FROM generate_series(1, 1001) j));
DROP TABLE fs2;
CREATE TABLE fs3 (v sparsevec(2000));
INSERT INTO fs3 VALUES ((SELECT ('{' || string_agg(j || ':1', ',') || '}/2000')::sparsevec FROM generate_series(1, 1001) j));
CREATE INDEX ON fs3 USING flat (v sparsevec_l2_ops);
-- NULL query: every row, ties in any order
SELECT count(*) AS null_query_rows FROM (SELECT v FROM fs ORDER BY v <-> NULL::sparsevec) s;
RESET enable_seqscan;
DROP TABLE fs, fsq, fs3;
DROP FUNCTION fs_row;
