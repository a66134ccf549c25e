//! SigmaSight's shared library: the contract between the api and the worker.
//!
//! Domain types, configuration, database access (`db`), the queue (`queue`), the status model
//! and its renderings (`status`), CSV import, market-data providers, the trading calendar and
//! the pure analytics. `analytics` never touches the database, HTTP or the runtime.

pub mod analytics;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod csv_import;
pub mod db;
pub mod domain;
pub mod market_data;
pub mod metrics;
pub mod onboarding;
pub mod phases;
pub mod queue;
pub mod shutdown;
pub mod status;
pub mod telemetry;
