//! `vector_core`: everything in vector_ext that does not need a Postgres server.
//!
//! The extension crate (`vector_ext`) is a thin shell over this crate: it turns Postgres inputs
//! into Rust values, calls in here, and turns the results back. Everything here is tested with a
//! plain `cargo test -p vector_core`.

pub mod am;
pub mod bits;
pub mod distance;
pub mod elem;
pub mod handoff;
pub mod hnsw;
pub mod kmeans;
pub mod order;
pub mod pages;
pub mod rabitq;
pub mod scan;
pub mod sparse;
pub mod store;
pub mod text;
pub mod tid;
