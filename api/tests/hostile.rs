//! Hostile uploads, one table: each case is posted through the real router over a real
//! Postgres; its status, `error.code`, first CSV error (row, column, code), the size of the
//! answer and what was written (nothing, on any error) are checked.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sigmasight_api::app;
use sigmasight_api::state::AppState;
use sigmasight_shared::csv_import::{self, MAX_CSV_BYTES};
use sigmasight_shared::db::MIGRATOR;
use sigmasight_shared::onboarding::UploadLimits;
use sqlx::PgPool;
use std::sync::Arc;
use tower::ServiceExt;

const HEADER: &str = "Symbol,Quantity,Entry Price Per Share,Entry Date";
const FULL_HEADER: &str = "Symbol,Quantity,Entry Price Per Share,Entry Date,Investment Class,Investment Subtype,Underlying Symbol,Strike Price,Expiration Date,Option Type,Exit Date,Exit Price Per Share";
const BOUNDARY: &str = "XBOUNDARYx42";
/// An error answer stays this small unless the case says otherwise.
const SMALL: usize = 8 * 1024;

/// The handler tests' state, with these upload limits.
fn state(pool: PgPool, upload_limits: UploadLimits) -> AppState {
    let mut state = common::state(pool);
    let mut config = (*state.config).clone();
    config.upload_limits = upload_limits;
    state.config = Arc::new(config);
    state
}

/// A request body.
enum Req {
    /// A multipart form: text fields (the runner adds `portfolio_name` and a per-case
    /// `account_name` unless given) and `(file name, bytes)` parts named `csv_file`.
    Form {
        fields: Vec<(&'static str, Vec<u8>)>,
        files: Vec<(String, Vec<u8>)>,
    },
    /// Any content type and bytes.
    Raw {
        content_type: &'static str,
        body: Vec<u8>,
    },
}

/// What a case must answer.
struct Case {
    name: &'static str,
    req: Req,
    limits: UploadLimits,
    status: StatusCode,
    /// `error.code`; `None` for a 201.
    code: Option<&'static str>,
    /// `details.field` of a form error.
    field: Option<&'static str>,
    /// The first `details.errors[]` entry: (row, column, code).
    first: Option<(u64, &'static str, &'static str)>,
    /// Positions written by a 201.
    positions: i64,
    /// The answer's size bound in bytes.
    max_bytes: usize,
    /// Anything else to check on the JSON answer.
    extra: Option<fn(&Value)>,
}

impl Case {
    fn new(name: &'static str, req: Req, status: StatusCode, code: Option<&'static str>) -> Self {
        Self {
            name,
            req,
            limits: UploadLimits::default(),
            status,
            code,
            field: None,
            first: None,
            positions: 0,
            max_bytes: SMALL,
            extra: None,
        }
    }

    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn first(mut self, row: u64, column: &'static str, code: &'static str) -> Self {
        self.first = Some((row, column, code));
        self
    }

    fn created(name: &'static str, req: Req, positions: i64) -> Self {
        Self {
            positions,
            ..Self::new(name, req, StatusCode::CREATED, None)
        }
    }
}

fn csv(text: impl Into<Vec<u8>>) -> Req {
    Req::Form {
        fields: Vec::new(),
        files: vec![("p.csv".into(), text.into())],
    }
}

fn files(files: Vec<(&str, Vec<u8>)>) -> Req {
    Req::Form {
        fields: Vec::new(),
        files: files.into_iter().map(|(n, b)| (n.to_owned(), b)).collect(),
    }
}

fn csv_with(fields: &[(&'static str, &str)], text: impl Into<Vec<u8>>) -> Req {
    Req::Form {
        fields: fields
            .iter()
            .map(|(n, v)| (*n, v.as_bytes().to_vec()))
            .collect(),
        files: vec![("p.csv".into(), text.into())],
    }
}

fn good_csv() -> String {
    format!("{HEADER}\nAAPL,10,150.00,2024-01-15\nMSFT,-5,300.00,2024-02-01\n")
}

fn one_row(row: &str) -> String {
    format!("{FULL_HEADER}\n{row}\n")
}

fn multipart_body(
    case: &str,
    fields: &[(&'static str, Vec<u8>)],
    files: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let mut all: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, default) in [
        ("portfolio_name", "Hostile".to_string()),
        ("account_name", case.to_string()),
    ] {
        if !fields.iter().any(|(n, _)| *n == name) {
            all.push((name, default.into_bytes()));
        }
    }
    all.extend(fields.iter().map(|(n, v)| (*n, v.clone())));
    let mut body = Vec::new();
    for (name, value) in all {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(&value);
        body.extend(b"\r\n");
    }
    for (file_name, bytes) in files {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn request(case: &Case) -> Request<Body> {
    let (content_type, body) = match &case.req {
        Req::Form { fields, files } => (
            format!("multipart/form-data; boundary={BOUNDARY}"),
            multipart_body(case.name, fields, files),
        ),
        Req::Raw { content_type, body } => ((*content_type).to_owned(), body.clone()),
    };
    let token = common::token(case.name, false);
    Request::post("/api/v1/onboarding/create-portfolio")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request")
}

async fn counts(pool: &PgPool) -> (i64, i64, i64) {
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("select count(*) from {table}"))
            .fetch_one(pool)
            .await
            .expect("count")
    };
    (
        count("portfolios").await,
        count("positions").await,
        count("runs").await,
    )
}

async fn run(pool: &PgPool, case: Case) {
    let before = counts(pool).await;
    let response = app(state(pool.clone(), case.limits.clone()))
        .oneshot(request(&case))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let name = case.name;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(600)]).into_owned();
    assert_eq!(status, case.status, "{name}: {shown}");
    assert!(
        bytes.len() <= case.max_bytes,
        "{name}: the answer is {} bytes, more than {}",
        bytes.len(),
        case.max_bytes
    );
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {shown}"));
    let error = &body["error"];
    assert_eq!(error["code"].as_str(), case.code, "{name}: {shown}");
    if let Some(field) = case.field {
        assert_eq!(error["details"]["field"], field, "{name}: {shown}");
    }
    if let Some((row, column, code)) = case.first {
        let first = &error["details"]["errors"][0];
        assert_eq!(
            (
                first["row"].as_u64(),
                first["column"].as_str(),
                first["code"].as_str()
            ),
            (Some(row), Some(column), Some(code)),
            "{name}: {shown}"
        );
        assert_eq!(first["field"], first["column"], "{name}");
    }
    if let Some(extra) = case.extra {
        extra(&body);
    }
    let after = counts(pool).await;
    let expected = if case.code.is_none() {
        (before.0 + 1, before.1 + case.positions, before.2 + 1)
    } else {
        before
    };
    assert_eq!(
        after, expected,
        "{name}: (portfolios, positions, runs) written"
    );
}

fn bad_lines(n: usize) -> String {
    let mut text = String::with_capacity(n * 20 + 64);
    text.push_str(HEADER);
    text.push('\n');
    for _ in 0..n {
        text.push_str("S,x,1.00,bad\n");
    }
    text
}

fn many_errors_limits() -> UploadLimits {
    let mut limits = UploadLimits::default();
    limits.csv.max_positions = 1_000_000;
    limits
}

fn three_hundred_thousand_errors(body: &Value) {
    let details = &body["error"]["details"];
    assert_eq!(details["total_errors"], 600_000, "two errors per line");
    assert_eq!(details["errors"].as_array().map(Vec::len), Some(100));
    assert_eq!(details["truncated"], true);
    assert_eq!(details["errors"][99]["row"], 51, "the first 100 by row");
}

fn too_many_positions_at_row_5002(body: &Value) {
    let details = &body["error"]["details"];
    assert_eq!(
        (details["row"].as_u64(), details["max_positions"].as_u64()),
        (Some(5002), Some(5000))
    );
}

fn huge_symbol_is_cut(body: &Value) {
    let first = &body["error"]["details"]["errors"][0];
    let symbol = first["symbol"].as_str().unwrap_or_default();
    assert_eq!(symbol.chars().count(), 100);
    assert!(symbol.ends_with('…'));
    for e in body["error"]["details"]["errors"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(
            e["message"].as_str().unwrap_or_default().chars().count() < 300,
            "{e}"
        );
    }
}

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let nine_mb = format!(
        "{HEADER}\n{}$,1,1.00,2024-01-02\n",
        "Z".repeat(9 * 1024 * 1024)
    );
    let valid_rows: String = (0..=5_000)
        .map(|i| format!("S{i},1,1.00,2024-01-02\n"))
        .collect();
    let comments_then_bad = format!(
        "# 1\n# 2\n# 3\n\n# 5\n  # 6\n{HEADER}\nAAPL,1,1.00,2024-01-02\nMSFT,x,1.00,2024-01-02\n"
    );
    let nul = |field: &'static str, value: &'static str| {
        Case::new(
            field,
            csv_with(&[(field, value)], good_csv()),
            S::UNPROCESSABLE_ENTITY,
            Some("ERR_FORM_002"),
        )
        .field(field)
    };
    let mut invalid_utf8 = format!("{HEADER}\nAAPL,1,1.00,2024-01-02\n").into_bytes();
    invalid_utf8.extend([0xff, 0xfe]);
    vec![
        // 1. The error list is capped, values cut, and the parser counts the rest.
        Case {
            limits: many_errors_limits(),
            max_bytes: 64 * 1024,
            extra: Some(three_hundred_thousand_errors),
            ..Case::new("errors_300k", csv(bad_lines(300_000)), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
                .first(2, "Quantity", "ERR_POS_005")
        },
        Case {
            extra: Some(huge_symbol_is_cut),
            ..Case::new("symbol_9mb", csv(nine_mb), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
                .first(2, "Symbol", "ERR_POS_002")
        },
        // 2. Too many positions: stops early under the default limit.
        Case {
            extra: Some(too_many_positions_at_row_5002),
            ..Case::new("errors_300k_default_limits", csv(bad_lines(300_000)), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_008"))
        },
        Case::new("positions_5001", csv(format!("{HEADER}\n{valid_rows}")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_008")),
        Case {
            limits: {
                let mut l = UploadLimits::default();
                l.csv.max_positions = 1;
                l
            },
            ..Case::new("positions_limit_configured", csv(good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_008"))
        },
        // 3. Numbers: bounds, no panic, nothing that overflows a column.
        Case::new("probe_panic", csv(format!("{HEADER}\nAAPL,9999999999999999999999,99999999999999999.00,2025-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Quantity", "ERR_POS_024"),
        Case::new("quantity_1e22_with_equity", csv_with(&[("equity_balance", "1000")], format!("{HEADER}\nAAPL,10000000000000000000000,1.00,2025-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Quantity", "ERR_POS_024"),
        Case::new("price_1e18_with_equity", csv_with(&[("equity_balance", "1000")], format!("{HEADER}\nAAPL,1,1000000000000000000.00,2025-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Entry Price Per Share", "ERR_POS_024"),
        Case::new("strike_beyond", csv(one_row("C1,1,1.00,2024-01-02,OPTIONS,,SPY,1000000000.01,2024-06-21,CALL,,")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Strike Price", "ERR_POS_024"),
        Case::new("thirty_digit_quantity", csv(format!("{HEADER}\nAAPL,{},1.00,2025-01-02\n", "9".repeat(30))), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Quantity", "ERR_POS_024"),
        Case::new("notional_beyond", csv_with(&[("equity_balance", "1000")], format!("{HEADER}\nAAPL,1000000000000,1000000000,2025-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_009")),
        Case::new("invested_rounds_to_zero", csv(format!("{HEADER}\nAAPL,0.000001,0.01,2025-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005"))
            .field("equity_balance"),
        Case::created("largest_accepted_values", csv_with(&[("equity_balance", "1000000000000")], one_row("AAPL,1000000000000,0.01,2024-01-02,PRIVATE,,,,,,2024-02-01,1.0000")), 1),
        // 4. Control characters, in every text field and every cell.
        nul("portfolio_name", "My\0Portfolio"),
        nul("account_name", "acct\0"),
        nul("account_type", "taxable\0"),
        nul("description", "desc \u{1b}[2J"),
        nul("equity_balance", "1000\0"),
        Case::created("description_with_tab_and_newline", csv_with(&[("description", "long\tshort\r\nsecond line")], good_csv()), 2),
        // A NUL in a part's headers is refused by the multipart parser itself.
        Case::new("nul_in_file_name", files(vec![("p\0.csv", good_csv().into_bytes())]), S::BAD_REQUEST, Some("ERR_FORM_001")),
        Case::new("tab_in_file_name", files(vec![("p\t.csv", good_csv().into_bytes())]), S::UNPROCESSABLE_ENTITY, Some("ERR_FORM_002"))
            .field("csv_file"),
        Case::new("c1_control_in_file_name", files(vec![("p\u{85}.csv", good_csv().into_bytes())]), S::UNPROCESSABLE_ENTITY, Some("ERR_FORM_002"))
            .field("csv_file"),
        Case::new("nul_in_cell", csv(format!("{HEADER}\nAAPL,1,1.00,2024-01-02\nMS\0FT,1,1.00,2024-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(3, "Symbol", "ERR_POS_025"),
        Case::new("tab_in_cell", csv(format!("{HEADER}\nAAPL,1\t,1.00,2024-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Quantity", "ERR_POS_025"),
        Case::new("newline_in_quoted_cell", csv(format!("{HEADER}\n\"AA\nPL\",1,1.00,2024-01-02\nMSFT,x,1.00,2024-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Symbol", "ERR_POS_025"),
        Case::new("nul_in_header", csv("Symbol\0,Quantity,Entry Price Per Share,Entry Date\nAAPL,1,1.00,2024-01-02\n"), S::BAD_REQUEST, Some("ERR_CSV_007")),
        // 5. equity_balance: the CSV's number rules, > 0 in cents.
        Case::new("equity_underscore", csv_with(&[("equity_balance", "1_000")], good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005")).field("equity_balance"),
        Case::new("equity_rounds_to_zero", csv_with(&[("equity_balance", "0.001")], good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005")).field("equity_balance"),
        Case::new("equity_exponent", csv_with(&[("equity_balance", "1e6")], good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005")).field("equity_balance"),
        Case::new("equity_beyond", csv_with(&[("equity_balance", "1000000000000.01")], good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_005")).field("equity_balance"),
        // 6. Row rules.
        Case::new("exit_price_without_date", csv(one_row("AAPL,1,1.00,2024-01-02,,,,,,,,2.00")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Exit Date", "ERR_POS_018"),
        Case::new("option_columns_on_private", csv(one_row("FUND,1,1.00,2024-01-02,PRIVATE,,,450,,,,")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Strike Price", "ERR_POS_026"),
        Case::new("option_columns_on_stock", csv(one_row("AAPL,1,1.00,2024-01-02,PUBLIC,STOCK,SPY,,,,,")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Underlying Symbol", "ERR_POS_026"),
        Case::new("symbol_dash", csv(format!("{HEADER}\n-,1,1.00,2024-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Symbol", "ERR_POS_003"),
        Case::new("symbol_dots", csv(format!("{HEADER}\n..,1,1.00,2024-01-02\n")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Symbol", "ERR_POS_003"),
        Case::new("strike_five_decimals", csv(one_row("C1,1,1.00,2024-01-02,OPTIONS,,SPY,450.00001,2024-06-21,CALL,,")), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(2, "Strike Price", "ERR_POS_020"),
        // 7. Rows are editor lines.
        Case::new("comments_then_bad_row_9", csv(comments_then_bad), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_VALIDATION"))
            .first(9, "Quantity", "ERR_POS_005"),
        Case::created("bom_crlf_comments", csv(format!("\u{feff}# c\r\n{HEADER}\r\n\r\nAAPL,1,1.00,2024-01-02\r\n# c\r\nMSFT,2,1.00,2024-01-02\r\n")), 2),
        // Bodies, content types, form shape.
        Case::new("csv_10mib_plus_1", csv(vec![b'a'; MAX_CSV_BYTES + 1]), S::PAYLOAD_TOO_LARGE, Some("ERR_CSV_001")),
        Case::new("body_over_32mib", csv_with(&[("unknown_field", &"x".repeat(33 * 1024 * 1024))], good_csv()), S::PAYLOAD_TOO_LARGE, Some("ERR_CSV_001")),
        Case::new("text_field_over_64kib", csv_with(&[("description", &"d".repeat(65 * 1024))], good_csv()), S::UNPROCESSABLE_ENTITY, Some("ERR_PORT_004")).field("description"),
        Case::new("json_content_type", Req::Raw { content_type: "application/json", body: b"{\"portfolio_name\":\"x\"}".to_vec() }, S::BAD_REQUEST, Some("ERR_FORM_001")),
        Case::new("multipart_without_boundary", Req::Raw { content_type: "multipart/form-data", body: b"--x\r\n".to_vec() }, S::BAD_REQUEST, Some("ERR_FORM_001")),
        // An empty boundary delimits nothing: multer read these as a form without fields (422).
        Case::new("multipart_empty_boundary", Req::Raw { content_type: "multipart/form-data; boundary=", body: b"----\r\n".to_vec() }, S::BAD_REQUEST, Some("ERR_FORM_001")),
        Case::new("multipart_empty_boundary_with_a_part", Req::Raw { content_type: "multipart/form-data;boundary=", body: b"--\r\nContent-Disposition: form-data; name=\"portfolio_name\"\r\n\r\nabc\r\n----\r\n".to_vec() }, S::BAD_REQUEST, Some("ERR_FORM_001")),
        Case::new("truncated_multipart", Req::Raw { content_type: "multipart/form-data; boundary=XBOUNDARYx42", body: b"--XBOUNDARYx42\r\nContent-Disposition: form-data; name=\"portfolio_name\"\r\n\r\nabc".to_vec() }, S::BAD_REQUEST, Some("ERR_FORM_001")),
        Case::new("missing_file", files(Vec::new()), S::UNPROCESSABLE_ENTITY, Some("ERR_CSV_003")).field("csv_file"),
        Case::new("duplicate_account_name", csv_with(&[("account_name", "one"), ("account_name", "two")], good_csv()), S::BAD_REQUEST, Some("ERR_FORM_003")).field("account_name"),
        Case::new("duplicate_csv_file", files(vec![("p.csv", good_csv().into_bytes()), ("q.csv", good_csv().into_bytes())]), S::BAD_REQUEST, Some("ERR_FORM_003")).field("csv_file"),
        Case::new("only_a_header", csv(format!("{HEADER}\n")), S::BAD_REQUEST, Some("ERR_CSV_003")),
        Case::new("unterminated_quote", csv(format!("{HEADER}\n\"AAPL,1,1.00,2024-01-02\n")), S::BAD_REQUEST, Some("ERR_CSV_006")),
        Case::new("invalid_utf8", csv(invalid_utf8), S::BAD_REQUEST, Some("ERR_CSV_006")),
        Case::new("file_name_9kb_echo_cut", files(vec![(&"x".repeat(9000), good_csv().into_bytes())]), S::BAD_REQUEST, Some("ERR_CSV_002")),
        Case::created("unknown_fields_skipped", csv_with(&[("notes", &"n".repeat(1024 * 1024)), ("x", "\0")], good_csv()), 2),
    ]
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn hostile_uploads_are_refused_with_their_codes_small_answers_and_nothing_written(
    pool: PgPool,
) {
    for case in cases() {
        run(&pool, case).await;
    }
    // The BOM/CRLF file's rows are stored with the lines an editor shows.
    let rows: Vec<i32> = sqlx::query_scalar(
        "select source_row from positions p join portfolios f on f.id = p.portfolio_id
         where f.account_name = 'bom_crlf_comments' order by source_row",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(rows, [4, 6]);
}

#[test]
fn the_echo_cut_is_the_shared_one() {
    let cut = csv_import::shown(&"x".repeat(9000), csv_import::MAX_ECHO_CHARS_DEFAULT);
    assert_eq!(cut.chars().count(), 100);
}
