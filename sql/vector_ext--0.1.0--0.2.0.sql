-- vector_ext 0.1.0 -> 0.2.0
-- Index opclasses gain support function 2, which names the element type and metric the
-- opclass indexes (0.1.0 derived them from the C symbol of support function 1).

CREATE FUNCTION _vector_ext_support_vector_l2_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_vector_l2_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_vector_ip_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_vector_ip_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_vector_cosine_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_vector_cosine_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_vector_l1_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_vector_l1_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_halfvec_l2_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_halfvec_l2_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_halfvec_ip_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_halfvec_ip_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_halfvec_cosine_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_halfvec_cosine_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION _vector_ext_support_halfvec_l1_ops(internal) RETURNS integer
    AS 'MODULE_PATHNAME', '_vector_ext_support_halfvec_l1_ops_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

ALTER OPERATOR FAMILY vector_l2_ops USING flat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_l2_ops(internal);
ALTER OPERATOR FAMILY vector_ip_ops USING flat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_ip_ops(internal);
ALTER OPERATOR FAMILY vector_cosine_ops USING flat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_cosine_ops(internal);
ALTER OPERATOR FAMILY vector_l1_ops USING flat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_l1_ops(internal);
ALTER OPERATOR FAMILY halfvec_l2_ops USING flat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_l2_ops(internal);
ALTER OPERATOR FAMILY halfvec_ip_ops USING flat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_ip_ops(internal);
ALTER OPERATOR FAMILY halfvec_cosine_ops USING flat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_cosine_ops(internal);
ALTER OPERATOR FAMILY halfvec_l1_ops USING flat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_l1_ops(internal);
ALTER OPERATOR FAMILY vector_l2_ops USING ivfflat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_l2_ops(internal);
ALTER OPERATOR FAMILY vector_ip_ops USING ivfflat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_ip_ops(internal);
ALTER OPERATOR FAMILY vector_cosine_ops USING ivfflat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_cosine_ops(internal);
ALTER OPERATOR FAMILY vector_l1_ops USING ivfflat ADD FUNCTION 2 (vector, vector) _vector_ext_support_vector_l1_ops(internal);
ALTER OPERATOR FAMILY halfvec_l2_ops USING ivfflat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_l2_ops(internal);
ALTER OPERATOR FAMILY halfvec_ip_ops USING ivfflat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_ip_ops(internal);
ALTER OPERATOR FAMILY halfvec_cosine_ops USING ivfflat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_cosine_ops(internal);
ALTER OPERATOR FAMILY halfvec_l1_ops USING ivfflat ADD FUNCTION 2 (halfvec, halfvec) _vector_ext_support_halfvec_l1_ops(internal);
