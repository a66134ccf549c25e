//! Pure analytics over slices and ndarray: no database, no HTTP, no runtime.

pub mod options;
pub mod snapshots;
