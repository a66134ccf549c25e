//! The worker's Prometheus endpoint (`SIGMASIGHT_METRICS_BIND`) and the small helpers the
//! runner and phases record through. Names and meanings: `sigmasight_shared::metrics`.

use axum::http::header;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sigmasight_shared::domain::RunKind;
use sigmasight_shared::metrics as m;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Installs the recorder, binds `bind` and serves `GET /metrics` (and `GET /healthz`) on a
/// task of its own; fails when the address cannot be bound.
pub async fn serve(bind: SocketAddr) -> anyhow::Result<JoinHandle<()>> {
    let handle = sigmasight_shared::telemetry::metrics_handle();
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
    let status = if ok { "completed" } else { "failed" };
    // Called inside the phase's span, which names the phase.
    tracing::debug!(
        status,
        elapsed_ms = elapsed.as_millis() as u64,
        "phase ended"
    );
    metrics::histogram!(m::PHASE_DURATION, "phase" => phase.id, "status" => status)
        .record(elapsed.as_secs_f64());
}
