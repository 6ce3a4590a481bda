-- run once before the other regression files
CREATE EXTENSION vector_ext;

-- helpers for the index tests: compare an index scan with a sequential scan
-- knn(): the k nearest by `op`, through the index or through a seq scan
CREATE FUNCTION knn(tab text, op text, q text, k int, use_index bool, filter text DEFAULT 'true')
RETURNS TABLE (id int, d float8) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('enable_seqscan', CASE WHEN use_index THEN 'off' ELSE 'on' END, true);
  PERFORM set_config('enable_indexscan', CASE WHEN use_index THEN 'on' ELSE 'off' END, true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  RETURN QUERY EXECUTE format(
    'SELECT id, (v %s %L)::float8 FROM %I WHERE %s ORDER BY v %s %L LIMIT %s', op, q, tab, filter, op, q, k);
END $$;
-- same(): same distances in the same order (float tolerance), same ids except ties at the cut;
-- also proves the index was used
CREATE FUNCTION same(tab text, op text, q text, k int, filter text DEFAULT 'true') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  a float8[]; b float8[]; ia int[]; ib int[]; kth float8;
BEGIN
  PERFORM set_config('enable_seqscan', 'off', true);
  IF NOT uses_index(format('SELECT id FROM %I WHERE %s ORDER BY v %s %L LIMIT %s', tab, filter, op, q, k)) THEN
    RETURN 'the index was not used';
  END IF;
  SELECT array_agg(d ORDER BY ord), array_agg(id ORDER BY ord) INTO a, ia FROM knn(tab, op, q, k, true, filter) WITH ORDINALITY t(id, d, ord);
  SELECT array_agg(d ORDER BY ord), array_agg(id ORDER BY ord) INTO b, ib FROM knn(tab, op, q, k, false, filter) WITH ORDINALITY t(id, d, ord);
  IF coalesce(array_length(a, 1), 0) <> coalesce(array_length(b, 1), 0) THEN
    RETURN format('row count %s vs %s', array_length(a, 1), array_length(b, 1));
  END IF;
  IF a IS NULL THEN RETURN 'same (no rows)'; END IF;
  FOR i IN 1 .. array_length(a, 1) LOOP
    IF NOT (a[i] IS NOT DISTINCT FROM b[i] OR abs(a[i] - b[i]) <= 1e-5 * greatest(1, abs(b[i]))) THEN
      RETURN format('distance %s differs: %s vs %s', i, a[i], b[i]);
    END IF;
  END LOOP;
  kth := b[array_length(b, 1)];
  FOR i IN 1 .. array_length(a, 1) LOOP
    IF NOT ia[i] = ANY (ib) AND NOT (a[i] IS NOT DISTINCT FROM kth OR abs(a[i] - kth) <= 1e-5 * greatest(1, abs(kth))) THEN
      RETURN format('id %s at %s not in the seq-scan result', ia[i], i);
    END IF;
  END LOOP;
  RETURN 'same';
END $$;
CREATE FUNCTION uses_index(sql text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE line text; found bool := false;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN ' || sql LOOP
    IF line LIKE '%Index Scan using%' THEN found := true; END IF;
  END LOOP;
  RETURN found;
END $$;

-- recall@k of the index result against the seq-scan result (ties at the cut count as hits)
CREATE FUNCTION recall(tab text, op text, q text, k int, filter text DEFAULT 'true') RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE kth float8; hits int;
BEGIN
  SELECT max(d) INTO kth FROM knn(tab, op, q, k, false, filter);
  SELECT count(*) INTO hits FROM knn(tab, op, q, k, true, filter) i
  WHERE i.id IN (SELECT id FROM knn(tab, op, q, k, false, filter)) OR i.d <= kth + 1e-6;
  RETURN hits::float8 / k;
END $$;
