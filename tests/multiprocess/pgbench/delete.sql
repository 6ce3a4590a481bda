-- writer: delete one random existing row (one row per transaction: no deadlocks between writers)
DELETE FROM @TBL@ WHERE id = (SELECT 1 + floor(random() * max(id))::bigint FROM @TBL@);
