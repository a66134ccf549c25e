//! Pure analytics over slices and ndarray: no database, no HTTP, no runtime.

pub mod correlations;
pub mod exposures;
pub mod factors;
pub mod fundamentals;
pub mod metrics;
pub mod options;
pub mod regression;
pub mod returns;
pub mod risk;
pub mod sectors;
pub mod snapshots;
pub mod stress;
pub mod tail_risk;
pub mod volatility;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod risk_fixture_tests;
