-- vector_ext 0.4.0 -> 0.5.0: flat indexes sparsevec; pgvector's per-type support functions
-- and its ivfflat handler name (the same objects sql/vector_ext.sql declares for a fresh
-- install).

-- pgvector's per-type support functions, by name and signature (tools and hand-written
-- opclasses may name them). Each returns a pointer to a static record of its element type;
-- vector_ext's opclasses use their support function 2 instead.
CREATE FUNCTION hnsw_halfvec_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'hnsw_halfvec_support_wrapper' LANGUAGE C;
CREATE FUNCTION hnsw_bit_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'hnsw_bit_support_wrapper' LANGUAGE C;
CREATE FUNCTION hnsw_sparsevec_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'hnsw_sparsevec_support_wrapper' LANGUAGE C;
CREATE FUNCTION ivfflat_halfvec_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ivfflat_halfvec_support_wrapper' LANGUAGE C;
CREATE FUNCTION ivfflat_bit_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ivfflat_bit_support_wrapper' LANGUAGE C;

-- pgvector's name for the ivfflat handler.
CREATE FUNCTION ivfflathandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ivfflat_handler_wrapper' LANGUAGE C;

-- sparsevec: rows of any length packed on pages, up to 1000 non-zero elements per row (as
-- for hnsw: a row fits one page).
CREATE OPERATOR CLASS sparsevec_l2_ops FOR TYPE sparsevec USING flat AS
    OPERATOR 1 <-> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_l2_squared_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_l2_ops(internal);
CREATE OPERATOR CLASS sparsevec_ip_ops FOR TYPE sparsevec USING flat AS
    OPERATOR 1 <#> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_ip_ops(internal);
CREATE OPERATOR CLASS sparsevec_cosine_ops FOR TYPE sparsevec USING flat AS
    OPERATOR 1 <=> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_cosine_ops(internal);
CREATE OPERATOR CLASS sparsevec_l1_ops FOR TYPE sparsevec USING flat AS
    OPERATOR 1 <+> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_l1_ops(internal);
