-- Helpers for tests/multiprocess/run.sh, installed once into the template database `mp`.
-- Every check compares the flat index with an independent reference: the same ORDER BY … LIMIT
-- query over a sequential scan (enable_indexscan = off), on the same data and, when called in
-- one REPEATABLE READ transaction, on the same snapshot.
-- Tables under test have columns (id bigint, v vector(n)); mp_queries holds the query vectors.

-- A random vector of `dims` elements in [0, 1).
CREATE FUNCTION mp_rand_vec(dims int) RETURNS vector LANGUAGE sql VOLATILE AS
$$ SELECT array_agg(random())::real[]::vector FROM generate_series(1, dims) $$;

CREATE TABLE mp_queries (qid serial PRIMARY KEY, dims int NOT NULL, v vector NOT NULL);

-- Add n_random random query vectors of tbl's dimension, plus n_rows copies of vectors stored in
-- tbl (the nearest neighbour then is at distance 0, tied with any duplicate).
CREATE FUNCTION mp_add_queries(tbl regclass, n_random int, n_rows int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE ndims int := mp_dims(tbl);
BEGIN
  INSERT INTO mp_queries(dims, v) SELECT ndims, mp_rand_vec(ndims) FROM generate_series(1, n_random);
  EXECUTE format('INSERT INTO mp_queries(dims, v) SELECT %s, v FROM %s WHERE v IS NOT NULL
                  ORDER BY random() LIMIT %s', ndims, tbl, n_rows);
END $$;

-- Declared dimension of tbl.v.
CREATE FUNCTION mp_dims(tbl regclass) RETURNS int LANGUAGE plpgsql STABLE AS $$
DECLARE d int := (SELECT atttypmod FROM pg_attribute WHERE attrelid = tbl AND attname = 'v');
BEGIN
  IF d > 0 THEN RETURN d; END IF;  -- else a column without a declared dimension: a stored one
  EXECUTE format('SELECT vector_dims(v) FROM %s WHERE v IS NOT NULL LIMIT 1', tbl) INTO d;
  RETURN d;
END $$;

-- One result row of a nearest-neighbour query.
CREATE TYPE mp_hit AS (d float8, id bigint);

-- The k nearest rows of tbl to q by operator op, in the order returned, through the flat index
-- (use_index; EXPLAIN must show an Index Scan using a flat index) or through a seq scan
-- (EXPLAIN must show no index at all). Rows with a NULL vector are left out of both.
CREATE FUNCTION mp_knn(tbl regclass, q vector, k bigint, op text, use_index bool) RETURNS mp_hit[]
LANGUAGE plpgsql AS $$
DECLARE
  qry text := format('SELECT id, (v %s %L::vector)::float8 AS d FROM %s ORDER BY v %s %L::vector LIMIT %s',
                     op, q::text, tbl, op, q::text, k);
  line text;
  plan text := '';
  idx text;
  res mp_hit[];
BEGIN
  PERFORM set_config('enable_seqscan', CASE WHEN use_index THEN 'off' ELSE 'on' END, true);
  PERFORM set_config('enable_indexscan', CASE WHEN use_index THEN 'on' ELSE 'off' END, true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  PERFORM set_config('enable_indexonlyscan', 'off', true);
  -- ivfflat probing every list is exact, so it must match the seq scan too
  PERFORM set_config('ivfflat.probes', '32768', true);
  -- RaBitQ codes re-ranked exactly, with a bound that all but never fails
  PERFORM set_config('ivfflat.rabitq_epsilon', '4', true);
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || qry LOOP
    plan := plan || line || E'\n';
  END LOOP;
  IF use_index THEN
    idx := substring(plan FROM 'Index Scan using (\S+) on ');
    IF idx IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_am a ON a.oid = c.relam
                                  WHERE c.oid = idx::regclass AND a.amname IN ('flat', 'ivfflat', 'hnsw')) THEN
      RAISE EXCEPTION 'vector index not used for %: %', qry, plan;
    END IF;
  ELSIF plan ~ 'Index' THEN
    RAISE EXCEPTION 'reference query uses an index: %', plan;
  END IF;
  EXECUTE format('SELECT coalesce(array_agg(ROW(d, id)::mp_hit ORDER BY n), ''{}'')
                  FROM (SELECT s.*, row_number() OVER () AS n FROM (%s) s) x WHERE d IS NOT NULL', qry)
    INTO res;
  RETURN res;
END $$;

-- 'ok' when the index result a matches the seq-scan result b, else what differs:
--  * same row count; ids unique;
--  * a in non-decreasing distance order, b's distances equal a's position by position
--    (tolerance 1e-5 relative: the index orders by f32 distances, the operator returns f64);
--  * the same ids, except rows whose distance ties (within tolerance) the cut, the k-th
--    distance; with complete (LIMIT covers every row) the id sets must be equal.
CREATE FUNCTION mp_compare(a mp_hit[], b mp_hit[], complete bool) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  bad text;
  cut float8;
BEGIN
  IF cardinality(a) <> cardinality(b) THEN
    RETURN format('index returned %s rows, seq scan %s', cardinality(a), cardinality(b));
  END IF;
  IF cardinality(a) = 0 THEN
    RETURN 'ok';
  END IF;
  SELECT format('index order broken at row %s: distance %s after %s', i, a[i].d, a[i - 1].d) INTO bad
    FROM generate_subscripts(a, 1) i
    WHERE i > 1 AND a[i].d < a[i - 1].d - 1e-5 * greatest(1, abs(a[i - 1].d)) ORDER BY i LIMIT 1;
  IF bad IS NOT NULL THEN RETURN bad; END IF;
  SELECT format('id %s returned %s times by the index', id, count(*)) INTO bad
    FROM unnest(a) GROUP BY id HAVING count(*) > 1 LIMIT 1;
  IF bad IS NOT NULL THEN RETURN bad; END IF;
  SELECT format('id %s returned %s times by the seq scan', id, count(*)) INTO bad
    FROM unnest(b) GROUP BY id HAVING count(*) > 1 LIMIT 1;
  IF bad IS NOT NULL THEN RETURN bad; END IF;
  SELECT format('distance #%s: index %s, seq scan %s', x.n, x.d, y.d) INTO bad
    FROM (SELECT d, row_number() OVER (ORDER BY d) AS n FROM unnest(a)) x
    JOIN (SELECT d, row_number() OVER (ORDER BY d) AS n FROM unnest(b)) y ON x.n = y.n
    WHERE abs(x.d - y.d) > 1e-5 * greatest(1, abs(y.d)) ORDER BY x.n LIMIT 1;
  IF bad IS NOT NULL THEN RETURN bad; END IF;
  SELECT max(d) INTO cut FROM unnest(b);
  SELECT format('%s ids differ (not ties at the cut %s), e.g. %s', count(*), cut, min(s)) INTO bad
    FROM (SELECT format('index-only id %s at %s', x.id, x.d) AS s
            FROM unnest(a) x WHERE x.id NOT IN (SELECT id FROM unnest(b))
             AND (complete OR abs(x.d - cut) > 1e-5 * greatest(1, abs(cut)))
          UNION ALL
          SELECT format('seq-only id %s at %s', y.id, y.d)
            FROM unnest(b) y WHERE y.id NOT IN (SELECT id FROM unnest(a))
             AND (complete OR abs(y.d - cut) > 1e-5 * greatest(1, abs(cut)))) z
    HAVING count(*) > 0;
  RETURN coalesce(bad, 'ok');
END $$;

-- Compare index and seq scan for one query; k >= the number of non-NULL rows is a complete
-- check (every indexed row once, in order).
CREATE FUNCTION mp_check(tbl regclass, q vector, k bigint, op text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  a mp_hit[] := mp_knn(tbl, q, k, op, true);
  b mp_hit[] := mp_knn(tbl, q, k, op, false);
  n bigint;
  verdict text;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s WHERE v IS NOT NULL', tbl) INTO n;
  verdict := mp_compare(a, b, k >= n);
  IF verdict = 'ok' AND k >= n AND cardinality(a) <> n THEN
    verdict := format('index returned %s rows, table has %s non-NULL vectors', cardinality(a), n);
  END IF;
  IF verdict <> 'ok' THEN
    verdict := format('%s %s k=%s: %s', tbl, op, k, verdict);
  END IF;
  RETURN verdict;
END $$;

-- The ORDER BY operators of the flat and ivfflat indexes on tbl.
CREATE FUNCTION mp_index_ops(tbl regclass) RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT DISTINCT o.oprname::text
  FROM pg_index x
  JOIN pg_class c ON c.oid = x.indexrelid
  JOIN pg_am am ON am.oid = c.relam AND am.amname IN ('flat', 'ivfflat')
  JOIN pg_opclass oc ON oc.oid = x.indclass[0]
  JOIN pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amoppurpose = 'o'
  JOIN pg_operator o ON o.oid = ao.amopopr
  WHERE x.indrelid = tbl ORDER BY 1
$$;

-- Every flat index of tbl, every query vector of tbl's dimension: k nearest, and for the first
-- n_complete queries a complete scan (LIMIT 100000000). 'ok: N checks' or the failures.
CREATE FUNCTION mp_verify(tbl regclass, k bigint DEFAULT 50, n_complete int DEFAULT 2) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  ndims int := mp_dims(tbl);
  op text;
  qv record;
  i int;
  n int := 0;
  r text;
  fails text[] := '{}';
BEGIN
  FOR op IN SELECT mp_index_ops(tbl) LOOP
    i := 0;
    FOR qv IN SELECT qid, v FROM mp_queries WHERE dims = ndims ORDER BY qid LOOP
      r := mp_check(tbl, qv.v, k, op);
      n := n + 1;
      IF r <> 'ok' THEN fails := fails || format('query %s: %s', qv.qid, r); END IF;
      IF i < n_complete THEN
        r := mp_check(tbl, qv.v, 100000000, op);
        n := n + 1;
        IF r <> 'ok' THEN fails := fails || format('query %s: %s', qv.qid, r); END IF;
      END IF;
      i := i + 1;
    END LOOP;
  END LOOP;
  IF n = 0 THEN
    RETURN format('FAIL: nothing checked on %s (no flat index or no query vectors)', tbl);
  END IF;
  IF cardinality(fails) > 0 THEN
    RETURN format('FAIL: %s of %s checks on %s: %s', cardinality(fails), n, tbl,
                  array_to_string(fails[1:3], '; '));
  END IF;
  RETURN format('ok: %s checks', n);
END $$;

-- For concurrent readers: one random check (random flat index; a stored query, a fresh random
-- vector or a vector stored in tbl), raising an error on any difference. Run it inside
-- REPEATABLE READ so index and seq scan see one snapshot.
CREATE FUNCTION mp_random_check(tbl regclass, k bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  ndims int := mp_dims(tbl);
  op text;
  q vector;
  r text;
BEGIN
  SELECT o INTO op FROM mp_index_ops(tbl) o ORDER BY random() LIMIT 1;
  IF op IS NULL THEN RAISE EXCEPTION 'no flat index on %', tbl; END IF;
  CASE floor(random() * 3)::int
    WHEN 0 THEN q := mp_rand_vec(ndims);
    WHEN 1 THEN EXECUTE format('SELECT v FROM %s WHERE v IS NOT NULL
                                ORDER BY id DESC LIMIT 1 OFFSET floor(random() * 100)::int', tbl) INTO q;
    ELSE SELECT v INTO q FROM mp_queries WHERE dims = ndims ORDER BY random() LIMIT 1;
  END CASE;
  IF q IS NULL THEN q := mp_rand_vec(ndims); END IF;
  r := mp_check(tbl, q, k, op);
  IF r <> 'ok' THEN
    RAISE EXCEPTION 'index differs from seq scan: %', r;
  END IF;
  RETURN r;
END $$;

-- Content digest of tbl (id and vector text), to prove committed data survived.
CREATE FUNCTION mp_fingerprint(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
  EXECUTE format('SELECT count(*) || '':'' || md5(coalesce(string_agg(id || ''='' || coalesce(v::text, ''null''), '','' ORDER BY id), ''''))
                  FROM %s', tbl) INTO r;
  RETURN r;
END $$;

-- count(*) over one index scan with a huge LIMIT (EXPLAIN must show the flat index) equals the
-- number of non-NULL vectors, each id once. 'ok: …' or 'FAIL: …'.
CREATE FUNCTION mp_index_count(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  op text := (SELECT o FROM mp_index_ops(tbl) o LIMIT 1);
  q vector := (SELECT v FROM mp_queries WHERE dims = mp_dims(tbl) ORDER BY qid LIMIT 1);
  qry text;
  line text;
  plan text := '';
  n_index bigint;
  n_distinct bigint;
  n_table bigint;
BEGIN
  IF op IS NULL OR q IS NULL THEN
    RETURN format('FAIL: no flat index or no query vector for %s', tbl);
  END IF;
  qry := format('SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM %s ORDER BY v %s %L::vector LIMIT 100000000) s',
                tbl, op, q::text);
  PERFORM set_config('enable_seqscan', 'off', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  PERFORM set_config('ivfflat.probes', '32768', true);
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || qry LOOP
    plan := plan || line || E'\n';
  END LOOP;
  IF plan !~ 'Index Scan using' THEN
    RETURN format('FAIL: no index scan: %s', plan);
  END IF;
  EXECUTE qry INTO n_index, n_distinct;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'off', true);
  EXECUTE format('SELECT count(*) FROM %s WHERE v IS NOT NULL', tbl) INTO n_table;
  IF n_index = n_table AND n_distinct = n_table THEN
    RETURN format('ok: %s rows through the index (%s) = %s non-NULL rows', n_index,
                  substring(plan FROM 'Index Scan using \S+'), n_table);
  END IF;
  RETURN format('FAIL: index scan returned %s rows (%s distinct ids), table has %s non-NULL vectors',
                n_index, n_distinct, n_table);
END $$;

-- hnsw (approximate): for each query of tbl's dimension, the index's 20 nearest (hnsw.ef_search
-- 200) must be 20 live rows whose distances are the true ones, nearest first, and at least 90%
-- of the seq scan's 20 nearest (ties at the cut count).
CREATE FUNCTION mp_hnsw_check(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q record; idx mp_hit[]; ref mp_hit[]; hits int; total int := 0; found int := 0; kth float8;
BEGIN
  PERFORM set_config('hnsw.ef_search', '200', true);
  FOR q IN SELECT v FROM mp_queries WHERE dims = mp_dims(tbl) ORDER BY qid LOOP
    idx := mp_knn(tbl, q.v, 20, '<->', true);
    ref := mp_knn(tbl, q.v, 20, '<->', false);
    IF coalesce(array_length(idx, 1), 0) <> array_length(ref, 1) THEN
      RETURN format('FAIL: %s rows through the index, %s through the seq scan', coalesce(array_length(idx, 1), 0), array_length(ref, 1));
    END IF;
    FOR i IN 2 .. array_length(idx, 1) LOOP
      IF idx[i].d < idx[i - 1].d THEN RETURN format('FAIL: row %s nearer than row %s', i, i - 1); END IF;
    END LOOP;
    EXECUTE format('SELECT count(*) FROM unnest($1) h JOIN %s t ON t.id = h.id WHERE abs((t.v <-> $2) - h.d) <= 1e-6 * greatest(1, h.d)', tbl)
      INTO hits USING idx, q.v;
    IF hits <> array_length(idx, 1) THEN RETURN format('FAIL: %s of %s rows are not live rows at their distance', array_length(idx, 1) - hits, array_length(idx, 1)); END IF;
    kth := ref[array_length(ref, 1)].d;
    found := found + (SELECT count(*) FROM unnest(idx) h WHERE h.id IN (SELECT r.id FROM unnest(ref) r) OR h.d <= kth + 1e-6);
    total := total + array_length(ref, 1);
  END LOOP;
  IF total = 0 THEN RETURN 'FAIL: no queries'; END IF;
  IF found < 0.9 * total THEN RETURN format('FAIL: recall %s', round(found::numeric / total, 3)); END IF;
  RETURN format('ok: recall@20 %s over %s queries', round(found::numeric / total, 3), total / 20);
END $$;

-- mp_hnsw_check, raising an error unless ok (for pgbench clients).
CREATE FUNCTION mp_hnsw_assert(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text := mp_hnsw_check(tbl);
BEGIN
  IF r NOT LIKE 'ok%' THEN RAISE EXCEPTION 'hnsw check: %', r; END IF;
  RETURN r;
END $$;

-- A random unit-length sparsevec of `dim` dimensions with about `nnz` elements, its indices
-- drawn from the first 200 + nnz dimensions (so rows share elements).
CREATE FUNCTION mp_rand_sparse(dim int, nnz int) RETURNS sparsevec LANGUAGE sql VOLATILE AS $$
  SELECT l2_normalize(('{' || string_agg(k || ':' || (0.05 + random())::real, ',' ORDER BY k) || '}/' || dim)::sparsevec)
  FROM (SELECT DISTINCT 1 + floor(random() * least(dim, 200 + nnz))::int AS k FROM generate_series(1, nnz)) s
$$;

-- mp_hnsw_check for a sparsevec table: 8 of its own rows as queries (L2, top 20), index scan
-- against seq scan: same row count, nearest first, live rows at their distance, recall >= 0.9.
CREATE FUNCTION mp_hnsw_sparse_check(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text; idx mp_hit[]; ref mp_hit[]; hits int; total int := 0; found int := 0; kth float8;
BEGIN
  PERFORM set_config('hnsw.ef_search', '200', true);
  FOR q IN EXECUTE format('SELECT v::text FROM %s WHERE v IS NOT NULL ORDER BY id LIMIT 8 OFFSET 11', tbl) LOOP
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    EXECUTE format('SELECT array_agg(ROW(d, id)::mp_hit ORDER BY d) FROM (SELECT id, v <-> %L::sparsevec AS d FROM %s ORDER BY v <-> %L::sparsevec LIMIT 20) s', q, tbl, q) INTO idx;
    PERFORM set_config('enable_seqscan', 'on', true);
    PERFORM set_config('enable_indexscan', 'off', true);
    EXECUTE format('SELECT array_agg(ROW(d, id)::mp_hit ORDER BY d) FROM (SELECT id, v <-> %L::sparsevec AS d FROM %s ORDER BY v <-> %L::sparsevec LIMIT 20) s', q, tbl, q) INTO ref;
    PERFORM set_config('enable_indexscan', 'on', true);
    IF coalesce(array_length(idx, 1), 0) <> array_length(ref, 1) THEN
      RETURN format('FAIL: %s rows through the index, %s through the seq scan', coalesce(array_length(idx, 1), 0), array_length(ref, 1));
    END IF;
    EXECUTE format('SELECT count(*) FROM unnest($1) h JOIN %s t ON t.id = h.id WHERE abs((t.v <-> %L::sparsevec) - h.d) <= 1e-6 * greatest(1, h.d)', tbl, q)
      INTO hits USING idx;
    IF hits <> array_length(idx, 1) THEN RETURN format('FAIL: %s of %s rows are not live rows at their distance', array_length(idx, 1) - hits, array_length(idx, 1)); END IF;
    kth := ref[array_length(ref, 1)].d;
    found := found + (SELECT count(*) FROM unnest(idx) h WHERE h.id IN (SELECT r.id FROM unnest(ref) r) OR h.d <= kth + 1e-6);
    total := total + array_length(ref, 1);
  END LOOP;
  IF total = 0 THEN RETURN 'FAIL: no queries'; END IF;
  IF found < 0.9 * total THEN RETURN format('FAIL: recall %s', round(found::numeric / total, 3)); END IF;
  RETURN format('ok: recall@20 %s over %s queries', round(found::numeric / total, 3), total / 20);
END $$;

-- A flat index over a sparsevec table is exact: for 8 of its own rows as queries and two
-- random ones, the index scan (EXPLAIN must show it) returns the seq scan's rows (ties aside)
-- at the seq scan's distances, top 50 and every row. 'ok: …' or 'FAIL: …'.
CREATE FUNCTION mp_flat_sparse_check(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q text; k bigint; idx mp_hit[]; ref mp_hit[]; plan text := ''; line text; n int := 0;
BEGIN
  FOR q IN EXECUTE format('(SELECT v::text FROM %s WHERE v IS NOT NULL ORDER BY id LIMIT 8 OFFSET 5)
                           UNION ALL SELECT mp_rand_sparse(5000, 30)::text FROM generate_series(1, 2)', tbl) LOOP
    FOREACH k IN ARRAY ARRAY[50, 100000000] LOOP
      PERFORM set_config('enable_seqscan', 'off', true);
      PERFORM set_config('enable_indexscan', 'on', true);
      IF n = 0 THEN
        FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %s ORDER BY v <-> %L::sparsevec LIMIT %s', tbl, q, k) LOOP
          plan := plan || line;
        END LOOP;
        IF plan !~ 'Index Scan' THEN RETURN 'FAIL: the index was not used: ' || plan; END IF;
      END IF;
      EXECUTE format('SELECT array_agg(ROW(d, id)::mp_hit ORDER BY ord) FROM (SELECT id, v <-> %L::sparsevec AS d, row_number() OVER () AS ord
                      FROM (SELECT id, v FROM %s ORDER BY v <-> %L::sparsevec LIMIT %s) s0) s', q, tbl, q, k) INTO idx;
      PERFORM set_config('enable_seqscan', 'on', true);
      PERFORM set_config('enable_indexscan', 'off', true);
      EXECUTE format('SELECT array_agg(ROW(d, id)::mp_hit ORDER BY d, id) FROM (SELECT id, v <-> %L::sparsevec AS d FROM %s WHERE v IS NOT NULL ORDER BY v <-> %L::sparsevec LIMIT %s) s', q, tbl, q, k) INTO ref;
      PERFORM set_config('enable_indexscan', 'on', true);
      IF coalesce(array_length(idx, 1), 0) <> coalesce(array_length(ref, 1), 0) THEN
        RETURN format('FAIL: %s rows through the index, %s through the seq scan (k %s)', coalesce(array_length(idx, 1), 0), coalesce(array_length(ref, 1), 0), k);
      END IF;
      FOR i IN 1 .. coalesce(array_length(ref, 1), 0) LOOP
        IF abs(idx[i].d - ref[i].d) > 1e-6 * greatest(1, ref[i].d) THEN
          RETURN format('FAIL: distance %s is %s through the index, %s through the seq scan', i, idx[i].d, ref[i].d);
        END IF;
      END LOOP;
      IF (SELECT count(DISTINCT id) FROM unnest(idx)) <> array_length(idx, 1) THEN RETURN 'FAIL: a row came back twice'; END IF;
      IF (SELECT count(*) FROM unnest(idx) h WHERE h.id IN (SELECT r.id FROM unnest(ref) r) OR h.d >= ref[array_length(ref, 1)].d - 1e-6)
         <> array_length(idx, 1) THEN
        RETURN 'FAIL: a row not in the seq-scan result';
      END IF;
      n := n + 1;
    END LOOP;
  END LOOP;
  RETURN format('ok: %s scans equal the seq scan', n);
END $$;
