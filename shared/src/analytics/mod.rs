//! Pure analytics over slices and ndarray: no database, no HTTP, no runtime.

pub mod factors;
pub mod fundamentals;
pub mod metrics;
pub mod options;
pub mod regression;
pub mod returns;
pub mod snapshots;

#[cfg(test)]
mod fixture_tests;
