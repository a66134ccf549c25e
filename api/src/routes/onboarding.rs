//! `POST /api/v1/onboarding/create-portfolio` (multipart form + CSV) and the CSV template.
//! Portfolio, positions and the queued onboarding run are written in ONE transaction.
//!
//! Reading the form is bounded: the body up to [`MAX_UPLOAD_BYTES`], the CSV up to
//! [`MAX_CSV_BYTES`] and each text field up to [`onboarding::MAX_FIELD_BYTES`], each
//! refused as soon as it is passed; unknown fields are skipped unread; a field given twice
//! is refused. The rules themselves live in `shared` (`onboarding`, `csv_import`).

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::multipart::{Field, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use serde_json::json;
use sigmasight_shared::csv_import::{self, shown, CsvError, MAX_CSV_BYTES};
use sigmasight_shared::onboarding::{self, FieldError, UploadLimits};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// Bodies up to this size are parsed as a form; an oversized CSV is refused (ERR_CSV_001) as
/// soon as it passes 10 MiB, and the server loop then drains the rest of the body (up to
/// `server::LINGER_BYTES`) so the client reads the 413 rather than a reset.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Onboarding routes.
pub fn router() -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(create_portfolio);
    OpenApiRouter::new()
        .routes((
            schemas,
            paths,
            upload.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        ))
        .routes(routes!(csv_template))
}

/// The upload form (`multipart/form-data`), as documented.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The positions file: a `.csv` of at most 10 MB, UTF-8; required columns Symbol,
    /// Quantity, Entry Price Per Share, Entry Date (see `GET /api/v1/onboarding/csv-template`).
    #[schema(value_type = String, format = Binary)]
    csv_file: Vec<u8>,
    /// 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    portfolio_name: String,
    /// 1 to 100 characters, unique per user (ERR_PORT_001 otherwise).
    #[schema(min_length = 1, max_length = 100)]
    account_name: String,
    /// taxable (default), ira, roth_ira, 401k, 403b, 529, hsa, trust or other.
    #[schema(example = "taxable")]
    account_type: Option<String>,
    /// Up to 1,000 characters.
    #[schema(max_length = 1000)]
    description: Option<String>,
    /// Cash plus invested, > 0 after rounding to cents, at most 1e12; the CSV's number rules
    /// (no exponent, no `_`). Default: the invested amount (fully invested).
    #[schema(example = "100000.00")]
    equity_balance: Option<String>,
}

/// The form, as received.
#[derive(Debug, Default)]
struct Form {
    fields: onboarding::FormInput,
    csv_name: Option<String>,
    csv: Option<Vec<u8>>,
}

/// `next_step` of the create response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextStep {
    pub action: &'static str,
    pub endpoint: String,
    pub description: &'static str,
}

/// 201 body: our fields plus every field of the original frontend's `CreatePortfolioResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatePortfolioResponse {
    pub portfolio_id: Uuid,
    pub run_id: Uuid,
    pub status_url: String,
    pub portfolio_name: String,
    pub account_name: String,
    pub account_type: String,
    pub equity_balance: f64,
    pub positions_imported: usize,
    pub positions_failed: usize,
    pub total_positions: usize,
    pub message: String,
    pub next_step: NextStep,
}

fn too_large(size: usize) -> ApiError {
    ApiError::Invalid {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "ERR_CSV_001",
        message: format!("CSV file is larger than 10 MB ({MAX_CSV_BYTES} bytes)"),
        details: json!({ "size": size, "max_bytes": MAX_CSV_BYTES }),
    }
}

fn malformed(message: String) -> ApiError {
    ApiError::Invalid {
        status: StatusCode::BAD_REQUEST,
        code: "ERR_FORM_001",
        message: format!("malformed multipart form: {message}"),
        details: json!(null),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(MAX_UPLOAD_BYTES);
    }
    malformed(shown(&e.body_text(), csv_import::MAX_ECHO_CHARS_DEFAULT))
}

fn field_error(e: FieldError) -> ApiError {
    ApiError::field(e.code, e.field, e.message)
}

/// Which form field a part fills; `None` for names the form does not have.
fn slot<'a>(form: &'a mut Form, name: &str) -> Option<&'a mut Option<String>> {
    let fields = &mut form.fields;
    Some(match name {
        "portfolio_name" => &mut fields.portfolio_name,
        "account_name" => &mut fields.account_name,
        "description" => &mut fields.description,
        "account_type" => &mut fields.account_type,
        "equity_balance" => &mut fields.equity_balance,
        _ => return None,
    })
}

/// A field's bytes, or `None` as soon as there are more than `max`.
async fn read_at_most(field: &mut Field<'_>, max: usize) -> Result<Option<Vec<u8>>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

fn repeated(name: &str) -> ApiError {
    ApiError::Invalid {
        status: StatusCode::BAD_REQUEST,
        code: "ERR_FORM_003",
        message: format!("the form field {name} is given more than once"),
        details: json!({ "field": name }),
    }
}

/// The `boundary` parameter of a multipart content type, unquoted (`None` when absent).
fn boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// An empty boundary (`boundary=`) delimits nothing: the form is malformed, not empty
/// (multer would read it as a form without fields).
fn check_boundary(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match boundary(content_type) {
        Some("") => Err(malformed("the multipart boundary is empty".into())),
        _ => Ok(()),
    }
}

async fn read_form(
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Form, ApiError> {
    let mut multipart = multipart.map_err(|e| malformed(e.body_text()))?;
    check_boundary(headers)?;
    let mut form = Form::default();
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csv_file" {
            if form.csv.is_some() {
                return Err(repeated(&name));
            }
            let file_name = field.file_name().unwrap_or_default().to_owned();
            onboarding::printable("csv_file", &file_name, false).map_err(field_error)?;
            let bytes = read_at_most(&mut field, MAX_CSV_BYTES)
                .await?
                .ok_or_else(|| too_large(MAX_CSV_BYTES + 1))?;
            form.csv_name = Some(file_name);
            form.csv = Some(bytes);
            continue;
        }
        let Some(slot) = slot(&mut form, &name) else {
            continue; // not a field of the form: skipped unread
        };
        if slot.is_some() {
            return Err(repeated(&name));
        }
        let Some(bytes) = read_at_most(&mut field, onboarding::MAX_FIELD_BYTES).await? else {
            return Err(onboarding::oversized(&name)
                .map(field_error)
                .unwrap_or_else(|| malformed(format!("the field {name} is too long"))));
        };
        *slot = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(form)
}

/// The HTTP status of a CSV problem: 413 too large, 422 invalid rows or limits, 400 otherwise.
fn csv_status(e: &CsvError) -> StatusCode {
    match e {
        CsvError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        CsvError::Validation { .. }
        | CsvError::TooManyPositions { .. }
        | CsvError::NotionalTooLarge { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn csv_error(e: CsvError) -> ApiError {
    let status = csv_status(&e);
    let code = e.code();
    let message = e.to_string();
    let details = match e {
        CsvError::Validation { errors, total } => {
            let items: Vec<serde_json::Value> = errors
                .iter()
                .map(|r| json!({ "row": r.row, "column": r.column, "field": r.column, "symbol": r.symbol, "code": r.code, "message": r.message }))
                .collect();
            return ApiError::Invalid {
                status,
                code,
                message: format!("CSV validation failed with {total} error(s)"),
                details: json!({ "errors": items, "total_errors": total, "truncated": total > items.len() }),
            };
        }
        CsvError::TooLarge { size } => return too_large(size),
        // A missing required column is also listed like every row error, so the
        // frontend's error list (details.errors[]) shows it.
        CsvError::MissingColumn { column, row } => json!({
            "column": column,
            "errors": [{ "row": row, "column": column, "field": column, "symbol": null, "code": code, "message": message }],
            "total_errors": 1,
        }),
        CsvError::UnknownColumn { column } | CsvError::RepeatedColumn { column } => {
            json!({ "column": column, "errors": [], "total_errors": 0 })
        }
        CsvError::TooManyPositions { max, row } => {
            json!({ "max_positions": max, "row": row, "errors": [], "total_errors": 0 })
        }
        CsvError::NotionalTooLarge { max } => {
            json!({ "max_notional": max.to_string(), "errors": [], "total_errors": 0 })
        }
        _ => json!({ "column": null, "errors": [], "total_errors": 0 }),
    };
    ApiError::Invalid {
        status,
        code,
        message,
        details,
    }
}

fn limits(state: &AppState) -> &UploadLimits {
    &state.config.upload_limits
}

/// Creates a portfolio from a CSV of positions and queues its onboarding run, in one
/// transaction: on any error nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/onboarding/create-portfolio",
    tag = "onboarding",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Portfolio, positions and the queued run", body = CreatePortfolioResponse),
        (status = 400, description = "A malformed form (ERR_FORM_001), a bad or missing field (ERR_PORT_*, field in details), a file that is not a CSV or not UTF-8, an unknown or repeated column (ERR_CSV_*)", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "The account name is already used by this user (ERR_PORT_001)", body = crate::openapi::ErrorEnvelope),
        (status = 413, description = "The CSV is over 10 MB (ERR_CSV_001)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "Rows with problems (ERR_CSV_VALIDATION: details.errors[] with row, column, field, symbol, code, message; the first 100, details.total_errors counts all), too many positions, or a notional over the limit", body = crate::openapi::ErrorEnvelope),
        (status = 429, description = "Over the per-user upload rate (rate_limited), with Retry-After", body = crate::openapi::ErrorEnvelope)
    )
)]
async fn create_portfolio(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<impl IntoResponse, ApiError> {
    // Per-user upload rate (SIGMASIGHT_UPLOADS_PER_MINUTE), before the body is parsed.
    // A refused body is drained by the server loop (`server::LINGER_BYTES`), so the client
    // reads this answer rather than a reset.
    state.limits.upload(&user.sub)?;
    let form = read_form(&headers, multipart).await?;
    let valid = onboarding::validate(&form.fields, limits(&state)).map_err(field_error)?;
    let csv = form
        .csv
        .as_deref()
        .ok_or_else(|| ApiError::field("ERR_CSV_003", "csv_file", "csv_file is required"))?;
    let positions = csv_import::parse_positions_with(
        form.csv_name.as_deref().unwrap_or_default(),
        csv,
        csv_import::today_in_new_york(),
        &limits(&state).csv,
    )
    .map_err(csv_error)?;
    let upload = onboarding::prepare(&valid, &positions, limits(&state)).map_err(field_error)?;
    let created = onboarding::create(&state.db, user.id, &upload, state.config.max_attempts)
        .await
        .map_err(|e| match e {
            onboarding::CreateError::AccountNameTaken => ApiError::Conflict {
                code: "ERR_PORT_001",
                message: "account name already in use".into(),
                details: json!({ "field": "account_name" }),
            },
            onboarding::CreateError::Database(e) => e.into(),
        })?;
    let (portfolio_id, run, balance) = (created.portfolio_id, created.run, created.equity_balance);
    tracing::info!(portfolio.id = %portfolio_id, run.id = %run.id, positions = positions.len(), "portfolio created");

    let status_url = format!("/api/v1/onboarding/status/{portfolio_id}");
    let body = CreatePortfolioResponse {
        portfolio_id,
        run_id: run.id,
        status_url,
        portfolio_name: valid.portfolio_name,
        account_name: valid.account_name,
        account_type: valid.account_type,
        equity_balance: balance.to_f64().unwrap_or(0.0),
        positions_imported: positions.len(),
        positions_failed: 0,
        total_positions: positions.len(),
        message: format!(
            "Portfolio created with {} positions; analytics are being calculated",
            positions.len()
        ),
        next_step: NextStep {
            action: "calculate",
            endpoint: format!("/api/v1/portfolios/{portfolio_id}/calculate"),
            description: "Analytics run automatically; calling calculate returns the active run",
        },
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// An example file that imports as it is, with `#` lines explaining the columns.
#[utoipa::path(
    get,
    path = "/api/v1/onboarding/csv-template",
    tag = "onboarding",
    responses((status = 200, description = "The template (`Content-Disposition: attachment`)", content_type = "text/csv; charset=utf-8", body = String))
)]
async fn csv_template() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"sigmasight_portfolio_template.csv\"",
            ),
        ],
        csv_import::template_csv(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_read_from_the_content_type_quoted_or_not() {
        let b = |ct: &'static str| boundary(ct);
        assert_eq!(b("multipart/form-data; boundary=abc"), Some("abc"));
        assert_eq!(
            b("multipart/form-data; charset=utf-8; BOUNDARY=\"a b\""),
            Some("a b")
        );
        assert_eq!(b("multipart/form-data; boundary="), Some(""));
        assert_eq!(b("multipart/form-data; boundary=\"\""), Some(""));
        assert_eq!(b("multipart/form-data"), None);
    }

    #[test]
    fn every_csv_error_has_its_code_and_http_status() {
        let cases = [
            (CsvError::TooLarge { size: 1 }, "ERR_CSV_001", 413),
            (
                CsvError::BadFileName { name: "x".into() },
                "ERR_CSV_002",
                400,
            ),
            (CsvError::Empty, "ERR_CSV_003", 400),
            (CsvError::NoDataRows, "ERR_CSV_003", 400),
            (
                CsvError::MissingColumn {
                    column: "Symbol".into(),
                    row: 1,
                },
                "ERR_CSV_004",
                400,
            ),
            (CsvError::NoHeader, "ERR_CSV_005", 400),
            (
                CsvError::Malformed {
                    message: "x".into(),
                },
                "ERR_CSV_006",
                400,
            ),
            (
                CsvError::UnknownColumn { column: "x".into() },
                "ERR_CSV_007",
                400,
            ),
            (
                CsvError::RepeatedColumn { column: "x".into() },
                "ERR_CSV_007",
                400,
            ),
            (
                CsvError::TooManyPositions { max: 1, row: 3 },
                "ERR_CSV_008",
                422,
            ),
            (
                CsvError::NotionalTooLarge {
                    max: rust_decimal::Decimal::ONE,
                },
                "ERR_CSV_009",
                422,
            ),
            (
                CsvError::Validation {
                    errors: Vec::new(),
                    total: 0,
                },
                "ERR_CSV_VALIDATION",
                422,
            ),
        ];
        for (error, code, status) in cases {
            assert_eq!(
                (error.code(), csv_status(&error).as_u16()),
                (code, status),
                "{error}"
            );
            assert!(!error.to_string().is_empty());
        }
    }
}
