-- distances on hand-checkable values
SELECT setseed(0.5) AS fixed_seed;  -- random() data is the same every run
SELECT '[1,2,3]'::vector <-> '[4,6,3]'::vector AS l2;                 -- 5
SELECT '[1,2,3]'::vector <#> '[4,5,6]'::vector AS neg_ip;             -- -32
SELECT inner_product('[1,2,3]'::vector, '[4,5,6]'::vector);           -- 32
SELECT '[1,0]'::vector <=> '[0,1]'::vector AS cos_orthogonal;         -- 1
SELECT '[1,1]'::vector <=> '[2,2]'::vector AS cos_parallel;           -- 0
SELECT '[1,1]'::vector <=> '[-1,-1]'::vector AS cos_opposite;         -- 2
SELECT '[0,0]'::vector <=> '[1,1]'::vector AS cos_zero;               -- NaN
SELECT '[1,2,3]'::vector <+> '[4,0,3]'::vector AS l1;                 -- 5
SELECT l2_distance('[0,0]'::vector, '[3,4]'::vector), cosine_distance('[3,4]'::vector, '[4,3]'::vector)::numeric(10,6),
       l1_distance('[-1,-1]'::vector, '[1,1]'::vector);
SELECT '[1,2]'::vector <-> '[1,2,3]'::vector;
SELECT '[1,2]'::vector <#> '[1,2,3]'::vector;
SELECT '[1,2]'::vector <=> '[1,2,3]'::vector;
SELECT '[1,2]'::vector <+> '[1,2,3]'::vector;
-- random vectors against Postgres float8 arithmetic over the unnested elements
CREATE TABLE rv AS
SELECT i, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, d)) a,
          (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, d)) b
FROM generate_series(1, 300) i, LATERAL (SELECT 1 + (i * 7) % 700 + i * 0 AS d) dd;
SELECT bool_and(abs((a::vector <-> b::vector) - ref.l2) <= 1e-5 * greatest(1, ref.l2)) AS l2_ok,
       bool_and(abs(inner_product(a::vector, b::vector) - ref.ip) <= 1e-4 * greatest(1, abs(ref.ip))) AS ip_ok,
       bool_and(abs((a::vector <#> b::vector) + ref.ip) <= 1e-4 * greatest(1, abs(ref.ip))) AS nip_ok,
       bool_and(abs((a::vector <=> b::vector) - (1 - ref.ip / sqrt(ref.na * ref.nb))) <= 1e-5) AS cos_ok,
       bool_and(abs((a::vector <+> b::vector) - ref.l1) <= 1e-4 * greatest(1, ref.l1)) AS l1_ok,
       bool_and(abs(vector_norm(a::vector) - sqrt(ref.na)) <= 1e-6 * greatest(1, sqrt(ref.na))) AS norm_ok
FROM rv, LATERAL (
  SELECT sqrt(sum((x::float8 - y::float8) ^ 2)) l2, sum(x::float8 * y::float8) ip,
         sum(x::float8 * x::float8) na, sum(y::float8 * y::float8) nb, sum(abs(x::float8 - y::float8)) l1
  FROM unnest(a, b) u(x, y)) ref;
-- element-wise arithmetic against real arithmetic on the arrays
SELECT bool_and((a::vector + b::vector)::real[] = (SELECT array_agg(x + y) FROM unnest(a, b) u(x, y))) AS add_ok,
       bool_and((a::vector - b::vector)::real[] = (SELECT array_agg(x - y) FROM unnest(a, b) u(x, y))) AS sub_ok,
       bool_and((a::vector * b::vector)::real[] = (SELECT array_agg(x * y) FROM unnest(a, b) u(x, y))) AS mul_ok,
       bool_and((a::vector || b::vector)::real[] = a || b) AS concat_ok
FROM rv;
SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]', '[1,2,3]'::vector * '[4,5,6]', '[1,2]'::vector || '[3]';
SELECT '[1,2]'::vector + '[1,2,3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[-3e38]'::vector - '[3e38]';
SELECT '[1e30]'::vector * '[1e30]';
SELECT '[1e-30]'::vector * '[1e-30]';
SELECT array_to_vector(array_fill(1, ARRAY[8000]), -1, false) || array_to_vector(array_fill(1, ARRAY[8001]), -1, false);
-- other functions
SELECT vector_norm('[3,4]'), l2_normalize('[3,4]'::vector), l2_normalize('[0,0]'::vector);
SELECT bool_and(abs(vector_norm(l2_normalize(a::vector)) - 1) < 1e-6) AS normalize_unit FROM rv;
SELECT binary_quantize('[1,0,-1,2.5,0.1,-0.1,3,4,-5]'::vector);
SELECT subvector('[1,2,3,4,5]'::vector, 2, 3), subvector('[1,2,3,4,5]'::vector, -1, 3), subvector('[1,2,3,4,5]'::vector, 4, 10);
SELECT subvector('[1,2,3]'::vector, 4, 1);
SELECT subvector('[1,2,3]'::vector, 1, 0);
SELECT subvector('[1,2,3]'::vector, -5, 3);
SELECT subvector('[1,2,3]'::vector, 2147483647, 2147483647);
-- comparison and btree order (elements first, then length)
SELECT '[1,2]'::vector < '[1,3]', '[1,2]'::vector < '[1,2,0]', '[1,2]'::vector = '[1,2]', '[2]'::vector > '[1,9]',
       '[1,2]'::vector <> '[1,2]', '[1,2]'::vector <= '[1,2]', '[1,2]'::vector >= '[1,3]', vector_cmp('[1,2]', '[1,1]');
SELECT v FROM (VALUES ('[3,1]'::vector), ('[1,2,3]'), ('[1,2]'), ('[-1]'), ('[1,2]')) t(v) ORDER BY v;
CREATE TABLE bt (v vector(2));
INSERT INTO bt SELECT ARRAY[i % 10, i / 10]::real[] FROM generate_series(0, 99) i;
CREATE INDEX ON bt (v);
SET enable_seqscan = off;
SELECT count(*) FROM bt WHERE v < '[5,0]';
RESET enable_seqscan;
DROP TABLE bt;
-- aggregates (avg against per-element float8 avg; NULL on no rows)
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]'), ('[5,6,10]')) t(v);
SELECT avg(v), sum(v) FROM (SELECT '[1,2]'::vector v WHERE false) t;
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
-- integer data: every partial sum is exact in float4 and float8, so the result cannot depend
-- on how rows are split between parallel workers; the reference is exact (numeric)
CREATE TABLE agg AS SELECT i, ARRAY[i % 7, i % 100 - 50, -(i % 13) * 1000]::real[] a FROM generate_series(1, 5000) i;
SELECT (SELECT avg(a::vector) FROM agg)::real[] = (SELECT ARRAY[avg(a[1]::numeric)::real, avg(a[2]::numeric)::real, avg(a[3]::numeric)::real] FROM agg) AS avg_ok;
-- parallel aggregation uses the combine function
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
SELECT (SELECT avg(a::vector) FROM agg)::real[] = (SELECT ARRAY[avg(a[1]::numeric)::real, avg(a[2]::numeric)::real, avg(a[3]::numeric)::real] FROM agg) AS parallel_avg_ok;
SELECT (SELECT sum(a::vector) FROM agg)::real[] = (SELECT ARRAY[sum(a[1]::numeric), sum(a[2]::numeric), sum(a[3]::numeric)]::real[] FROM agg) AS parallel_sum_ok;
RESET ALL;
-- casts from and to arrays
SELECT ARRAY[1,2,3]::vector, ARRAY[1.5,2,3]::real[]::vector, ARRAY[1.5,2,3]::float8[]::vector, ARRAY[1.5,2,3]::numeric[]::vector;
SELECT '[1,2.5]'::vector::real[], '[1,2.5]'::vector::float8[];
SELECT ARRAY[1,2,3]::vector(3), ARRAY[1,2]::vector(3);
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT ARRAY[]::integer[]::vector;
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY['Infinity']::float8[]::vector;
SELECT ARRAY[1e300]::float8[]::vector;
SELECT ARRAY[1e39]::numeric[]::vector;
SELECT '{1,2,3}'::real[]::vector(3) <-> '[1,2,4]';
-- functions are immutable, strict and parallel safe (but the handlers and pgvector's
-- per-type support functions, marked as pgvector marks them)
SELECT count(*) AS not_immutable_strict_safe FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'vector_ext'
WHERE p.prokind = 'f' AND p.prorettype NOT IN ('index_am_handler'::regtype, 'internal'::regtype)
  AND NOT (p.provolatile = 'i' AND p.proisstrict AND p.proparallel = 's');
SELECT count(*) AS aggregates_not_parallel_safe FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'vector_ext'
WHERE p.prokind = 'a' AND p.proparallel <> 's';
-- NULLs propagate (strict)
SELECT NULL::vector <-> '[1]', l2_normalize(NULL::vector), vector_dims(NULL::vector);
DROP TABLE rv, agg;
