-- sparsevec: pgvector's text and binary forms, errors, distances, order, casts; and the bit
-- distances. References: the dense vectors' float8 arithmetic on unnested elements, SQL bit
-- operators.
SELECT '{1:1.5,3:2}/5'::sparsevec, ' { 3:2 , 1:1.5 } / 5 '::sparsevec, '{}/3'::sparsevec,
       '{1:0,2:-0.5}/2'::sparsevec, '{2:1e-7}/2'::sparsevec;
SELECT '{1:1}/3'::sparsevec(3);
SELECT '{1:1}/3'::sparsevec(4);
SELECT '[1,2]'::sparsevec;
SELECT '{1:1}'::sparsevec;
SELECT '{1:1}/3 x'::sparsevec;
SELECT '{1:}/3'::sparsevec;
SELECT '{1:1,}/3'::sparsevec;
SELECT '{a:1}/3'::sparsevec;
SELECT '{0:1}/3'::sparsevec;
SELECT '{4:1}/3'::sparsevec;
SELECT '{2:1,2:2}/3'::sparsevec;
SELECT '{1:NaN}/3'::sparsevec;
SELECT '{1:-inf}/3'::sparsevec;
SELECT '{1:1e39}/3'::sparsevec;
SELECT '{1:1e-50}/3'::sparsevec;
SELECT '{}/0'::sparsevec;
SELECT '{}/1000000001'::sparsevec;
SELECT '{}/1'::sparsevec(0);
SELECT '{}/1'::sparsevec(1000000001);
SELECT '{}/1'::sparsevec(1, 2);
SELECT ('{' || string_agg(i || ':1', ',') || '}/20000')::sparsevec FROM generate_series(1, 16001) i;
SELECT vector_dims(('{' || string_agg(i || ':1', ',') || '}/20000')::sparsevec::vector) FROM generate_series(1, 16000) i;

-- binary COPY round trip, and recv on crafted payloads
CREATE TABLE sbin_src (id int, v sparsevec);
INSERT INTO sbin_src SELECT i, ('{' || i || ':' || i * 0.5 || ',' || i + 3 || ':-1}/200')::sparsevec
FROM generate_series(1, 100) i;
COPY sbin_src TO '/tmp/vector_ext_regress_svec.bin' (FORMAT binary);
CREATE TABLE sbin_dst (id int, v sparsevec(200));
COPY sbin_dst FROM '/tmp/vector_ext_regress_svec.bin' (FORMAT binary);
SELECT count(*) AS same_rows FROM sbin_src s JOIN sbin_dst d USING (id) WHERE s.v::text = d.v::text;
CREATE TABLE scraft (b bytea);
CREATE TABLE srecv_t (v sparsevec);
CREATE FUNCTION try_srecv(payload bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE scraft; TRUNCATE srecv_t;
  INSERT INTO scraft VALUES (payload);
  COPY scraft TO '/tmp/vector_ext_regress_scraft.bin' (FORMAT binary);
  COPY srecv_t FROM '/tmp/vector_ext_regress_scraft.bin' (FORMAT binary);
  RETURN (SELECT v::text FROM srecv_t);
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR: ' || SQLERRM;
END $$;
SELECT try_srecv('\x00000005000000020000000000000000000000023fc0000040000000');  -- {1:1.5,3:2}/5
SELECT try_srecv('\x000000050000000200000000000000000000000240000000');          -- too short
SELECT try_srecv('\x000000050000000100000001000000003f800000');            -- unused must be 0
SELECT try_srecv('\x00000000000000000000000000');                                -- zero dimensions
SELECT try_srecv('\x0000000500000006000000000000000000000001000000020000000300000004000000053f8000003f8000003f8000003f8000003f8000003f800000');  -- nnz > dim
SELECT try_srecv('\x00000005000000010000000000000005000000003f800000');  -- index out of bounds
SELECT try_srecv('\x0000000500000002000000000000000200000001000000003f8000003f800000');  -- descending
SELECT try_srecv('\x0000000500000002000000000000000100000001000000003f8000003f800000');  -- duplicate
SELECT try_srecv('\x0000000500000001000000000000000100000000');              -- zero value
SELECT try_srecv('\x000000050000000100000000000000017fc00000');              -- NaN
SELECT try_srecv('\x000000050000ffff00000000');                                    -- too many nnz
SELECT sparsevec_send('{1:1.5,3:2}/5'::sparsevec);
DROP TABLE sbin_src, sbin_dst, scraft, srecv_t;

-- distances against the dense float8 reference, on random sparse data
SELECT setseed(0.3);
CREATE TABLE sp AS
SELECT i, (SELECT array_agg(CASE WHEN random() < 0.2 THEN round((random() * 8 - 4)::numeric, 2) ELSE 0 END)::real[]
           FROM generate_series(1, 60) WHERE i > 0) AS a,
          (SELECT array_agg(CASE WHEN random() < 0.2 THEN round((random() * 8 - 4)::numeric, 2) ELSE 0 END)::real[]
           FROM generate_series(1, 60) WHERE i > 0) AS b
FROM generate_series(1, 200) i;
SELECT count(*) FILTER (WHERE abs(l2_distance(a::sparsevec, b::sparsevec) - ref.l2) > 1e-5 * greatest(1, ref.l2)) AS l2_bad,
       count(*) FILTER (WHERE abs(inner_product(a::sparsevec, b::sparsevec) - ref.ip) > 1e-5 * greatest(1, abs(ref.ip))) AS ip_bad,
       count(*) FILTER (WHERE abs(l1_distance(a::sparsevec, b::sparsevec) - ref.l1) > 1e-5 * greatest(1, ref.l1)) AS l1_bad,
       count(*) FILTER (WHERE ref.na > 0 AND ref.nb > 0 AND abs(cosine_distance(a::sparsevec, b::sparsevec) - (1 - ref.ip / sqrt(ref.na * ref.nb))) > 1e-5) AS cos_bad,
       count(*) FILTER (WHERE abs(l2_norm(a::sparsevec) - sqrt(ref.na)) > 1e-6 * greatest(1, sqrt(ref.na))) AS norm_bad,
       count(*) FILTER (WHERE (a::sparsevec < b::sparsevec) <> (a::vector < b::vector)
                           OR (a::sparsevec = b::sparsevec) <> (a::vector = b::vector)) AS order_bad,
       count(*) FILTER (WHERE a::sparsevec::vector::real[] <> a) AS roundtrip_bad
FROM sp, LATERAL (
  SELECT sqrt(sum((x - y)::float8 ^ 2)) AS l2, sum(x::float8 * y) AS ip, sum(abs(x::float8 - y)) AS l1,
         sum(x::float8 ^ 2) AS na, sum(y::float8 ^ 2) AS nb
  FROM unnest(a, b) u(x, y)) ref;
SELECT '{1:1,2:2}/3'::sparsevec <-> '{2:2,3:2}/3', '{1:1,2:2}/3'::sparsevec <#> '{2:2,3:2}/3',
       '{1:1,2:2}/3'::sparsevec <=> '{2:2,3:2}/3', '{1:1,2:2}/3'::sparsevec <+> '{2:2,3:2}/3';
SELECT '{1:1}/3'::sparsevec <-> '{1:1}/2';
SELECT cosine_distance('{}/2'::sparsevec, '{1:1}/2');
SELECT l2_normalize('{1:3,2:4}/3'::sparsevec), l2_normalize('{}/3'::sparsevec), l2_normalize('{1:1e-40,2:1}/2'::sparsevec);
-- order: as the dense vectors, then shorter first; a btree index agrees with a sort
SELECT v FROM (VALUES ('{1:1}/2'::sparsevec), ('{}/2'), ('{2:-1}/2'), ('{1:1}/3'), ('{1:-1}/1')) t(v) ORDER BY v;
CREATE TABLE sbt AS SELECT i, (ARRAY[i % 5 - 2, i % 3, 0])::sparsevec v FROM generate_series(1, 60) i;
CREATE INDEX ON sbt (v);
SET enable_seqscan = off;
SELECT count(*) FROM sbt WHERE v < '{1:1}/3';
RESET enable_seqscan;
SELECT count(*) FROM sbt WHERE v < '{1:1}/3';
-- casts
SELECT '[1,0,2]'::vector::sparsevec, '[1,0,2]'::halfvec::sparsevec, '{1:1,3:2}/3'::sparsevec::vector,
       '{1:1,3:2}/3'::sparsevec::halfvec, ARRAY[0,1,0]::sparsevec, ARRAY[0,1.5,0]::real[]::sparsevec,
       ARRAY[0,1.5,0]::float8[]::sparsevec, ARRAY[0,1.5,0]::numeric[]::sparsevec;
SELECT '[1,0,2]'::vector::sparsevec(2);
SELECT '{1:1}/3'::sparsevec::vector(2);
SELECT '{1:1}/16001'::sparsevec::vector;
SELECT '{1:70000}/2'::sparsevec::halfvec;
SELECT ARRAY[1,NULL]::sparsevec;
SELECT ARRAY[[1,2],[3,4]]::sparsevec;
SELECT ARRAY[]::integer[]::sparsevec;
SELECT ARRAY['NaN']::real[]::sparsevec;
CREATE TABLE styped (v sparsevec(3));
INSERT INTO styped VALUES ('[1,2,3]'::vector), (ARRAY[0,0,1]);
INSERT INTO styped VALUES ('{1:1}/4');
SELECT v FROM styped;
DROP TABLE sp, sbt, styped;

-- bit distances against SQL bit arithmetic
SELECT setseed(0.4);
CREATE TABLE bt AS
SELECT i, (SELECT string_agg((random() < 0.5)::int::text, '') FROM generate_series(1, 1 + i % 300) WHERE i > 0)::varbit a
FROM generate_series(1, 300) i;
ALTER TABLE bt ADD b varbit;
UPDATE bt SET b = (SELECT string_agg((random() < 0.5)::int::text, '') FROM generate_series(1, length(a)) WHERE i > 0)::varbit;
SELECT count(*) FILTER (WHERE hamming_distance(ax, bx) <> length(replace((ax # bx)::text, '0', ''))) AS hamming_bad,
       count(*) FILTER (WHERE jaccard_distance(ax, bx) IS DISTINCT FROM
             CASE WHEN length(replace((ax & bx)::text, '0', '')) = 0 THEN 1
                  ELSE 1 - length(replace((ax & bx)::text, '0', ''))::float8 / length(replace((ax | bx)::text, '0', '')) END) AS jaccard_bad,
       count(*) AS pairs
FROM (SELECT a ax, b bx FROM bt) s;
SELECT B'1010' <~> B'0110' AS hamming, B'1110' <%> B'0110' AS jaccard, B'0000' <%> B'0000' AS jaccard_empty;
SELECT B'101' <~> B'1010';
SELECT hamming_distance(binary_quantize('[1,-1,2,-2]'::vector), binary_quantize('[1,1,-2,-2]'::vector));
DROP TABLE bt;
-- exact search over bit strings: flat's bit_hamming_ops (binary_quantize output), equal to a
-- sequential scan; inserts, deletes, odd lengths, strings spanning pages
SELECT setseed(0.6);
CREATE TABLE fbits (id int, v bit(77));
INSERT INTO fbits SELECT i, binary_quantize((SELECT array_agg(random() - 0.5) FROM generate_series(1, 77) WHERE i > 0)::vector)::bit(77)
FROM generate_series(1, 3000) i;
CREATE INDEX fbits_idx ON fbits USING flat (v bit_hamming_ops);
SELECT same('fbits', '<~>', (SELECT v::text FROM fbits WHERE id = 7), 25);
INSERT INTO fbits SELECT i, binary_quantize((SELECT array_agg(random() - 0.5) FROM generate_series(1, 77) WHERE i > 0)::vector)::bit(77)
FROM generate_series(3001, 3500) i;
DELETE FROM fbits WHERE id % 3 = 0;
VACUUM fbits;
SELECT same('fbits', '<~>', (SELECT v::text FROM fbits WHERE id = 8), 25, 'id % 10 = 1');
SET enable_seqscan = off;
SELECT v <~> B'1' FROM fbits ORDER BY v <~> B'1' LIMIT 1;
RESET enable_seqscan;
-- and approximate search through ivfflat's bit_hamming_ops (k-means on the bits as 0/1):
-- all lists probed, it equals a sequential scan
DROP INDEX fbits_idx;
CREATE INDEX fbits_ivf ON fbits USING ivfflat (v bit_hamming_ops) WITH (lists = 8);
SET ivfflat.probes = 8;
SELECT same('fbits', '<~>', (SELECT v::text FROM fbits WHERE id = 10), 25);
INSERT INTO fbits SELECT i, binary_quantize((SELECT array_agg(random() - 0.5) FROM generate_series(1, 77) WHERE i > 0)::vector)::bit(77)
FROM generate_series(4001, 4300) i;
SELECT same('fbits', '<~>', (SELECT v::text FROM fbits WHERE id = 4005), 25);
SET ivfflat.probes = 1;
SELECT count(*) AS probed_one_list FROM (SELECT id FROM fbits ORDER BY v <~> (SELECT v FROM fbits WHERE id = 10) LIMIT 25) s;
RESET ivfflat.probes;
CREATE TABLE fbig (id int, v bit(70000));
INSERT INTO fbig SELECT i, (SELECT string_agg(((i * j) % 7 < 3)::int::text, '') FROM generate_series(1, 70000) j)::bit(70000)
FROM generate_series(1, 30) i;
CREATE INDEX ON fbig USING flat (v bit_hamming_ops);
SELECT same('fbig', '<~>', (SELECT v::text FROM fbig WHERE id = 4), 10);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'bit_hamming_ops';
DROP TABLE fbits, fbig;
-- flat bit_jaccard_ops: scored as f32 lower bounds and rechecked by the executor, so the order is
-- exact even where Jaccard distances differ by less than f32 resolves (1 - 1/5000 vs 1 - 1/5001)
CREATE TABLE jbits (id int, v bit(6000));
INSERT INTO jbits SELECT k, ('1' || repeat('1', 4999 + (21 - k)) || repeat('0', 1000 - (21 - k)))::bit(6000)
FROM generate_series(1, 21) k;
CREATE INDEX ON jbits USING flat (v bit_jaccard_ops);
SET enable_seqscan = off;
SELECT array_agg(id ORDER BY n) AS by_index FROM (
  SELECT id, row_number() OVER () n FROM (
    SELECT id FROM jbits ORDER BY v <%> ('1' || repeat('0', 5999))::bit(6000) LIMIT 21) s) t;
RESET enable_seqscan;
SELECT array_agg(id ORDER BY d, id) AS by_seqscan FROM (
  SELECT id, v <%> ('1' || repeat('0', 5999))::bit(6000) d FROM jbits) s;
SELECT count(DISTINCT (v <%> ('1' || repeat('0', 5999))::bit(6000))::real) AS distinct_as_real,
       count(DISTINCT v <%> ('1' || repeat('0', 5999))::bit(6000)) AS distinct_exact FROM jbits;
SELECT same('jbits', '<%>', (SELECT v::text FROM jbits WHERE id = 3), 10);
DROP TABLE jbits;
