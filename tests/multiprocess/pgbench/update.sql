-- writer: give one random row a new vector (a new index entry; the old one dies)
UPDATE @TBL@ SET v = mp_rand_vec(@DIMS@) WHERE id = (SELECT 1 + floor(random() * max(id))::bigint FROM @TBL@);
