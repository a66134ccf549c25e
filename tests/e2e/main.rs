//! End-to-end tests: real binaries, real Postgres, real HTTP.

mod analytics;
mod daily;
mod faults;
mod live;
mod onboarding;
mod providers;
mod restarts;
mod symbols;
mod takeover;
