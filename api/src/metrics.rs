//! The api's Prometheus metrics (names in `sigmasight_shared::metrics`): every request by
//! method, matched route and status with its latency, the open event streams, and the queue
//! as the database sees it, read at most every [`QUEUE_REFRESH`] however often it is scraped.
//! The counters and histograms are registered at 0 when the router is built
//! ([`register_known`]), so a fresh api exports them before its first request.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sigmasight_shared::db::runs;
use sigmasight_shared::domain::{RunKind, RunStatus};
use sigmasight_shared::metrics as m;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The queue gauges are read from the database at most this often: a scrape in between
/// shows the last reading (several Prometheus servers, or a fast scrape interval, cost
/// nothing more).
pub const QUEUE_REFRESH: Duration = Duration::from_secs(5);

/// Counts and times every request. Applied with `Router::layer`, so the matched route
/// pattern is known (a path no route matches is `unmatched`: the label never holds a raw
/// path, whose values are unbounded).
pub async fn track_http(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(m::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(m::HTTP_DURATION, &labels).record(start.elapsed().as_secs_f64());
    response
}

/// Registers the api's counters and histograms at 0 with the label values known before any
/// request: every route of `routes` (the router's OpenAPI document, whose paths are the
/// router's patterns) by method, with each success status it documents and 500 (what an
/// error-rate alert watches: its first 500 then counts in `rate()`); and every status-cache
/// result. Other statuses appear with their first request.
pub fn register_known(routes: &utoipa::openapi::OpenApi) {
    for (route, item) in &routes.paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let documented = operation.responses.responses.keys().map(String::as_str);
            let succeeding = documented.filter(|s| s.starts_with('2') || s.starts_with('3'));
            for status in succeeding.chain(["500"]) {
                let labels = [
                    ("method", method_label(&method).to_owned()),
                    ("route", route.clone()),
                    ("status", status.to_owned()),
                ];
                let _ = metrics::counter!(m::HTTP_REQUESTS, &labels);
                let _ = metrics::histogram!(m::HTTP_DURATION, &labels);
            }
        }
    }
    // The results `status_cache` records.
    for result in ["hit", "miss", "refreshed"] {
        let _ = metrics::counter!(m::STATUS_CACHE, "result" => result);
    }
}

/// The standard methods by name; any other (a client may send any token) is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The queue gauges and when they were last read.
#[derive(Debug, Default)]
pub struct QueueGauges {
    last_read: tokio::sync::Mutex<Option<Instant>>,
}

impl QueueGauges {
    /// Reads the queue again when the last reading is older than [`QUEUE_REFRESH`]; a
    /// failed read keeps the previous values (and is logged), so a scrape never fails on it.
    pub async fn refresh(&self, db: &PgPool) {
        let mut last_read = self.last_read.lock().await;
        if last_read.is_some_and(|at| at.elapsed() < QUEUE_REFRESH) {
            return;
        }
        match runs::queue_gauges(db).await {
            Ok(read) => {
                publish(&read);
                *last_read = Some(Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "could not read the queue gauges"),
        }
    }
}

/// Sets every (kind, active status) series, zero where no run is, so a series that empties
/// drops to 0 instead of keeping its last value.
fn publish(read: &runs::QueueGauges) {
    for &kind in RunKind::ALL {
        for status in [RunStatus::Queued, RunStatus::Running] {
            let count = read
                .active
                .iter()
                .find(|(k, s, _)| *k == kind && *s == status)
                .map_or(0, |(_, _, n)| *n);
            metrics::gauge!(m::RUNS, "kind" => kind.as_str(), "status" => status.as_str())
                .set(count as f64);
        }
    }
    metrics::gauge!(m::QUEUE_DUE).set(read.due as f64);
    metrics::gauge!(m::QUEUE_OLDEST_AGE).set(read.oldest_due_age_secs.max(0.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&odd), "other");
    }
}
