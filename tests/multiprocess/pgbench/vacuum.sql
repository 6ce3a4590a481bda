-- vacuum: always run the index bulk delete (INDEX_CLEANUP auto may skip it)
VACUUM (INDEX_CLEANUP ON) @TBL@;
\sleep 50 ms
