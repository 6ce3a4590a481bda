-- text input/output, typmod, shortest round-trip output (matches float4 output)
SELECT setseed(0.5) AS fixed_seed;  -- random() data is the same every run
SELECT '[1,2,3]'::vector;
SELECT '  [ 1.5 , -2e3 ,+.5, 7. ]  '::vector;
SELECT '[0.1, 123456, 1234567, 0.0001, 0.00001, 1.5e-7, 3.4028235e38, -0]'::vector;
SELECT '[1,2,3]'::vector(3);
SELECT vector_dims('[1,2,3,4]'::vector);
-- output of every element equals float4 output (independent reference: Postgres' float4out)
SELECT bool_and(v::text = '[' || f::text || ']')
FROM (SELECT x::real AS f, ('[' || x::real::text || ']')::vector AS v
      FROM generate_series(1, 2000) i, LATERAL (SELECT (random() - 0.5) * 10 ^ (random() * 60 - 30) AS x) r) s;
-- input errors, with pgvector's wording
SELECT '[1,2'::vector;
SELECT '1,2]'::vector;
SELECT '[1,2] x'::vector;
SELECT '[]'::vector;
SELECT '[1,,2]'::vector;
SELECT '[a]'::vector;
SELECT '[NaN]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[-inf]'::vector;
SELECT '[4e38]'::vector;
SELECT '[1,2]'::vector(3);
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(2, 3);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::vector;
SELECT vector_dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::vector);
-- typmod enforced on table columns
CREATE TABLE io_t (v vector(3));
INSERT INTO io_t VALUES ('[1,2,3]');
INSERT INTO io_t VALUES ('[1,2]');
SELECT v FROM io_t;
DROP TABLE io_t;
-- storage is external (TOAST-able), like pgvector
SELECT typstorage, typlen FROM pg_type WHERE typname = 'vector';
-- binary send/recv round-trip: 2-byte dim, 2-byte unused, big-endian float4s
SELECT vector_send('[1,-2.5]'::vector);
-- binary COPY round-trip goes through send and recv
CREATE TABLE bin_src (id int, v vector);
INSERT INTO bin_src SELECT i, ARRAY[i, -i / 3.0, 1e-7 * i]::real[]::vector FROM generate_series(1, 100) i;
COPY bin_src TO '/tmp/vector_ext_regress_vec.bin' (FORMAT binary);
CREATE TABLE bin_dst (id int, v vector(3));
COPY bin_dst FROM '/tmp/vector_ext_regress_vec.bin' (FORMAT binary);
SELECT count(*) AS same_rows FROM bin_src s JOIN bin_dst d USING (id) WHERE s.v::text = d.v::text;
-- recv on crafted payloads: a bytea column written in binary COPY carries raw bytes,
-- which COPY FROM hands to vector_recv unchanged
CREATE TABLE craft (b bytea);
CREATE TABLE recv_t (v vector);
CREATE FUNCTION try_recv(payload bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE craft; TRUNCATE recv_t;
  INSERT INTO craft VALUES (payload);
  COPY craft TO '/tmp/vector_ext_regress_craft.bin' (FORMAT binary);
  COPY recv_t FROM '/tmp/vector_ext_regress_craft.bin' (FORMAT binary);
  RETURN (SELECT v::text FROM recv_t);
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR: ' || SQLERRM;
END $$;
SELECT try_recv('\x000200003f800000c0200000');        -- [1,-2.5]
SELECT try_recv('\x000200003f800000');                -- too short
SELECT try_recv('\x000100003f80000000');              -- trailing byte
SELECT try_recv('\x000100013f800000');                -- unused must be 0
SELECT try_recv('\x00000000');                        -- zero dimensions
SELECT try_recv('\xffff0000');                        -- negative dimensions
SELECT try_recv('\x3e810000');                        -- 16001 dimensions
SELECT try_recv('\x000100007fc00000');                -- NaN
SELECT try_recv('\x000100007f800000');                -- infinity
SELECT try_recv('\x00');                              -- 1 byte
DROP TABLE bin_src, bin_dst, craft, recv_t;
DROP FUNCTION try_recv;
