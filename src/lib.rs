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
    quiet_error_backtraces();
    am::ivf::init();
    am::hnsw::init();
}

/// pgrx attaches a Rust backtrace to the DETAIL of every ERROR that crosses its guards when
/// the server runs with `RUST_BACKTRACE` set, so ordinary SQL errors (`different vector
/// dimensions 3 and 2`) would differ from pgvector's. Library backtraces follow
/// `RUST_LIB_BACKTRACE` before `RUST_BACKTRACE`: unless the server's environment sets it, it is
/// set to 0 here (panic messages still name their source line). Start the server with
/// `RUST_LIB_BACKTRACE=1` to see backtraces again.
fn quiet_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // The library loads before any thread of ours exists (the worker pool starts lazily).
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
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
