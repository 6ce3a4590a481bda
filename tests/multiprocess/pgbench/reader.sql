-- reader: index vs seq scan on one snapshot; an error aborts the client (and fails the test)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT mp_random_check('@TBL@', @K@);
COMMIT;
