//! The per-symbol fallback chain over the configured providers.
//!
//! Every request goes through a provider's rate limit (requests per minute) and is retried
//! on a transient failure with exponential backoff and jitter, honouring `Retry-After`, up to
//! the retry limit; then the next provider is asked. Three failures are told apart (see
//! [`ProviderError`]): a provider that does not have the symbol sends the lookup on to the
//! next one, and when every provider asked said so the symbol is unavailable; a transient
//! failure or unusable data leaves the question open (the attempt is retried later, the symbol
//! is never marked unavailable). Two breakers skip a provider for the rest of the run, each
//! announced once: a provider that refuses us (401/403: a wrong key) gets no request of any
//! kind after its first refusal; a provider failing for one kind of data (its plan lacks the
//! endpoint, or `breaker_failures` transient failures in a row) is skipped for that kind.
//! When every provider of a kind is skipped for a definite reason (refused or failing, not
//! transient), the data is [`ChainError::Refused`]: not to be had in this run, and asking
//! again in the same run will not change that.
//!
//! The chain is built once per process; a [`ChainSession`] holds one run's breakers and
//! request counts.

mod breakers;

use super::budget::{Budget, Grant, Limits, LocalBudget};
use super::{CompanyProfile, DailyBar, DataKind, Fundamentals, MarketDataProvider, ProviderError};
use backon::{ExponentialBuilder, Retryable};
use breakers::SessionState;
use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How requests are retried and when a provider's breaker opens.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first request (0 = ask once).
    pub retries: usize,
    /// First backoff delay (doubles per retry, with jitter).
    pub base: Duration,
    /// Longest backoff delay; a `Retry-After` longer than this is not waited for: the next
    /// provider is asked instead.
    pub cap: Duration,
    /// Transient failures in a row, with no success between, that open a provider's breaker.
    pub breaker_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            breaker_failures: 10,
        }
    }
}

/// One provider of the chain and what its plan allows.
pub struct Member {
    provider: Arc<dyn MarketDataProvider>,
    limits: Limits,
}

impl Member {
    /// A provider limited to `per_minute` requests a minute for the deployment (`None` or 0:
    /// unlimited), with no daily quota.
    pub fn new(provider: Arc<dyn MarketDataProvider>, per_minute: Option<u32>) -> Self {
        Self {
            provider,
            limits: Limits {
                per_minute: per_minute.unwrap_or(0),
                per_day: 0,
            },
        }
    }

    /// The same member with a daily quota of `per_day` requests (0: none).
    pub fn per_day(mut self, per_day: u32) -> Self {
        self.limits.per_day = per_day;
        self
    }

    /// What the provider's plan allows.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.provider.name()
    }

    /// The provider itself (for the operator's check).
    pub fn provider(&self) -> &Arc<dyn MarketDataProvider> {
        &self.provider
    }
}

/// The providers in the order they are asked, and where their budgets are held.
pub struct ProviderChain {
    members: Vec<Member>,
    policy: RetryPolicy,
    budget: Arc<dyn Budget>,
}

impl ProviderChain {
    /// A chain asking `members` in order, their budgets held in this process.
    pub fn new(members: Vec<Member>, policy: RetryPolicy) -> Self {
        Self {
            members,
            policy,
            budget: Arc::new(LocalBudget::default()),
        }
    }

    /// The same chain with its remote providers' budgets held in `budget` (the
    /// deployment's, in Postgres).
    pub fn with_budget(mut self, budget: Arc<dyn Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// A chain of one unlimited provider.
    pub fn single(provider: Arc<dyn MarketDataProvider>, policy: RetryPolicy) -> Self {
        Self::new(vec![Member::new(provider, None)], policy)
    }

    /// The members, in order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The providers' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(Member::name).collect()
    }

    /// The names joined for messages: `fmp, polygon, yahoo`.
    pub fn describe(&self) -> String {
        self.names().join(", ")
    }

    /// Whether some member serves `kind`.
    pub fn serves(&self, kind: DataKind) -> bool {
        self.members.iter().any(|m| m.provider.serves(kind))
    }

    /// A fresh session for one run: all breakers closed, no requests counted.
    pub fn session(self: &Arc<Self>) -> ChainSession {
        ChainSession {
            chain: Arc::clone(self),
            state: Mutex::new(SessionState::default()),
        }
    }
}

/// What the chain answered, and who.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    /// The provider that served it.
    pub provider: &'static str,
    pub value: T,
}

/// Why the chain could not serve a symbol.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// Every provider that could serve it has spent its daily quota: the data waits for the
    /// earliest reset (deferred: neither failed nor unavailable).
    #[error("deferred until {resets_at}: {reason}")]
    Deferred {
        /// Why each provider was skipped.
        reason: String,
        /// When the earliest quota resets.
        resets_at: DateTime<Utc>,
    },
    /// Every provider asked answered that it does not have the symbol.
    #[error("{reason}")]
    Unavailable {
        /// The providers' answers, `fmp: …; polygon: …`.
        reason: String,
        /// The providers asked.
        asked: Vec<&'static str>,
    },
    /// No verdict: a provider failed transiently or sent unusable data. Worth another
    /// attempt later; the symbol is not unavailable.
    #[error("{0}")]
    Undecided(String),
    /// No provider could be asked: every one serving this kind refused us or is failing for
    /// it (a wrong key, a plan without the endpoint). Not to be had in this run; the symbol is
    /// not unavailable, and the next run asks again.
    #[error("no provider could be asked: {reason}")]
    Refused {
        /// Why each was skipped, `fmp: invalid API key; …`.
        reason: String,
        /// The providers skipped.
        skipped: Vec<&'static str>,
    },
    /// No provider of the chain serves this kind of data.
    #[error("no provider in the chain ({providers}) serves {kind}")]
    Unsupported {
        providers: String,
        kind: &'static str,
    },
}

/// One run's use of the chain: its breakers, its notices and its request counts.
pub struct ChainSession {
    chain: Arc<ProviderChain>,
    state: Mutex<SessionState>,
}

type Call<T> = dyn Fn(&Member) -> BoxFuture<'static, Result<T, ProviderError>> + Send + Sync;

impl ChainSession {
    /// The chain this session uses.
    pub fn chain(&self) -> &ProviderChain {
        &self.chain
    }

    fn state(&self) -> MutexGuard<'_, SessionState> {
        // A panic while holding this lock leaves plain counters behind: keep using them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Daily bars of `symbol`; `range_for(provider)` is the range asked of each provider (a
    /// gap from the provider that served the stored rows, the whole range from any other).
    pub async fn history(
        &self,
        symbol: &str,
        range_for: impl Fn(&'static str) -> (NaiveDate, NaiveDate) + Send + Sync + 'static,
    ) -> Result<Served<Vec<DailyBar>>, ChainError> {
        let symbol = symbol.to_owned();
        let call = move |m: &Member| -> BoxFuture<'static, Result<Vec<DailyBar>, ProviderError>> {
            let provider = Arc::clone(&m.provider);
            let (start, end) = range_for(m.name());
            let symbol = symbol.clone();
            Box::pin(async move { provider.daily_history(&symbol, start, end).await })
        };
        self.lookup(DataKind::Prices, &call, None).await
    }

    /// Daily bars of `symbol` from one named provider (a restatement's refetch), with the
    /// same retries, rate limit and breaker.
    pub async fn history_from(
        &self,
        provider: &str,
        symbol: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Served<Vec<DailyBar>>, ChainError> {
        let symbol = symbol.to_owned();
        let call = move |m: &Member| -> BoxFuture<'static, Result<Vec<DailyBar>, ProviderError>> {
            let provider = Arc::clone(&m.provider);
            let symbol = symbol.clone();
            Box::pin(async move { provider.daily_history(&symbol, start, end).await })
        };
        self.lookup(DataKind::Prices, &call, Some(provider)).await
    }

    /// The bars of `date` of those of `symbols` that `provider` has, from its bulk endpoint
    /// (Polygon's grouped daily): ONE request, with the same retries, rate limit and breakers
    /// as any other ([`DataKind::DailyBulk`] has its own breaker, so a plan without the
    /// endpoint still serves prices per symbol). Asked of one named provider because a
    /// symbol's history comes from one provider: the caller asks the one that stored it.
    /// [`ChainError::Unsupported`] when `provider` has no bulk endpoint.
    pub async fn grouped_daily(
        &self,
        provider: &str,
        date: NaiveDate,
        symbols: Arc<[String]>,
    ) -> Result<Served<Vec<(String, DailyBar)>>, ChainError> {
        let call = move |m: &Member| -> BoxFuture<'static, Result<Vec<(String, DailyBar)>, ProviderError>> {
            let provider = Arc::clone(&m.provider);
            let symbols = Arc::clone(&symbols);
            Box::pin(async move { provider.grouped_daily(date, &symbols).await })
        };
        self.lookup(DataKind::DailyBulk, &call, Some(provider))
            .await
    }

    /// The company profile of `symbol`, from the first provider that serves profiles.
    pub async fn profile(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Served<CompanyProfile>, ChainError> {
        let symbol = symbol.to_owned();
        let call = move |m: &Member| -> BoxFuture<'static, Result<CompanyProfile, ProviderError>> {
            let provider = Arc::clone(&m.provider);
            let symbol = symbol.clone();
            Box::pin(async move { provider.company_profile(&symbol, as_of).await })
        };
        self.lookup(DataKind::Profiles, &call, None).await
    }

    /// The fundamentals of `symbol`, from the first provider that serves them.
    pub async fn fundamentals(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Served<Fundamentals>, ChainError> {
        let symbol = symbol.to_owned();
        let call = move |m: &Member| -> BoxFuture<'static, Result<Fundamentals, ProviderError>> {
            let provider = Arc::clone(&m.provider);
            let symbol = symbol.clone();
            Box::pin(async move { provider.fundamentals(&symbol, as_of).await })
        };
        self.lookup(DataKind::Fundamentals, &call, None).await
    }

    /// Breaker openings not reported yet, each once per run (e.g. "fmp: invalid API key").
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut self.state().notices)
    }

    /// Requests sent so far, by provider (retries included).
    pub fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.state().requests.clone()
    }

    /// Why `provider` is skipped for `kind`, if it is (refused, or its breaker open).
    pub fn open_reason(&self, provider: &str, kind: DataKind) -> Option<String> {
        self.state().skip(provider, kind).map(|s| s.reason)
    }

    async fn lookup<T: Send + 'static>(
        &self,
        kind: DataKind,
        call: &Call<T>,
        only: Option<&str>,
    ) -> Result<Served<T>, ChainError> {
        let members: Vec<&Member> = self
            .chain
            .members
            .iter()
            .filter(|m| m.provider.serves(kind) && only.is_none_or(|o| o == m.name()))
            .collect();
        if members.is_empty() {
            return Err(ChainError::Unsupported {
                providers: only.map_or_else(|| self.chain.describe(), str::to_owned),
                kind: kind.noun(),
            });
        }
        let (mut not_found, mut asked) = (Vec::new(), Vec::new());
        let (mut undecided, mut skipped) = (Vec::new(), Vec::new());
        let mut skipped_names = Vec::new();
        let mut deferred: Option<DateTime<Utc>> = None;
        for member in members {
            let name = member.name();
            if let Some(skip) = self.state().skip(name, kind) {
                if skip.transient {
                    undecided.push(skip.reason);
                } else {
                    if let Some(until) = skip.until {
                        deferred = Some(deferred.map_or(until, |d| d.min(until)));
                    }
                    skipped.push(skip.reason);
                    skipped_names.push(name);
                }
                continue;
            }
            match self.ask(member, kind, call).await {
                Ok(value) => {
                    return Ok(Served {
                        provider: name,
                        value,
                    })
                }
                Err(ProviderError::NotFound { reason, .. }) => {
                    asked.push(name);
                    not_found.push(format!("{name}: {reason}"));
                }
                // `ask` opened the breaker: skipped from now on.
                Err(ProviderError::Refused(reason) | ProviderError::Failing(reason)) => {
                    skipped.push(reason);
                    skipped_names.push(name);
                }
                Err(ProviderError::Exhausted { reason, resets_at }) => {
                    deferred = Some(deferred.map_or(resets_at, |d| d.min(resets_at)));
                    skipped.push(reason);
                    skipped_names.push(name);
                }
                Err(e) => match self.state().skip(name, kind) {
                    // Its breaker opened on this failure: the reason says so.
                    Some(skip) => undecided.push(skip.reason),
                    None => undecided.push(format!("{name}: {e}")),
                },
            }
        }
        if !undecided.is_empty() {
            undecided.extend(skipped);
            Err(ChainError::Undecided(undecided.join("; ")))
        } else if !not_found.is_empty() {
            Err(ChainError::Unavailable {
                reason: not_found.join("; "),
                asked,
            })
        } else if let Some(resets_at) = deferred {
            Err(ChainError::Deferred {
                reason: skipped.join("; "),
                resets_at,
            })
        } else {
            Err(ChainError::Refused {
                reason: skipped.join("; "),
                skipped: skipped_names,
            })
        }
    }

    /// One provider's answer: rate-limited, retried while transient.
    async fn ask<T: Send + 'static>(
        &self,
        member: &Member,
        kind: DataKind,
        call: &Call<T>,
    ) -> Result<T, ProviderError> {
        let policy = &self.chain.policy;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.base)
            .with_max_delay(policy.cap)
            .with_max_times(policy.retries)
            .with_jitter();
        let skipped = || {
            // Opened by a concurrent request meanwhile: stop asking.
            self.state()
                .skip(member.name(), kind)
                .map(|skip| match skip.transient {
                    // Not retried here: the breaker is open.
                    true => ProviderError::Invalid(skip.reason),
                    false => ProviderError::Failing(skip.reason),
                })
        };
        let once = || async {
            if let Some(e) = skipped() {
                return Err(e);
            }
            if member.provider.remote() {
                if let Err(e) = self.wait_for_budget(member).await {
                    if matches!(e, ProviderError::Exhausted { .. }) {
                        // Skipped from now on, and said once.
                        let spent = Err(e);
                        self.record(member.name(), kind, &spent);
                        return spent;
                    }
                    return Err(e);
                }
                // The breaker may have opened while this request waited for its turn.
                if let Some(e) = skipped() {
                    return Err(e);
                }
            }
            *self.state().requests.entry(member.name()).or_default() += 1;
            let result = call(member).await;
            if let Err(ProviderError::Transient {
                rate_limited: true,
                retry_after,
                ..
            }) = &result
            {
                self.pause(member, *retry_after).await;
            }
            self.record(member.name(), kind, &result);
            result
        };
        once.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(ProviderError::is_transient)
            .adjust(|e, next| match (e, next) {
                (_, None) => None,
                (
                    ProviderError::Transient {
                        retry_after: Some(wait),
                        ..
                    },
                    Some(_),
                ) => (*wait <= policy.cap).then_some(*wait),
                (_, next) => next,
            })
            .await
    }

    /// Takes one request of `member`'s budget and waits for its slot; a spent quota skips the
    /// provider until it resets.
    async fn wait_for_budget(&self, member: &Member) -> Result<(), ProviderError> {
        let name = member.name();
        match self.chain.budget.take(name, member.limits).await {
            Ok(Grant::After(wait)) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Ok(Grant::Spent { resets_at }) => Err(ProviderError::Exhausted {
                reason: format!(
                    "{name}: daily quota of {} requests spent",
                    member.limits.per_day
                ),
                resets_at,
            }),
            Err(e) => Err(ProviderError::transient(format!(
                "{name}: request budget unreadable: {e}"
            ))),
        }
    }

    /// After a 429: no request goes to `member` from any worker until its `Retry-After`, or
    /// a backoff doubling with each 429 in a row (the retry base, at least 1 s, up to the cap).
    async fn pause(&self, member: &Member, retry_after: Option<Duration>) {
        let name = member.name();
        let policy = &self.chain.policy;
        let in_a_row = {
            let mut state = self.state();
            let n = state.rate_limited.entry(name).or_default();
            *n = n.saturating_add(1);
            *n
        };
        let wait = retry_after.unwrap_or_else(|| {
            let base = policy.base.max(Duration::from_secs(1));
            base.saturating_mul(1 << in_a_row.saturating_sub(1).min(16))
                .min(policy.cap)
        });
        if let Err(e) = self.chain.budget.pause(name, wait).await {
            tracing::warn!(
                provider = name,
                "could not pause the provider for the cluster: {e}"
            );
        }
    }

    /// Counts a request's outcome toward its provider's breakers.
    fn record<T>(&self, name: &'static str, kind: DataKind, result: &Result<T, ProviderError>) {
        let limit = self.chain.policy.breaker_failures.max(1);
        self.state().record(name, kind, result, limit);
    }
}
