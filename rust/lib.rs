//! The allocator core of pyactors: resource arithmetic, DRF sorting and the
//! offer cycle. Pure Rust; the pyo3 bindings are in `bindings/`, compiled
//! only with the `python` feature.

pub mod allocator;
pub mod error;
pub mod filters;
pub mod prefetch;
pub mod quantities;
pub mod resources;
pub mod rng;
pub mod sorter;

#[cfg(feature = "python")]
mod bindings;
