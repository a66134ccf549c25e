//! The breakers of one run's chain session: which providers are skipped, for what kind of
//! data and why (refused, failing, transient failures in a row, a spent daily quota), the
//! 429s in a row, the request counts, and the notices the feed shows once each.

use super::super::{DataKind, ProviderError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One (provider, kind of data)'s breaker.
#[derive(Default)]
pub(super) struct Breaker {
    /// Transient failures in a row.
    pub(super) consecutive: u32,
    /// Why the breaker is open.
    pub(super) open: Option<Skip>,
}

/// Why a provider is skipped.
#[derive(Debug, Clone)]
pub(super) struct Skip {
    pub(super) reason: String,
    /// Opened by transient failures in a row: the data may be had later (undecided), unlike
    /// a refusal or a failing endpoint.
    pub(super) transient: bool,
    /// Its daily quota is spent until then.
    pub(super) until: Option<DateTime<Utc>>,
}

/// What a session has learnt of its providers so far.
#[derive(Default)]
pub(super) struct SessionState {
    /// Per (provider, kind of data): failing endpoints and transient failures in a row.
    pub(super) breakers: HashMap<(&'static str, DataKind), Breaker>,
    /// Providers that refused us (401/403), for every kind of data.
    pub(super) refused: HashMap<&'static str, String>,
    /// Providers whose daily quota is spent, for every kind of data, and until when.
    pub(super) exhausted: HashMap<&'static str, (String, DateTime<Utc>)>,
    /// 429s in a row per provider (the pause without `Retry-After` doubles with each).
    pub(super) rate_limited: HashMap<&'static str, u32>,
    pub(super) announced: HashSet<(&'static str, String)>,
    pub(super) notices: Vec<String>,
    pub(super) requests: BTreeMap<&'static str, u64>,
}

impl SessionState {
    /// Why `provider` is skipped for `kind`, if it is.
    pub(super) fn skip(&self, provider: &str, kind: DataKind) -> Option<Skip> {
        if let Some(reason) = self.refused.get(provider) {
            return Some(Skip {
                reason: reason.clone(),
                transient: false,
                until: None,
            });
        }
        if let Some((reason, until)) = self.exhausted.get(provider) {
            return Some(Skip {
                reason: reason.clone(),
                transient: false,
                until: Some(*until),
            });
        }
        self.breakers
            .iter()
            .find(|((name, k), _)| *name == provider && *k == kind)
            .and_then(|(_, b)| b.open.clone())
    }

    /// Counts a request's outcome toward its provider's breakers.
    pub(super) fn record<T>(
        &mut self,
        name: &'static str,
        kind: DataKind,
        result: &Result<T, ProviderError>,
        limit: u32,
    ) {
        let state = self;
        if !matches!(
            result,
            Err(ProviderError::Transient {
                rate_limited: true,
                ..
            })
        ) {
            state.rate_limited.remove(name);
        }
        let breaker = state.breakers.entry((name, kind)).or_default();
        let opened = match result {
            Ok(_) | Err(ProviderError::NotFound { .. }) => {
                breaker.consecutive = 0;
                return;
            }
            Err(ProviderError::Exhausted { reason, resets_at }) => {
                if state.exhausted.contains_key(name) {
                    return;
                }
                state.exhausted.insert(name, (reason.clone(), *resets_at));
                let notice = format!(
                    "{reason} \u{2014} skipped until {} UTC",
                    resets_at.format("%Y-%m-%d %H:%M")
                );
                state.announce(name, notice);
                return;
            }
            Err(ProviderError::Transient { reason, .. }) => {
                breaker.consecutive += 1;
                if breaker.consecutive < limit || breaker.open.is_some() {
                    return;
                }
                Skip {
                    reason: format!(
                        "{name}: {} failures in a row (last: {reason})",
                        breaker.consecutive
                    ),
                    transient: true,
                    until: None,
                }
            }
            Err(ProviderError::Failing(reason)) => Skip {
                reason: reason.clone(),
                transient: false,
                until: None,
            },
            Err(ProviderError::Refused(reason)) => {
                if state.refused.contains_key(name) {
                    return;
                }
                state.refused.insert(name, reason.clone());
                let notice = format!("{reason} \u{2014} skipped for the rest of this run");
                state.announce(name, notice);
                return;
            }
            Err(ProviderError::Invalid(_)) => return,
        };
        if breaker.open.is_none() {
            let notice = format!(
                "{} ({name} is skipped for {} for the rest of this run)",
                opened.reason,
                kind.noun()
            );
            breaker.open = Some(opened);
            state.announce(name, notice);
        }
    }

    /// Queues `notice` for the feed, once per provider and text.
    pub(super) fn announce(&mut self, provider: &'static str, notice: String) {
        if self.announced.insert((provider, notice.clone())) {
            self.notices.push(notice);
        }
    }
}
