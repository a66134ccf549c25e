//! End-to-end tests: real binaries, real Postgres, real HTTP.

mod analytics;
mod budget;
mod contract;
mod daily;
mod deploy;
mod fairness;
mod faults;
mod limits;
mod live;
mod metrics;
mod night_bulk;
mod onboarding;
mod providers;
mod queue_plans;
mod restarts;
mod risk_metrics;
mod signin;
mod symbols;
mod takeover;
mod traces;
