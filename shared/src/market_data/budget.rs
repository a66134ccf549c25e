//! A provider's request budget — its rate per minute and its quota per day — and where it is
//! held. The chain takes one request of it before every request it sends ([`Budget::take`])
//! and pauses the provider after a 429 ([`Budget::pause`]). In production the budget is the
//! deployment's, held in Postgres (the worker's `PgBudget`) so every worker process shares
//! it; [`LocalBudget`] holds the same rules in one process (tests, the operator's check).
//!
//! The rate is kept by spacing, not by a bucket: requests go at least
//! [`Limits::spacing`] apart, so no rolling 60 s window holds more than the rate (a bucket
//! holding a minute's worth would let a whole minute through at once and then refill: twice
//! the rate in the first minute).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Headroom kept below the provider's rate: requests go 2 % further apart than the rate
/// allows, so a burst of network jitter (up to 1.2 s over a minute) cannot put one request
/// too many in a provider's 60 s window.
pub const RATE_MARGIN: f64 = 0.02;

/// What a provider's plan allows the whole deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests in any rolling 60 s (0: no limit).
    pub per_minute: u32,
    /// Requests per UTC day (0: no quota).
    pub per_day: u32,
}

impl Limits {
    /// The time between two requests that keeps every rolling 60 s window within
    /// `per_minute`, with [`RATE_MARGIN`]; zero without a rate.
    pub fn spacing(&self) -> Duration {
        if self.per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(60.0 * (1.0 + RATE_MARGIN) / f64::from(self.per_minute))
        }
    }

    /// Requests a free minute holds at this spacing: what "budget left this minute" starts
    /// from (`per_minute` for every rate up to 50 a minute, a little less above).
    pub fn per_minute_spaced(&self) -> u32 {
        let spacing = self.spacing().as_secs_f64();
        if spacing == 0.0 {
            return 0;
        }
        // floor(60 / spacing) + 1 slots fit in a closed 60 s window; never above the rate.
        ((60.0 / spacing).floor() as u32 + 1).min(self.per_minute)
    }

    /// Requests left this minute when the next free slot is `ahead` from now.
    pub fn left_this_minute(&self, ahead: Duration) -> u32 {
        let spacing = self.spacing().as_secs_f64();
        if spacing == 0.0 {
            return 0;
        }
        let free = 60.0 - ahead.as_secs_f64();
        if free < 0.0 {
            0
        } else {
            ((free / spacing).floor() as u32 + 1).min(self.per_minute_spaced())
        }
    }
}

/// The start of the UTC day after `day`: when that day's quota resets.
pub fn quota_resets_at(day: NaiveDate) -> DateTime<Utc> {
    day.succ_opt()
        .unwrap_or(day)
        .and_time(NaiveTime::MIN)
        .and_utc()
}

/// What [`Budget::take`] granted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grant {
    /// Send after waiting this long (zero: at once).
    After(Duration),
    /// The day's quota is spent until then.
    Spent { resets_at: DateTime<Utc> },
}

/// Where a provider's budget is held.
#[async_trait::async_trait]
pub trait Budget: Send + Sync {
    /// Takes one request of `provider`'s budget under `limits`. An error (the store is down)
    /// is the caller's to retry.
    async fn take(&self, provider: &'static str, limits: Limits) -> Result<Grant, String>;

    /// Sends no request to `provider` for `wait` from now, whoever asks.
    async fn pause(&self, provider: &'static str, wait: Duration) -> Result<(), String>;
}

/// The budget of one process, in memory: the same spacing, pause and daily quota.
#[derive(Debug, Default)]
pub struct LocalBudget {
    state: Mutex<HashMap<&'static str, LocalState>>,
}

#[derive(Debug, Clone, Copy)]
struct LocalState {
    next_at: Instant,
    paused_until: Instant,
    day: NaiveDate,
    used: u32,
}

impl LocalBudget {
    fn with<T>(&self, provider: &'static str, f: impl FnOnce(&mut LocalState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = state.entry(provider).or_insert(LocalState {
            next_at: now,
            paused_until: now,
            day: Utc::now().date_naive(),
            used: 0,
        });
        f(entry)
    }
}

#[async_trait::async_trait]
impl Budget for LocalBudget {
    async fn take(&self, provider: &'static str, limits: Limits) -> Result<Grant, String> {
        Ok(self.with(provider, |s| {
            let today = Utc::now().date_naive();
            if s.day != today {
                s.day = today;
                s.used = 0;
            }
            if limits.per_day > 0 && s.used >= limits.per_day {
                return Grant::Spent {
                    resets_at: quota_resets_at(s.day),
                };
            }
            s.used += 1;
            let now = Instant::now();
            let slot = s.next_at.max(s.paused_until).max(now);
            s.next_at = slot + limits.spacing();
            Grant::After(slot - now)
        }))
    }

    async fn pause(&self, provider: &'static str, wait: Duration) -> Result<(), String> {
        self.with(provider, |s| {
            s.paused_until = s.paused_until.max(Instant::now() + wait);
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spacing_keeps_every_rolling_minute_within_the_rate() {
        for per_minute in [1, 2, 5, 10, 60, 120, 300, 1000] {
            let limits = Limits {
                per_minute,
                per_day: 0,
            };
            let spacing = limits.spacing().as_secs_f64();
            // Requests at 0, s, 2s, …: a closed 60 s window holds floor(60 / s) + 1.
            let most = (60.0 / spacing).floor() as u32 + 1;
            assert!(most <= per_minute, "{per_minute}/min: {most} in a minute");
            assert!(
                f64::from(most) >= 0.9 * f64::from(per_minute),
                "{per_minute}/min: only {most} in a minute"
            );
            assert_eq!(limits.per_minute_spaced(), most);
        }
        assert_eq!(Limits::default().spacing(), Duration::ZERO);
    }

    #[test]
    fn the_minute_left_shrinks_with_the_slots_taken_ahead() {
        let limits = Limits {
            per_minute: 5,
            per_day: 0,
        };
        assert_eq!(limits.left_this_minute(Duration::ZERO), 5);
        assert_eq!(limits.left_this_minute(limits.spacing()), 4);
        assert_eq!(limits.left_this_minute(Duration::from_secs(61)), 0);
    }

    #[tokio::test]
    async fn a_local_budget_spaces_requests_pauses_and_counts_the_day() {
        let budget = LocalBudget::default();
        let limits = Limits {
            per_minute: 600,
            per_day: 3,
        };
        let first = budget.take("p", limits).await;
        assert_eq!(first, Ok(Grant::After(Duration::ZERO)));
        match budget.take("p", limits).await {
            Ok(Grant::After(wait)) => {
                assert!(wait > Duration::from_millis(90) && wait <= limits.spacing())
            }
            other => panic!("{other:?}"),
        }
        budget
            .pause("p", Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        match budget.take("p", limits).await {
            Ok(Grant::After(wait)) => assert!(wait > Duration::from_secs(29), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            budget.take("p", limits).await,
            Ok(Grant::Spent {
                resets_at: quota_resets_at(Utc::now().date_naive())
            })
        );
        assert!(
            matches!(budget.take("q", limits).await, Ok(Grant::After(w)) if w.is_zero()),
            "another provider's budget is its own"
        );
    }
}
