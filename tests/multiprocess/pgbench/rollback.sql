-- writer: inserts that abort (index entries pointing at dead heap tuples)
BEGIN;
INSERT INTO @TBL@ (v) SELECT mp_rand_vec(@DIMS@) FROM generate_series(1, 8);
ROLLBACK;
