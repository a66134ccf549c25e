//! The worker's Prometheus endpoint (`SIGMASIGHT_METRICS_BIND`), the series it registers at
//! 0 when it starts, and the small helpers the runner and phases record through. Names and
//! meanings: `sigmasight_shared::metrics`.

use axum::http::header;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sigmasight_shared::domain::{ActivityLevel, RunKind};
use sigmasight_shared::metrics as m;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Installs the recorder, registers the known series ([`register_known`], with the chain's
/// `providers`), binds `bind` and serves `GET /metrics` (and `GET /healthz`) on a task of its
/// own; fails when the address cannot be bound.
pub async fn serve(bind: SocketAddr, providers: &[&'static str]) -> anyhow::Result<JoinHandle<()>> {
    let handle = sigmasight_shared::telemetry::metrics_handle();
    // Before the first scrape can be answered.
    register_known(providers);
    sigmasight_shared::telemetry::spawn_metrics_upkeep(handle.clone());
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("binding SIGMASIGHT_METRICS_BIND {bind}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, "worker metrics listening");
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(handle);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    }))
}

async fn render(
    axum::extract::State(handle): axum::extract::State<PrometheusHandle>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            sigmasight_shared::telemetry::METRICS_CONTENT_TYPE,
        )],
        handle.render(),
    )
}

/// The `outcome` values of an attempt's end (`sigmasight_worker_runs_finished_total`).
pub const OUTCOMES: &[&str] = &[
    "completed",
    "partial",
    "failed",
    "retried",
    "parked",
    "handed_back",
    "lease_lost",
    "cancelled",
];

/// The `status` values of a phase's end (`sigmasight_worker_phase_duration_seconds`).
const PHASE_STATUSES: [&str; 2] = ["completed", "failed"];

/// Registers every counter and histogram of the worker with its known label values (run
/// kinds, attempt outcomes, the plans' phases, the chain's `providers`), so each series is
/// exported at 0 before its first event: an absent series breaks `rate()` and alerts. The
/// exporter renders a registered histogram with zero buckets, sum and count.
pub fn register_known(providers: &[&'static str]) {
    for &kind in RunKind::ALL {
        let _ = metrics::counter!(m::RUNS_CLAIMED, "kind" => kind.as_str());
        for &outcome in OUTCOMES {
            let labels = [("kind", kind.as_str()), ("outcome", outcome)];
            let _ = metrics::counter!(m::RUNS_FINISHED, &labels);
            let _ = metrics::histogram!(m::RUN_DURATION, &labels);
        }
    }
    let mut phases: Vec<&'static str> = RunKind::ALL
        .iter()
        .flat_map(|k| k.plan().iter().map(|p| p.id))
        .collect();
    phases.sort_unstable();
    phases.dedup();
    for phase in phases {
        for status in PHASE_STATUSES {
            let _ = metrics::histogram!(m::PHASE_DURATION, "phase" => phase, "status" => status);
        }
    }
    for name in [m::LEASE_RENEWALS, m::LEASES_LOST, m::TAKEOVERS, m::PANICS] {
        let _ = metrics::counter!(name);
    }
    let levels = ActivityLevel::ALL.iter().map(|l| l.as_str());
    for level in std::iter::once("debug").chain(levels) {
        let _ = metrics::counter!(m::ACTIVITY_ROWS, "level" => level);
    }
    for &provider in providers {
        sigmasight_shared::market_data::measure::register(provider);
    }
}

/// One attempt claimed (and whether it was taken over from a lost worker).
pub fn claimed(kind: RunKind, takeover: bool) {
    metrics::counter!(m::RUNS_CLAIMED, "kind" => kind.as_str()).increment(1);
    if takeover {
        metrics::counter!(m::TAKEOVERS).increment(1);
    }
}

/// One attempt ended with `outcome` after `elapsed`.
pub fn finished(kind: RunKind, outcome: &'static str, elapsed: Duration) {
    let labels = [("kind", kind.as_str()), ("outcome", outcome)];
    metrics::counter!(m::RUNS_FINISHED, &labels).increment(1);
    metrics::histogram!(m::RUN_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// One phase of an attempt ran for `elapsed` and ended well (`completed`, warnings
/// included) or not (`failed`).
pub fn phase_ended(phase: &sigmasight_shared::phases::PhaseDef, ok: bool, elapsed: Duration) {
    let status = if ok {
        PHASE_STATUSES[0]
    } else {
        PHASE_STATUSES[1]
    };
    // Called inside the phase's span, which names the phase.
    tracing::debug!(
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        "phase ended"
    );
    metrics::histogram!(m::PHASE_DURATION, "phase" => phase.id, "status" => status)
        .record(elapsed.as_secs_f64());
}
