//! Tracing setup shared by both binaries: `RUST_LOG` filter (default `info`), JSON output
//! with `LOG_FORMAT=json`.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Safe to call once per process.
pub fn init(service: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}

static METRICS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// The process's Prometheus recorder, installed on the first call (later calls return the
/// same handle): the histograms of [`crate::metrics::ALL`] get their buckets and every
/// metric its `# HELP` line. Recording before this call is a no-op.
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    METRICS
        .get_or_init(|| {
            use crate::metrics::{Kind, ALL, DURATION_BUCKETS, LATENCY_BUCKETS};
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            let mut builder = PrometheusBuilder::new();
            for m in ALL.iter().filter(|m| m.kind == Kind::Histogram) {
                let buckets = if m.name.contains("_request_") {
                    LATENCY_BUCKETS
                } else {
                    DURATION_BUCKETS
                };
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(m.name.to_string()), buckets)
                    .expect("the bucket lists are not empty");
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            for m in ALL {
                match m.kind {
                    Kind::Counter => metrics::describe_counter!(m.name, m.help),
                    Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
                    Kind::Histogram => {
                        metrics::describe_histogram!(m.name, metrics::Unit::Seconds, m.help)
                    }
                }
            }
            handle
        })
        .clone()
}

/// Drains the recorder's histogram buffers every 5 s (the exporter asks for periodic
/// upkeep when it serves no HTTP of its own), so memory stays flat between scrapes.
pub fn spawn_metrics_upkeep(handle: metrics_exporter_prometheus::PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// The content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
