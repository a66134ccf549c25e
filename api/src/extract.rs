//! Extractors: the authenticated user from a Bearer JWT, and for the endpoints a browser
//! opens without headers (EventSource, a download link) also from `?access_token=`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sigmasight_shared::{auth, db};
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
            .ok_or_else(|| ApiError::Unauthorized("authorization must be a Bearer token".into()))?;
        authenticate(state, token).await
    }
}

/// Verifies a token and finds (or creates) its user.
async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = auth::verify_hs256(token.trim(), state.config.jwt_secret.expose())
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let id = db::users::find_or_create(&state.db, &claims.sub).await?;
    Ok(AuthUser {
        id,
        sub: claims.sub,
        is_admin: claims.admin,
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
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        authenticate(state, token).await.map(Self)
    }
}
