-- CREATE EXTENSION vector (pgvector's name, as Django's VectorExtension() and LangChain issue
-- it) installs vector_ext (scripts/install-vector-alias.sh; skipped where pgvector owns it).
CREATE DATABASE vector_ext_alias;
\c vector_ext_alias
CREATE EXTENSION IF NOT EXISTS vector;
SELECT extname, extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'vector_ext') AS same_version
FROM pg_extension WHERE extname = 'vector';
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3), s sparsevec(3));
INSERT INTO items (embedding, s) VALUES ('[1,2,3]', '{1:1}/3'), ('[4,5,6]', '{2:2}/3');
CREATE INDEX ON items USING ivfflat (embedding vector_l2_ops) WITH (lists = 1);
SET enable_seqscan = off;
SELECT id, embedding <-> '[3,1,2]' AS d FROM items ORDER BY embedding <-> '[3,1,2]' LIMIT 5;
SELECT s <-> '{3:1}/3' FROM items ORDER BY id;
-- the second name cannot be installed next to the first: the same types
CREATE EXTENSION vector_ext;
\c vector_ext_regress
DROP DATABASE vector_ext_alias;
