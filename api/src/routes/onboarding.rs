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
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sigmasight_shared::csv_import::{self, CsvError, ParsedPosition, MAX_CSV_BYTES};
use sigmasight_shared::db::{self, portfolios};
use sigmasight_shared::queue;
use std::str::FromStr;
use uuid::Uuid;

/// Bodies up to this size are read so an oversized CSV gets ERR_CSV_001 rather than a reset.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Account types the original form offers.
pub const ACCOUNT_TYPES: [&str; 9] = [
    "taxable", "ira", "roth_ira", "401k", "403b", "529", "hsa", "trust", "other",
];

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
    portfolio_name: Option<String>,
    account_name: Option<String>,
    description: Option<String>,
    account_type: Option<String>,
    equity_balance: Option<String>,
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
        let slot = match name.as_str() {
            "portfolio_name" => &mut form.portfolio_name,
            "account_name" => &mut form.account_name,
            "description" => &mut form.description,
            "account_type" => &mut form.account_type,
            "equity_balance" => &mut form.equity_balance,
            _ => continue,
        };
        *slot = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    }
    Ok(form)
}

fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    code: &'static str,
    max: usize,
) -> Result<&'a str, ApiError> {
    let v = value
        .as_deref()
        .ok_or_else(|| ApiError::field(code, field, format!("{field} is required")))?;
    if v.chars().count() > max {
        return Err(ApiError::field(
            code,
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(v)
}

fn equity_balance(value: Option<&str>) -> Result<Option<Decimal>, ApiError> {
    let Some(raw) = value else { return Ok(None) };
    let bad = || {
        ApiError::field(
            "ERR_PORT_005",
            "equity_balance",
            "equity_balance must be a number greater than 0 and at most 1,000,000,000,000",
        )
    };
    let v = Decimal::from_str(raw).map_err(|_| bad())?;
    if v <= Decimal::ZERO || v > Decimal::from(1_000_000_000_000_i64) {
        return Err(bad());
    }
    Ok(Some(v.round_dp(2)))
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

/// Σ |qty · entry price · multiplier|: the equity balance when the form gives none.
fn invested(positions: &[ParsedPosition]) -> Decimal {
    positions
        .iter()
        .map(|p| {
            (p.quantity
                * p.entry_price
                * Decimal::from(if p.position_type.is_option() { 100 } else { 1 }))
            .abs()
        })
        .sum::<Decimal>()
        .round_dp(2)
}

async fn create_portfolio(
    State(state): State<AppState>,
    user: AuthUser,
    multipart: Multipart,
) -> Result<impl IntoResponse, ApiError> {
    let form = read_form(multipart).await?;
    let portfolio_name = required(&form.portfolio_name, "portfolio_name", "ERR_PORT_002", 255)?;
    let account_name = required(&form.account_name, "account_name", "ERR_PORT_003", 100)?;
    if form
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(ApiError::field(
            "ERR_PORT_004",
            "description",
            "description must be at most 1000 characters",
        ));
    }
    let account_type = form
        .account_type
        .as_deref()
        .unwrap_or("taxable")
        .to_ascii_lowercase();
    if !ACCOUNT_TYPES.contains(&account_type.as_str()) {
        return Err(ApiError::field(
            "ERR_PORT_009",
            "account_type",
            format!("account_type must be one of {}", ACCOUNT_TYPES.join(", ")),
        ));
    }
    let given_balance = equity_balance(form.equity_balance.as_deref())?;
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
    let balance = given_balance.unwrap_or_else(|| invested(&positions));

    let portfolio_id = Uuid::new_v4();
    let mut tx = state.db.begin().await?;
    let new = portfolios::NewPortfolio {
        id: portfolio_id,
        user_id: user.id,
        name: portfolio_name,
        account_name,
        account_type: &account_type,
        description: form.description.as_deref(),
        equity_balance: balance,
        equity_balance_given: given_balance.is_some(),
    };
    if let Err(e) = portfolios::insert(&mut *tx, &new).await {
        if db::is_unique_violation(&e, portfolios::ACCOUNT_NAME_UNIQUE) {
            return Err(ApiError::Conflict {
                code: "ERR_PORT_001",
                message: "account name already in use".into(),
                details: json!({ "field": "account_name" }),
            });
        }
        return Err(e.into());
    }
    db::positions::insert_many(&mut tx, portfolio_id, &positions).await?;
    let run = queue::enqueue_onboarding(
        &mut tx,
        portfolio_id,
        sigmasight_shared::domain::RunSource::Onboarding,
        state.config.max_attempts,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(portfolio.id = %portfolio_id, run.id = %run.id, positions = positions.len(), "portfolio created");

    let status_url = format!("/api/v1/onboarding/status/{portfolio_id}");
    let body = CreatePortfolioResponse {
        portfolio_id,
        run_id: run.id,
        status_url,
        portfolio_name: portfolio_name.to_owned(),
        account_name: account_name.to_owned(),
        account_type,
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
