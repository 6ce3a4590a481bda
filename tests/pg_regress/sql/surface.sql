-- vector_ext's SQL surface against pgvector 0.8.6's: every function (with volatility,
-- strictness, parallel safety), aggregate, operator, cast, operator class, type and access
-- method pgvector's install script defines (data/pgvector-0.8.6-surface.txt, extracted from
-- its sql/vector.sql by data/extract-surface.py). Listed below: what is missing or differs.
\getenv abs_srcdir PG_ABS_SRCDIR
\set surface_file :abs_srcdir '/data/pgvector-0.8.6-surface.txt'
CREATE TEMP TABLE pgvector_surface (line text);
COPY pgvector_surface FROM :'surface_file';
CREATE TEMP VIEW ours AS
WITH members AS (
  SELECT classid, objid FROM pg_depend
  WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector_ext'))
SELECT format('%s %s(%s)%s', CASE p.prokind WHEN 'a' THEN 'aggregate' ELSE 'function' END, p.proname,
              pg_get_function_identity_arguments(p.oid),
              CASE WHEN p.prokind = 'a' THEN ''
                   ELSE format(' -> %s %s %s %s', format_type(p.prorettype, NULL), p.provolatile,
                               CASE WHEN p.proisstrict THEN 'strict' ELSE 'nonstrict' END, p.proparallel) END) AS line
FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT format('operator %s %s %s', format_type(o.oprleft, NULL), o.oprname, format_type(o.oprright, NULL))
FROM members m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid
UNION ALL
SELECT format('cast %s -> %s %s', format_type(c.castsource, NULL), format_type(c.casttarget, NULL),
              CASE c.castcontext WHEN 'i' THEN 'implicit' WHEN 'a' THEN 'assignment' ELSE 'explicit' END)
FROM members m JOIN pg_cast c ON m.classid = 'pg_cast'::regclass AND c.oid = m.objid
UNION ALL
SELECT format('opclass %s %s %s', oc.opcname, am.amname, format_type(oc.opcintype, NULL))
FROM members m JOIN pg_opclass oc ON m.classid = 'pg_opclass'::regclass AND oc.oid = m.objid
JOIN pg_am am ON am.oid = oc.opcmethod
UNION ALL
SELECT format('type %s', t.typname)
FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid WHERE t.typelem = 0
UNION ALL
SELECT format('access method %s', a.amname)
FROM members m JOIN pg_am a ON m.classid = 'pg_am'::regclass AND a.oid = m.objid;
-- same: exactly as pgvector; different: same kind and signature, other markings or return
-- type; missing: not there at all
CREATE TEMP VIEW compared AS
SELECT p.line,
       CASE WHEN p.line IN (SELECT line FROM ours) THEN 'same'
            WHEN split_part(p.line, ' -> ', 1) IN (SELECT split_part(line, ' -> ', 1) FROM ours)
                 AND p.line !~ '^cast' THEN 'different'
            WHEN p.line ~ '^cast' AND split_part(p.line, ' ', 1) || split_part(p.line, ' ', 2) || split_part(p.line, ' ', 4)
                 IN (SELECT split_part(line, ' ', 1) || split_part(line, ' ', 2) || split_part(line, ' ', 4) FROM ours) THEN 'different'
            ELSE 'missing' END AS status
FROM pgvector_surface p;
SELECT status, count(*) FROM compared GROUP BY status ORDER BY status;
SELECT status, line FROM compared WHERE status <> 'same' ORDER BY status, line;
-- and what vector_ext adds beyond pgvector
SELECT line AS only_in_vector_ext FROM ours WHERE line NOT IN (SELECT line FROM pgvector_surface)
  AND split_part(line, ' -> ', 1) NOT IN (SELECT split_part(line, ' -> ', 1) FROM pgvector_surface)
ORDER BY line;
