-- halfvec: same surface, fp16 storage
SELECT setseed(0.5) AS fixed_seed;  -- random() data is the same every run
SELECT '[1,2,3]'::halfvec, '[0.1, 65504, -1.5e-5]'::halfvec, '[1,2]'::halfvec(2);
SELECT '[70000]'::halfvec;
SELECT '[1,2]'::halfvec(3);
SELECT '[NaN]'::halfvec;
SELECT '[]'::halfvec;
SELECT typstorage FROM pg_type WHERE typname = 'halfvec';
SELECT '[1,2,3]'::halfvec <-> '[4,6,3]'::halfvec, '[1,2,3]'::halfvec <#> '[4,5,6]'::halfvec,
       '[1,0]'::halfvec <=> '[0,1]'::halfvec, '[1,2,3]'::halfvec <+> '[4,0,3]'::halfvec,
       inner_product('[1,2]'::halfvec, '[3,4]'::halfvec);
SELECT '[1,2]'::halfvec <-> '[1,2,3]'::halfvec;
-- random halfvecs: distances equal float8 arithmetic on the (exactly representable) half values
CREATE TABLE rh AS
SELECT i, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, d))::halfvec::real[] a,
          (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, d))::halfvec::real[] b
FROM generate_series(1, 200) i, LATERAL (SELECT 1 + (i * 13) % 900 + i * 0 AS d) dd;
SELECT bool_and(abs((a::halfvec <-> b::halfvec) - ref.l2) <= 1e-5 * greatest(1, ref.l2)) AS l2_ok,
       bool_and(abs(inner_product(a::halfvec, b::halfvec) - ref.ip) <= 1e-4 * greatest(1, abs(ref.ip))) AS ip_ok,
       bool_and(abs((a::halfvec <=> b::halfvec) - (1 - ref.ip / sqrt(ref.na * ref.nb))) <= 1e-5) AS cos_ok,
       bool_and(abs((a::halfvec <+> b::halfvec) - ref.l1) <= 1e-4 * greatest(1, ref.l1)) AS l1_ok,
       bool_and(abs(l2_norm(a::halfvec) - sqrt(ref.na)) <= 1e-6 * greatest(1, sqrt(ref.na))) AS norm_ok,
       bool_and(a::halfvec::vector::real[] = a) AS cast_exact
FROM rh, LATERAL (
  SELECT sqrt(sum((x::float8 - y::float8) ^ 2)) l2, sum(x::float8 * y::float8) ip,
         sum(x::float8 * x::float8) na, sum(y::float8 * y::float8) nb, sum(abs(x::float8 - y::float8)) l1
  FROM unnest(a, b) u(x, y)) ref;
-- halfvec output is the float4 output of the half value
SELECT '[0.1]'::halfvec, ARRAY[0.1]::real[]::halfvec::real[];
SELECT '[1,2]'::halfvec + '[3,4]', '[1,2]'::halfvec - '[3,4]', '[1,2]'::halfvec * '[3,4]', '[1]'::halfvec || '[2]';
SELECT '[60000]'::halfvec + '[60000]';
SELECT '[0.001]'::halfvec * '[0.0001]';
SELECT vector_dims('[1,2,3]'::halfvec), l2_norm('[3,4]'::halfvec), l2_normalize('[3,4]'::halfvec),
       binary_quantize('[1,-1,0,2]'::halfvec), subvector('[1,2,3,4]'::halfvec, 2, 2);
SELECT '[1,2]'::halfvec < '[1,3]', '[1,2]'::halfvec = '[1,2]', halfvec_cmp('[2]', '[1,5]');
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::halfvec), ('[3,5]')) t(v);
SELECT avg(v) FROM (SELECT '[1]'::halfvec v WHERE false) t;
-- casts
SELECT '[1.5,2]'::vector::halfvec, '[1.5,2]'::halfvec::vector, ARRAY[1,2]::halfvec, ARRAY[1.5]::real[]::halfvec,
       ARRAY[2.5]::float8[]::halfvec, ARRAY[3.5]::numeric[]::halfvec, '[1,2]'::halfvec::real[];
SELECT '[1e10]'::vector::halfvec;
SELECT ARRAY[1e10]::float8[]::halfvec;
SELECT '[1,2]'::vector::halfvec(3);
-- binary round-trip through COPY
CREATE TABLE hb (v halfvec);
INSERT INTO hb SELECT ARRAY[i, i / 7.0]::real[]::halfvec FROM generate_series(1, 50) i;
COPY hb TO '/tmp/vector_ext_regress_half.bin' (FORMAT binary);
CREATE TABLE hb2 (v halfvec(2));
COPY hb2 FROM '/tmp/vector_ext_regress_half.bin' (FORMAT binary);
SELECT (SELECT array_agg(v::text ORDER BY v) FROM hb) = (SELECT array_agg(v::text ORDER BY v) FROM hb2) AS copy_roundtrip;
DROP TABLE rh, hb, hb2;
