-- writer: a row with a NULL vector (not indexed)
INSERT INTO @TBL@ (v) VALUES (NULL);
