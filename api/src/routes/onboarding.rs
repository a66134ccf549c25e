//! `POST /api/v1/onboarding/create-portfolio` (multipart form + CSV) and the CSV template.
//! Portfolio, positions and the queued onboarding run are written in ONE transaction.

use crate::error::ApiError;
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use serde_json::json;
use sigmasight_shared::csv_import::{self, CsvError, MAX_CSV_BYTES};
use sigmasight_shared::onboarding;
use uuid::Uuid;

/// Bodies up to this size are read so an oversized CSV gets ERR_CSV_001 rather than a reset.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Onboarding routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/onboarding/create-portfolio",
            post(create_portfolio).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/api/v1/onboarding/csv-template", get(csv_template))
}

/// The form, as received.
#[derive(Debug, Default)]
struct Form {
    fields: onboarding::FormInput,
    csv_name: Option<String>,
    csv: Option<Vec<u8>>,
}

/// `next_step` of the create response.
#[derive(Debug, Serialize)]
pub struct NextStep {
    pub action: &'static str,
    pub endpoint: String,
    pub description: &'static str,
}

/// 201 body: our fields plus every field of the original frontend's `CreatePortfolioResponse`.
#[derive(Debug, Serialize)]
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

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(MAX_UPLOAD_BYTES);
    }
    ApiError::Invalid {
        status: StatusCode::BAD_REQUEST,
        code: "ERR_FORM_001",
        message: format!("malformed multipart form: {}", e.body_text()),
        details: json!(null),
    }
}

async fn read_form(mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csv_file" {
            form.csv_name = Some(field.file_name().unwrap_or_default().to_owned());
            form.csv = Some(field.bytes().await.map_err(multipart_error)?.to_vec());
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        let fields = &mut form.fields;
        let slot = match name.as_str() {
            "portfolio_name" => &mut fields.portfolio_name,
            "account_name" => &mut fields.account_name,
            "description" => &mut fields.description,
            "account_type" => &mut fields.account_type,
            "equity_balance" => &mut fields.equity_balance,
            _ => continue,
        };
        *slot = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    }
    Ok(form)
}

/// The HTTP status of a CSV problem: 413 too large, 422 invalid rows, 400 otherwise.
fn csv_status(e: &CsvError) -> StatusCode {
    match e {
        CsvError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        CsvError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn csv_error(e: CsvError) -> ApiError {
    let status = csv_status(&e);
    match e {
        CsvError::Validation(errors) => {
            let n = errors.len();
            let items: Vec<serde_json::Value> = errors
                .iter()
                .map(|r| json!({ "row": r.row, "column": r.column, "field": r.column, "symbol": r.symbol, "code": r.code, "message": r.message }))
                .collect();
            ApiError::Invalid {
                status,
                code: "ERR_CSV_VALIDATION",
                message: format!("CSV validation failed with {n} error(s)"),
                details: json!({ "errors": items, "total_errors": n }),
            }
        }
        CsvError::TooLarge { size } => too_large(size),
        other => {
            let column = match &other {
                CsvError::MissingColumn { column }
                | CsvError::UnknownColumn { column }
                | CsvError::RepeatedColumn { column } => Some(column.clone()),
                _ => None,
            };
            // A missing required column is also listed like every row error, so the
            // frontend's error list (details.errors[]) shows it.
            let errors = match &other {
                CsvError::MissingColumn { column } => vec![json!({
                    "row": 1, "column": column, "field": column, "symbol": null,
                    "code": other.code(), "message": other.to_string()
                })],
                _ => Vec::new(),
            };
            ApiError::Invalid {
                status,
                code: other.code(),
                message: other.to_string(),
                details: json!({ "column": column, "errors": errors, "total_errors": errors.len() }),
            }
        }
    }
}

async fn create_portfolio(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let form = read_form(multipart).await?;
    let valid = onboarding::validate(&form.fields)
        .map_err(|e| ApiError::field(e.code, e.field, e.message))?;
    let csv = form
        .csv
        .as_deref()
        .ok_or_else(|| ApiError::field("ERR_CSV_003", "csv_file", "csv_file is required"))?;
    let positions = csv_import::parse_positions(
        form.csv_name.as_deref().unwrap_or_default(),
        csv,
        csv_import::today_in_new_york(),
    )
    .map_err(csv_error)?;
    let created = onboarding::create(
        &state.db,
        user.id,
        &valid,
        &positions,
        state.config.max_attempts,
    )
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
            (CsvError::Validation(Vec::new()), "ERR_CSV_VALIDATION", 422),
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
