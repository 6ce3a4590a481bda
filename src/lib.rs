//! vector_ext: vector similarity search for PostgreSQL.
//!
//! This crate is the Postgres shell: the varlena types and their SQL functions (`types`).
//! Kernels, parsing and the other pure computations live in the `vector_core` crate.
//! All SQL objects are declared by hand in `sql/` (included below), not generated.

pub mod am;
pub mod storage;
pub mod types;

::pgrx::pg_module_magic!();

/// Registers GUCs and reloptions when the library is loaded.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    am::ivf::init();
}

pgrx::extension_sql_file!("../sql/vector_ext.sql", name = "vector_ext_main", bootstrap);

#[cfg(any(test, feature = "pg_test"))]
mod server_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
