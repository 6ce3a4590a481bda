-- ALTER EXTENSION vector_ext UPDATE from 0.1.0 (tests/upgrade/vector_ext--0.1.0.sql is that
-- release's install script; scripts/test.sh installs it). Runs in a database of its own.
CREATE DATABASE vector_ext_upgrade;
\c vector_ext_upgrade
CREATE EXTENSION vector_ext VERSION '0.1.0';
CREATE TABLE up (id int, v vector(3), h halfvec(3));
INSERT INTO up SELECT i, ARRAY[i % 7, i % 5, 1]::real[]::vector, ARRAY[i % 3, i % 11, 2]::real[]::halfvec
FROM generate_series(1, 500) i;
-- an index built while the catalog is 0.1.0's (opclasses without support function 2: the new
-- library is installed, ALTER EXTENSION not yet run) keeps working across the update, also in
-- this session, which cached the old opclass members
CREATE INDEX up_flat ON up USING flat (v vector_l2_ops);
ALTER EXTENSION vector_ext UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'vector_ext';
CREATE INDEX up_ivf ON up USING ivfflat (h halfvec_cosine_ops) WITH (lists = 3);
INSERT INTO up SELECT i, ARRAY[i % 7, i % 5, 1]::real[]::vector, ARRAY[i % 3, i % 11, 2]::real[]::halfvec
FROM generate_series(501, 600) i;
SET enable_seqscan = off;
SET ivfflat.probes = 3;
CREATE TEMP TABLE by_index AS
SELECT (SELECT array_agg(d) FROM (SELECT v <-> '[1,2,1]' d FROM up ORDER BY v <-> '[1,2,1]' LIMIT 50) s) AS flat,
       (SELECT array_agg(d) FROM (SELECT h <=> '[1,1,1]' d FROM up ORDER BY h <=> '[1,1,1]' LIMIT 50) s) AS ivf;
RESET ALL;
SET enable_indexscan = off;
SELECT flat = (SELECT array_agg(d) FROM (SELECT v <-> '[1,2,1]' d FROM up ORDER BY 1 LIMIT 50) s) AS flat_ok,
       ivf = (SELECT array_agg(d) FROM (SELECT h <=> '[1,1,1]' d FROM up ORDER BY 1 LIMIT 50) s) AS ivf_ok
FROM by_index;
RESET ALL;
-- every opclass validates, and the catalog of the updated extension equals a fresh install's
SELECT count(*) AS opclasses, bool_and(amvalidate(c.oid)) AS all_valid
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname IN ('flat', 'ivfflat');
CREATE TEMP VIEW surface AS
SELECT md5(string_agg(x, ';' ORDER BY x)) AS digest, count(*) AS objects FROM (
  SELECT pg_describe_object(classid, objid, objsubid) || ' ' ||
         coalesce((SELECT format('%s %s %s %s', pg_get_function_identity_arguments(p.oid), p.provolatile, p.proisstrict, p.proparallel)
                   FROM pg_proc p WHERE classid = 'pg_proc'::regclass AND p.oid = objid), '') AS x
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector_ext')) s;
CREATE TEMP TABLE updated AS SELECT * FROM surface;
DROP TABLE up;
DROP EXTENSION vector_ext;
CREATE EXTENSION vector_ext;
SELECT u.objects, u.digest = f.digest AS same_as_fresh_install FROM updated u, surface f;
\c vector_ext_regress
DROP DATABASE vector_ext_upgrade;
