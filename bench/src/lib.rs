//! `vector_bench`: benchmark / demo tool for `vector_ext` (and pgvector).
//!
//! The library half holds everything that can be tested without a server:
//! dataset generation and loaders, exact ground truth and recall, the COPY
//! BINARY row encoding, memory-bandwidth measurement, reporting and plotting.
//! `main.rs` wires these to the command line and to PostgreSQL (`pg`).

pub mod bandwidth;
pub mod dataset;
pub mod loaders;
pub mod pg;
pub mod plot;
pub mod report;
pub mod truth;

/// Tool version recorded in every JSON report (no git needed).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
