-- reader for an approximate index (hnsw): its nearest rows on one snapshot are live rows at
-- their true distance, nearest first, and mostly the seq scan's (mp_hnsw_check)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mp_hnsw_assert('@TBL@');
COMMIT;
