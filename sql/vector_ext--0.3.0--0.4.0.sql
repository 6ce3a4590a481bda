-- vector_ext 0.3.0 -> 0.4.0: hnsw indexes sparsevec (the same objects sql/vector_ext.sql
-- declares for a fresh install).

CREATE FUNCTION _vector_ext_support_sparsevec_l2_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_sparsevec_l2_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_sparsevec_ip_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_sparsevec_ip_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_sparsevec_cosine_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_sparsevec_cosine_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_sparsevec_l1_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_sparsevec_l1_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- sparsevec: up to 1000 non-zero elements per row (pgvector's limit for hnsw).
CREATE OPERATOR CLASS sparsevec_l2_ops FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <-> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_l2_squared_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_l2_ops(internal);
CREATE OPERATOR CLASS sparsevec_ip_ops FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <#> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_ip_ops(internal);
CREATE OPERATOR CLASS sparsevec_cosine_ops FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <=> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_cosine_ops(internal);
CREATE OPERATOR CLASS sparsevec_l1_ops FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <+> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(sparsevec, sparsevec),
    FUNCTION 2 _vector_ext_support_sparsevec_l1_ops(internal);
