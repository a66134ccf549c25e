//! End-to-end tests: real binaries, real Postgres, real HTTP.

mod live;
mod onboarding;
mod takeover;
