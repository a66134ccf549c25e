//! Extractors: the authenticated user from a Bearer JWT, and for the endpoints a browser
//! opens without headers (EventSource, a download link) also from `?access_token=`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest as _, FromRequestParts};
use axum::http::request::Parts;
use sigmasight_shared::db;
use uuid::Uuid;

/// The caller, from `Authorization: Bearer <jwt>`; created in `users` on first sight.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub sub: String,
    pub is_admin: bool,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("authorization must be a Bearer token".into()))?
            .to_owned();
        authenticated_once(parts, state, &token).await
    }
}

/// [`authenticate`] once per request: a handler with several extractors that need the user
/// verifies the token, and counts against the user's request rate, once.
async fn authenticated_once(
    parts: &mut Parts,
    state: &AppState,
    token: &str,
) -> Result<AuthUser, ApiError> {
    if let Some(user) = parts.extensions.get::<AuthUser>() {
        return Ok(user.clone());
    }
    let user = authenticate(state, token).await?;
    // The request's log lines name the user from here on.
    tracing::Span::current().record("user", user.sub.as_str());
    state.limits.request(&user.sub)?;
    parts.extensions.insert(user.clone());
    Ok(user)
}

/// Verifies a token and finds (or creates) its user.
async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let identity = state.verifier.verify(token.trim()).await.map_err(|e| {
        if e.is_unavailable() {
            ApiError::Unavailable {
                code: "auth_unavailable",
                message: format!("{e}; try again shortly"),
            }
        } else {
            ApiError::Unauthorized(e.to_string())
        }
    })?;
    let id = match state.users.get(&identity.sub) {
        Some(id) => id,
        None => {
            let id = db::users::find_or_create(&state.db, &identity.sub).await?;
            state.users.remember(&identity.sub, id);
            id
        }
    };
    Ok(AuthUser {
        id,
        sub: identity.sub,
        is_admin: identity.admin,
    })
}

/// The caller from `Authorization: Bearer`, or else from the `access_token` query parameter
/// (EventSource cannot send headers). Only the events and logs endpoints take it.
#[derive(Debug, Clone)]
pub struct QueryAuthUser(pub AuthUser);

impl FromRequestParts<AppState> for QueryAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return AuthUser::from_request_parts(parts, state).await.map(Self);
        }
        let token = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?
            .to_owned();
        authenticated_once(parts, state, &token).await.map(Self)
    }
}

/// Earliest year a date parameter may name.
pub const DATE_YEAR_MIN: i32 = 1900;
/// Latest year a date parameter may name.
pub const DATE_YEAR_MAX: i32 = 2200;

/// Every date a request carries (`?start=`, `?end=`, `?date=`, a batch's `start_date`): a
/// `YYYY-MM-DD` of a year in [`DATE_YEAR_MIN`]..=[`DATE_YEAR_MAX`], so no date reaches
/// Postgres that it cannot hold (`-100000-01-01` parses as a date, and Postgres refuses it
/// with a 500). Used with `#[serde(default, deserialize_with = "…")]`: a query answers 400
/// `ERR_QUERY`, a JSON body 422 `ERR_JSON`.
pub fn bounded_date<'de, D>(deserializer: D) -> Result<Option<chrono::NaiveDate>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use chrono::Datelike as _;
    use serde::Deserialize as _;
    let date = Option::<chrono::NaiveDate>::deserialize(deserializer)?;
    match date {
        Some(d) if !(DATE_YEAR_MIN..=DATE_YEAR_MAX).contains(&d.year()) => {
            Err(serde::de::Error::custom(format_args!(
                "date out of range: the year must be {DATE_YEAR_MIN} to {DATE_YEAR_MAX}"
            )))
        }
        other => Ok(other),
    }
}

/// Cuts a rejection's text (it may quote the input) to a bounded length.
fn bounded(text: String) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        text
    } else {
        let mut cut: String = text.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::Invalid {
            status: e.status(),
            code: "ERR_JSON",
            message: bounded(e.body_text()),
            details: serde_json::Value::Null,
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::Invalid {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "ERR_QUERY",
            message: bounded(e.body_text()),
            details: serde_json::Value::Null,
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::Invalid {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "ERR_PATH",
            message: bounded(e.body_text()),
            details: serde_json::Value::Null,
        }
    }
}

/// A JSON body whose rejection (malformed JSON, wrong content type, wrong shape) answers in
/// the error envelope (`ERR_JSON`) instead of axum's plain text. The body must be a JSON
/// object: serde reads an array positionally into a struct (`[]` would be a request with
/// every field at its default), so anything else is refused with 400 before it is read.
#[derive(Debug, Clone)]
pub struct AppJson<T>(pub T);

/// True when the body's first non-blank byte opens a JSON object.
fn is_json_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'{')
}

impl<T: serde::de::DeserializeOwned> AppJson<T> {
    /// Reads the body of a request whose content type is JSON (already checked).
    async fn read<S: Send + Sync>(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        let (parts, body) = req.into_parts();
        // axum's own content-type check (415 first), on the head alone.
        let probe = axum::extract::Request::from_parts(parts.clone(), axum::body::Body::empty());
        if let Err(e @ JsonRejection::MissingJsonContentType(_)) =
            <axum::Json<serde::de::IgnoredAny> as axum::extract::FromRequest<S>>::from_request(
                probe, state,
            )
            .await
        {
            return Err(e.into());
        }
        let request = axum::extract::Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(JsonRejection::from)?;
        if !is_json_object(&bytes) {
            return Err(ApiError::Invalid {
                status: axum::http::StatusCode::BAD_REQUEST,
                code: "ERR_JSON",
                message: "the body must be a JSON object".into(),
                details: serde_json::Value::Null,
            });
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

impl<S, T> axum::extract::FromRequest<S> for AppJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Self::read(req, state).await
    }
}

impl<S, T> axum::extract::OptionalFromRequest<S> for AppJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// No body at all (no `Content-Type`) is `None`, as with axum's `Option<Json<T>>`.
    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(None);
        }
        Self::read(req, state).await.map(Some)
    }
}

/// Query parameters whose rejection answers in the envelope (`ERR_QUERY`, 400).
#[derive(Debug, Clone)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters whose rejection answers in the envelope (`ERR_PATH`, 400).
#[derive(Debug, Clone)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The portfolio id named by the route's `{portfolio_id}` (or `{id}`) and the caller, with
/// nothing read yet: for a handler that checks the caller's right in its own statement (the
/// status poll). A malformed id → 404, as an unknown one.
#[derive(Debug, Clone)]
pub struct PortfolioAccess {
    pub portfolio_id: Uuid,
    pub user: AuthUser,
}

impl PortfolioAccess {
    async fn from_route(
        parts: &mut Parts,
        state: &AppState,
        user: AuthUser,
    ) -> Result<Self, ApiError> {
        let AppPath(params): AppPath<std::collections::HashMap<String, String>> =
            AppPath::from_request_parts(parts, state).await?;
        let portfolio_id = params
            .get("portfolio_id")
            .or_else(|| params.get("id"))
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .ok_or(ApiError::NotFound("portfolio"))?;
        Ok(Self { portfolio_id, user })
    }

    /// The owner a read must match: the caller, or `None` for an admin (who reads any).
    pub fn owner(&self) -> Option<Uuid> {
        (!self.user.is_admin).then_some(self.user.id)
    }
}

impl FromRequestParts<AppState> for PortfolioAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        Self::from_route(parts, state, user).await
    }
}

/// The portfolio named by the route's `{portfolio_id}` (or `{id}`), when the caller may read
/// it: its owner, or an admin. Unknown, malformed or someone else's → 404, never 403.
#[derive(Debug, Clone)]
pub struct ReadablePortfolio {
    pub portfolio: db::portfolios::Portfolio,
    pub user: AuthUser,
}

impl ReadablePortfolio {
    async fn load(parts: &mut Parts, state: &AppState, user: AuthUser) -> Result<Self, ApiError> {
        let access = PortfolioAccess::from_route(parts, state, user).await?;
        let found = match access.owner() {
            None => db::portfolios::find(&state.db, access.portfolio_id).await?,
            Some(owner) => {
                db::portfolios::find_owned(&state.db, access.portfolio_id, owner).await?
            }
        };
        let portfolio = found.ok_or(ApiError::NotFound("portfolio"))?;
        Ok(Self {
            portfolio,
            user: access.user,
        })
    }
}

impl FromRequestParts<AppState> for ReadablePortfolio {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        Self::load(parts, state, user).await
    }
}

/// [`ReadablePortfolio`] for the endpoints a browser opens without headers: the token may
/// also come from `?access_token=` (see [`QueryAuthUser`]).
#[derive(Debug, Clone)]
pub struct QueryReadablePortfolio(pub ReadablePortfolio);

impl FromRequestParts<AppState> for QueryReadablePortfolio {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let QueryAuthUser(user) = QueryAuthUser::from_request_parts(parts, state).await?;
        Ok(Self(ReadablePortfolio::load(parts, state, user).await?))
    }
}
