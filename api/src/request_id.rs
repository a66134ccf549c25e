//! Request ids: every request gets one (the client's `x-request-id` is kept when it is a
//! sane token, else a new UUID), it is returned in the response's `x-request-id`, carried by
//! the request's log span, and put in the error envelope of a 5xx answer so a user's report
//! leads to the log lines.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The header both ways.
pub const HEADER: &str = "x-request-id";

/// Longest client-sent id kept (longer ones are replaced, never echoed).
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: Arc<str>;
}

/// The id of the request being answered on this task, if any.
pub fn current() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// A client's id is kept when it is 1–128 characters of `[A-Za-z0-9._:/+=-]` (UUIDs, trace
/// ids, base64): nothing a log line or a header could be abused with.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/+=-".contains(&b))
}

/// Sets the request's id (on the request, for the trace span, and on the response).
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    // `acceptable` ids and UUIDs are visible ASCII: always a valid header value.
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    request.headers_mut().insert(HEADER, value.clone());
    let mut response = CURRENT.scope(Arc::from(id), next.run(request)).await;
    response.headers_mut().insert(HEADER, value);
    response
}

/// The span every request's log lines carry: request id, method, matched route, and the
/// user once the token is verified (recorded by the auth extractor).
pub fn span(request: &axum::http::Request<Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        user = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(acceptable("3f1c2a9e-0b7d-4c55-9a11-2b6f1f0e8d42"));
        assert!(acceptable(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in ["", "a b", "x\ny", "<script>", &"a".repeat(MAX_LEN + 1), "é"] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }

    async fn call(uri: &str, id: Option<&str>) -> (u16, String, serde_json::Value) {
        use axum::routing::get;
        use tower::ServiceExt as _;
        let app = axum::Router::new()
            .route(
                "/broken",
                get(|| async {
                    Err::<(), _>(crate::error::ApiError::Internal(anyhow::anyhow!("boom")))
                }),
            )
            .route(
                "/missing",
                get(|| async { Err::<(), _>(crate::error::ApiError::NotFound("thing")) }),
            )
            .layer(axum::middleware::from_fn(assign));
        let mut request = axum::http::Request::get(uri);
        if let Some(id) = id {
            request = request.header(HEADER, id);
        }
        let r = app
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = r.status().as_u16();
        let header = r.headers()[HEADER].to_str().expect("ascii").to_owned();
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, header, json)
    }

    #[tokio::test]
    async fn a_5xx_envelope_carries_the_id_the_response_returns() {
        let (status, header, json) = call("/broken", None).await;
        assert_eq!(status, 500);
        assert!(uuid::Uuid::parse_str(&header).is_ok(), "{header}");
        assert_eq!(json["error"]["request_id"], header.as_str());
        assert_eq!(json["error"]["code"], "internal_error");

        let (_, header, json) = call("/broken", Some("client-7")).await;
        assert_eq!(header, "client-7", "a sane client id is kept");
        assert_eq!(json["error"]["request_id"], "client-7");

        let (status, header, json) = call("/missing", Some("client-8")).await;
        assert_eq!((status, header.as_str()), (404, "client-8"));
        assert!(
            json["error"].get("request_id").is_none(),
            "a 4xx is the caller's: no id in its envelope"
        );
    }
}
