//! The API's one error type: a single match gives (status, code); the body is always
//! `{ "error": { "code", "message", "details" } }`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, a bad token, or an expired one.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the endpoint needs the admin claim.
    #[error("admin rights required")]
    Forbidden,
    /// Absent, or someone else's (never 403: existence is not revealed).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The path exists, the method does not (axum adds the `Allow` header).
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// A state conflict, with its code (ERR_PORT_001, ERR_RUN_ACTIVE …).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// Invalid input with its code and HTTP status (400, 413, 422).
    #[error("{message}")]
    Invalid {
        status: StatusCode,
        code: &'static str,
        message: String,
        details: Value,
    },
    /// Over a per-user rate or stream cap: 429 with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// The handler ran past the request timeout: 503 `request_timeout`.
    #[error("the request took longer than {} s", .0.as_secs_f64())]
    Timeout(std::time::Duration),
    /// Something the answer depends on is down for now (e.g. the JWKS host): 503.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// Anything unexpected: logged once here, answered as "internal error".
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl ApiError {
    /// A 422 for one invalid form field.
    pub fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            details: json!({ "field": field }),
            message,
        }
    }

    /// A 400 `ERR_QUERY` for one bad query parameter.
    pub fn query(param: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            status: StatusCode::BAD_REQUEST,
            code: "ERR_QUERY",
            details: json!({ "parameter": param }),
            message: message.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::Invalid { status, code, .. } => (*status, code),
            Self::RateLimited { code, .. } => (StatusCode::TOO_MANY_REQUESTS, code),
            Self::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "request_timeout"),
            Self::Unavailable { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let (message, details) = match &self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                ("internal error".to_owned(), Value::Null)
            }
            Self::Conflict { details, .. } | Self::Invalid { details, .. } => {
                (self.to_string(), details.clone())
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => (
                self.to_string(),
                json!({ "retry_after_secs": retry_after_secs }),
            ),
            _ => (self.to_string(), Value::Null),
        };
        let mut error = json!({ "code": code, "message": message, "details": details });
        if status.is_server_error() {
            // A 5xx is ours: its request id leads from the user's report to the log lines.
            if let Some(id) = crate::request_id::current() {
                error["request_id"] = Value::from(&*id);
            }
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let Self::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The answer to a path no route serves: 404 `not_found` in the envelope.
pub async fn no_route() -> ApiError {
    ApiError::NotFound("route")
}

/// The answer to a method a routed path does not take: 405 `method_not_allowed` in the
/// envelope (axum keeps the `Allow` header).
pub async fn no_method() -> ApiError {
    ApiError::MethodNotAllowed
}
