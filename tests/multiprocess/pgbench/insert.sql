-- writer: a few new rows (aminsert; may reuse slots freed by VACUUM)
INSERT INTO @TBL@ (v) SELECT mp_rand_vec(@DIMS@) FROM generate_series(1, 4);
