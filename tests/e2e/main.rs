//! End-to-end tests: real binaries, real Postgres, real HTTP.

mod onboarding;
mod takeover;
