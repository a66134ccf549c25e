//! The Prometheus metrics both binaries export: one catalogue of names, kinds, labels and
//! meanings, so that the code that records them, the README's list, the Grafana dashboard
//! and its test all read the same names.
//!
//! Names follow Prometheus conventions: `sigmasight_` prefix, `_total` for counters,
//! `_seconds` for durations. Histograms expose `_bucket`, `_sum` and `_count` series.

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Which process exports a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `sigmasight-api`, at `GET /metrics`.
    Api,
    /// `sigmasight-worker`, on `SIGMASIGHT_METRICS_BIND`.
    Worker,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub process: Process,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! catalogue {
    ($( $konst:ident = $name:literal, $kind:ident, $process:ident, [$($label:literal),*], $help:literal; )*) => {
        $(
            #[doc = $help]
            pub const $konst: &str = $name;
        )*
        /// Every metric the binaries export.
        pub const ALL: &[Metric] = &[
            $( Metric {
                name: $name,
                kind: Kind::$kind,
                process: Process::$process,
                labels: &[$($label),*],
                help: $help,
            }, )*
        ];
    };
}

catalogue! {
    HTTP_REQUESTS = "sigmasight_http_requests_total", Counter, Api, ["method", "route", "status"],
        "HTTP requests answered, by method, matched route (the router's pattern, `unmatched` for a 404 of no route) and status code.";
    HTTP_DURATION = "sigmasight_http_request_duration_seconds", Histogram, Api, ["method", "route", "status"],
        "Time from a request's arrival to its answer's head (an event stream counts until its first byte).";
    STATUS_CACHE = "sigmasight_status_cache_total", Counter, Api, ["result"],
        "Status polls answered from the api's memory (`hit`: nothing changed since the last read) or read from Postgres (`miss`); `refreshed`: portfolios read again after a change, before their next poll.";
    SSE_OPEN = "sigmasight_sse_streams_open", Gauge, Api, [],
        "Live-update event streams open now.";
    RUNS = "sigmasight_runs", Gauge, Api, ["kind", "status"],
        "Active runs (queued or running) by kind and status, read from the database at most every 5 s. Finished runs are counted by the worker's sigmasight_worker_runs_finished_total.";
    QUEUE_DUE = "sigmasight_queue_due_runs", Gauge, Api, [],
        "Queued runs whose time has come (run_at <= now): the backlog workers should be claiming; KEDA scales on the same count.";
    QUEUE_OLDEST_AGE = "sigmasight_queue_oldest_due_age_seconds", Gauge, Api, [],
        "How long the oldest due queued run has been waiting (0 when none is due).";
    RUNS_CLAIMED = "sigmasight_worker_runs_claimed_total", Counter, Worker, ["kind"],
        "Attempts claimed by this worker, by run kind (takeovers included).";
    RUNS_FINISHED = "sigmasight_worker_runs_finished_total", Counter, Worker, ["kind", "outcome"],
        "Attempts ended by this worker, by run kind and outcome: completed, partial, failed, retried (requeued with backoff), parked (a daily parent waiting for its children), handed_back (shutdown), lease_lost, cancelled (by an admin, or with its parent).";
    RUN_DURATION = "sigmasight_worker_run_duration_seconds", Histogram, Worker, ["kind", "outcome"],
        "Wall time of one attempt, from claim to its end, by kind and outcome.";
    PHASE_DURATION = "sigmasight_worker_phase_duration_seconds", Histogram, Worker, ["phase", "status"],
        "Wall time of one phase of an attempt, by phase id (phase_1 … phase_6) and how it ended: completed (warnings included) or failed.";
    LEASE_RENEWALS = "sigmasight_worker_lease_renewals_total", Counter, Worker, [],
        "Lease renewals written (one per renewal interval per running attempt).";
    LEASES_LOST = "sigmasight_worker_leases_lost_total", Counter, Worker, [],
        "Attempts that found their lease taken by another worker and stopped.";
    TAKEOVERS = "sigmasight_worker_takeovers_total", Counter, Worker, [],
        "Runs this worker claimed from a worker whose lease had expired.";
    PANICS = "sigmasight_worker_panics_total", Counter, Worker, [],
        "Panics inside a phase, caught and turned into a failed attempt.";
    PROVIDER_REQUESTS = "sigmasight_provider_requests_total", Counter, Worker, ["provider", "outcome"],
        "Market-data provider requests, by provider and outcome: ok, not_found, rate_limited, transient, refused (401/403), error.";
    PROVIDER_DURATION = "sigmasight_provider_request_duration_seconds", Histogram, Worker, ["provider"],
        "Latency of one market-data provider request, by provider.";
    ACTIVITY_ROWS = "sigmasight_worker_activity_rows_total", Counter, Worker, ["level"],
        "Activity-log entries written, by level (debug, info, warning, error).";
    PROVIDER_BUDGET_REMAINING = "sigmasight_provider_budget_remaining", Gauge, Worker, ["provider", "window"],
        "Requests a provider's budget has left for the whole deployment, by window: minute (the slots free in the next 60 s) and day (the daily quota left, UTC); read from Postgres every 5 s by each worker (every worker shows the same value: aggregate with max).";
    PROVIDER_DEFERRED = "sigmasight_provider_deferred_symbols", Gauge, Worker, [],
        "Symbols whose prices wait for a provider's daily quota to reset (deferred, neither failed nor unavailable); read from Postgres every 5 s.";
}

/// Looks a metric up by name.
pub fn by_name(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.name == name)
}

/// Histogram buckets for request latencies (seconds): 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets for run and phase durations (seconds): 10 ms to 30 min.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_prefixed_and_conventional() {
        let mut seen = HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("sigmasight_"), "{}", m.name);
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            match m.kind {
                Kind::Counter => assert!(m.name.ends_with("_total"), "{}", m.name),
                Kind::Histogram => assert!(m.name.ends_with("_seconds"), "{}", m.name),
                Kind::Gauge => assert!(!m.name.ends_with("_total"), "{}", m.name),
            }
            assert!(!m.help.is_empty());
        }
        assert_eq!(
            by_name(RUNS_CLAIMED).map(|m| m.process),
            Some(Process::Worker)
        );
        assert!(by_name("sigmasight_nothing").is_none());
    }

    #[test]
    fn the_readme_lists_every_metric_with_its_labels() {
        let readme = include_str!("../../README.md");
        for m in ALL {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", m.name)))
                .unwrap_or_else(|| panic!("README has no row for {}", m.name));
            for label in m.labels {
                assert!(
                    row.contains(label),
                    "{}: label {label} not in {row}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn buckets_increase() {
        for buckets in [LATENCY_BUCKETS, DURATION_BUCKETS] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
