//! What one client may take of the service: connection and stream caps, timeouts, per-user
//! request rates, and the response headers every answer carries. All limits are per api
//! process (run N replicas and a user gets N times the rate).

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use clap::Args;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sigmasight_shared::config::parse_secs;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Limits, from the environment.
#[derive(Debug, Clone, Args)]
pub struct LimitsConfig {
    /// Seconds a client may take to send a request's headers (slow-header clients are cut).
    #[arg(long = "header-timeout", env = "SIGMASIGHT_HEADER_TIMEOUT_SECS", default_value = "10", value_parser = parse_secs)]
    pub header_timeout: Duration,
    /// Seconds a client may take to send a request's body (a trickled upload is cut with 408).
    #[arg(long = "body-timeout", env = "SIGMASIGHT_BODY_TIMEOUT_SECS", default_value = "60", value_parser = parse_secs)]
    pub body_timeout: Duration,
    /// Seconds a connection may sit with no request open, HTTP/1 and HTTP/2 alike (HTTP/2
    /// PINGs and other frames without a request do not count).
    #[arg(long = "idle-timeout", env = "SIGMASIGHT_IDLE_TIMEOUT_SECS", default_value = "60", value_parser = parse_secs)]
    pub idle_timeout: Duration,
    /// Seconds a request (other than an event stream) may take before it is answered 503.
    #[arg(long = "request-timeout", env = "SIGMASIGHT_REQUEST_TIMEOUT_SECS", default_value = "30", value_parser = parse_secs)]
    pub request_timeout: Duration,
    /// Open connections at most; beyond, a new connection is answered 503 and closed.
    #[arg(long = "max-open-connections", env = "SIGMASIGHT_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_open_connections: u32,
    /// Open event streams per user at most (beyond: 429 `too_many_streams`).
    #[arg(long, env = "SIGMASIGHT_SSE_MAX_PER_USER", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub sse_max_per_user: u32,
    /// Open event streams in all at most (beyond: 429 `too_many_streams`).
    #[arg(long, env = "SIGMASIGHT_SSE_MAX", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub sse_max: u32,
    /// CSV uploads per user per minute (beyond: 429 `rate_limited` with Retry-After).
    #[arg(long, env = "SIGMASIGHT_UPLOADS_PER_MINUTE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub uploads_per_minute: u32,
    /// Authenticated requests per user per minute (beyond: 429 `rate_limited`).
    #[arg(long, env = "SIGMASIGHT_REQUESTS_PER_MINUTE", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_open_connections: 1024,
            sse_max_per_user: 10,
            sse_max: 1000,
            uploads_per_minute: 10,
            requests_per_minute: 600,
        }
    }
}

/// Keyed limiters keep a cell per user; past this many they drop the ones back to full.
const RETAIN_ABOVE: usize = 10_000;

/// A per-user rate (a token bucket of `per_minute` that refills evenly over the minute).
#[derive(Debug)]
struct UserRate {
    limiter: DefaultKeyedRateLimiter<String>,
    what: &'static str,
}

impl UserRate {
    fn new(per_minute: u32, what: &'static str) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
            what,
        }
    }

    fn check(&self, user: &str) -> Result<(), ApiError> {
        if self.limiter.len() > RETAIN_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&user.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::RateLimited {
                    code: "rate_limited",
                    message: format!("Too many {}; try again later", self.what),
                    retry_after_secs: wait.as_secs().saturating_add(1),
                }
            })
    }
}

/// Open event streams, by user and in all.
#[derive(Debug, Default)]
struct StreamCounts {
    total: u32,
    by_user: HashMap<String, u32>,
}

/// The shared limit state of one api process (cheap to clone).
#[derive(Debug, Clone)]
pub struct Limits {
    pub config: LimitsConfig,
    requests: Arc<UserRate>,
    uploads: Arc<UserRate>,
    streams: Arc<Mutex<StreamCounts>>,
}

impl Limits {
    pub fn new(config: LimitsConfig) -> Self {
        Self {
            requests: Arc::new(UserRate::new(config.requests_per_minute, "requests")),
            uploads: Arc::new(UserRate::new(config.uploads_per_minute, "uploads")),
            streams: Arc::default(),
            config,
        }
    }

    /// Counts one authenticated request of `user`.
    pub fn request(&self, user: &str) -> Result<(), ApiError> {
        self.requests.check(user)
    }

    /// Counts one upload of `user`.
    pub fn upload(&self, user: &str) -> Result<(), ApiError> {
        self.uploads.check(user)
    }

    /// A slot for one event stream of `user`, held as long as the stream is open.
    pub fn open_stream(&self, user: &str) -> Result<StreamSlot, ApiError> {
        let mut counts = self
            .streams
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("stream counts poisoned")))?;
        let mine = counts.by_user.get(user).copied().unwrap_or(0);
        let refuse = |message: String| ApiError::RateLimited {
            code: "too_many_streams",
            message,
            retry_after_secs: 5,
        };
        if mine >= self.config.sse_max_per_user {
            return Err(refuse(format!(
                "At most {} open event streams per user; close one first",
                self.config.sse_max_per_user
            )));
        }
        if counts.total >= self.config.sse_max {
            return Err(refuse("The server has too many open event streams".into()));
        }
        counts.total += 1;
        counts.by_user.insert(user.to_owned(), mine + 1);
        Ok(StreamSlot {
            streams: self.streams.clone(),
            user: user.to_owned(),
        })
    }

    /// Open event streams (all users).
    pub fn open_streams(&self) -> u32 {
        self.streams.lock().map(|c| c.total).unwrap_or(0)
    }
}

/// One open event stream; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Mutex<StreamCounts>>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.streams.lock() {
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.by_user.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.by_user.remove(&self.user);
                }
            }
        }
    }
}

/// Answers 503 `request_timeout` when a handler takes longer than the request timeout.
/// Applied to every route but the event stream (which is long-lived by design).
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::Timeout(timeout)),
    }
}

/// True when the percent-decoded `raw` holds a control character (NUL included): `%00`–`%1F`
/// or `%7F` (a raw control byte never gets past the HTTP parser).
fn has_encoded_control(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!((hex(w[1]), hex(w[2])), (Some(h), Some(l)) if { let v = h * 16 + l; v < 0x20 || v == 0x7f })
    })
}

/// Refuses a path or query holding a control character with 400 `ERR_PATH` / `ERR_QUERY`
/// before any handler (or the database) sees it.
pub async fn refuse_control_characters(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let refusal = if has_encoded_control(uri.path()) {
        Some(("ERR_PATH", "The path holds a control character"))
    } else if uri.query().is_some_and(has_encoded_control) {
        Some(("ERR_QUERY", "The query holds a control character"))
    } else {
        None
    };
    match refusal {
        Some((code, message)) => axum::response::IntoResponse::into_response(ApiError::Invalid {
            status: axum::http::StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }),
        None => next.run(request).await,
    }
}

/// The status page's policy: its own script and style only, never framed, no referrer.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Headers on every answer: no MIME sniffing, and (for HTML) the page's security policy.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_user: u32, total: u32) -> Limits {
        Limits::new(LimitsConfig {
            sse_max_per_user: per_user,
            sse_max: total,
            requests_per_minute: 3,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn encoded_control_characters_are_found_and_ordinary_escapes_are_not() {
        for bad in ["/a/%00/b", "x=%1f", "%7F", "%0a", "a%0D"] {
            assert!(has_encoded_control(bad), "{bad}");
        }
        for fine in ["/a/b", "x=%20y", "%41", "%", "%0", "%zz", "100%", "%2F%25"] {
            assert!(!has_encoded_control(fine), "{fine}");
        }
    }

    #[tokio::test]
    async fn a_slow_handler_is_answered_503_with_the_envelope() {
        use axum::routing::get;
        use tower::ServiceExt as _;
        let app = axum::Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(50),
                request_timeout,
            ))
            .layer(axum::middleware::from_fn(refuse_control_characters));
        let call = |uri: &'static str| {
            let app = app.clone();
            async move {
                let r = app
                    .oneshot(
                        axum::http::Request::get(uri)
                            .body(axum::body::Body::empty())
                            .expect("request"),
                    )
                    .await
                    .expect("infallible");
                let status = r.status().as_u16();
                let body = axum::body::to_bytes(r.into_body(), 1 << 16)
                    .await
                    .expect("body");
                let json: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                (status, json["error"]["code"].as_str().map(str::to_owned))
            }
        };
        assert_eq!(call("/slow").await, (503, Some("request_timeout".into())));
        assert_eq!(call("/fast").await.0, 200);
        assert_eq!(call("/fast%00").await, (400, Some("ERR_PATH".into())));
        assert_eq!(call("/fast?x=%00").await, (400, Some("ERR_QUERY".into())));
    }

    #[test]
    fn streams_are_capped_per_user_and_in_all_and_freed_on_drop() {
        let l = limits(2, 3);
        let a1 = l.open_stream("a").expect("a1");
        let _a2 = l.open_stream("a").expect("a2");
        assert!(matches!(
            l.open_stream("a"),
            Err(ApiError::RateLimited {
                code: "too_many_streams",
                ..
            })
        ));
        let _b1 = l.open_stream("b").expect("b1");
        assert!(l.open_stream("c").is_err(), "total cap");
        assert_eq!(l.open_streams(), 3);
        drop(a1);
        assert!(l.open_stream("c").is_ok(), "a slot came back");
    }

    #[test]
    fn a_user_over_the_rate_is_refused_with_a_retry_after_and_others_are_not() {
        let l = limits(1, 1);
        for _ in 0..3 {
            l.request("a").expect("within the quota");
        }
        match l.request("a") {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => assert!((1..=21).contains(&retry_after_secs), "{retry_after_secs}"),
            other => panic!("expected 429, got {other:?}"),
        }
        l.request("b").expect("another user is unaffected");
    }
}
