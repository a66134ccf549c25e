#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;

const HEADER: &str = "Symbol,Quantity,Entry Price Per Share,Entry Date,Investment Class,Investment Subtype,Underlying Symbol,Strike Price,Expiration Date,Option Type,Exit Date,Exit Price Per Share";
const STOCK: [&str; 12] = [
    "AAPL",
    "10",
    "150.00",
    "2024-01-15",
    "PUBLIC",
    "STOCK",
    "",
    "",
    "",
    "",
    "",
    "",
];
const CALL: [&str; 12] = [
    "SPY_C450",
    "2",
    "5.50",
    "2024-02-01",
    "OPTIONS",
    "CALL",
    "SPY",
    "450",
    "2024-03-15",
    "CALL",
    "",
    "",
];

fn today() -> NaiveDate {
    date("2025-06-30")
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A row from a base with some columns replaced.
fn row(base: [&str; 12], changes: &[(usize, &str)]) -> String {
    let mut fields = base;
    for &(column, value) in changes {
        fields[column] = value;
    }
    fields.join(",")
}

fn file(rows: &[String]) -> String {
    format!("{HEADER}\n{}\n", rows.join("\n"))
}

fn parse_text(text: &str) -> Result<Vec<ParsedPosition>, CsvError> {
    parse_positions("portfolio.csv", text.as_bytes(), today())
}

fn parse_rows(rows: &[String]) -> Result<Vec<ParsedPosition>, CsvError> {
    parse_text(&file(rows))
}

fn row_errors(rows: &[String]) -> Vec<RowError> {
    match parse_rows(rows) {
        Err(CsvError::Validation { errors, total }) => {
            assert_eq!(errors.len(), total, "every error is kept under the cap");
            errors
        }
        other => panic!("expected validation errors, got {other:?}"),
    }
}

fn validation(result: Result<Vec<ParsedPosition>, CsvError>) -> Vec<RowError> {
    match result {
        Err(CsvError::Validation { errors, .. }) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

/// Asserts that a single data row yields exactly one error, with this code and column.
fn assert_row_error(changed: String, code: &str, column: &str) -> RowError {
    let errors = row_errors(&[changed]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].clone();
    assert_eq!(error.code, code, "{error:?}");
    assert_eq!(error.row, 2);
    assert_eq!(error.column.as_deref(), Some(column));
    assert!(!error.message.is_empty());
    error
}

fn assert_file_error(result: Result<Vec<ParsedPosition>, CsvError>, code: &str) -> CsvError {
    let error = result.expect_err("expected a file error");
    assert_eq!(error.code(), code, "{error:?}");
    error
}

fn one(rows: &[String]) -> ParsedPosition {
    let mut positions = parse_rows(rows).unwrap();
    assert_eq!(positions.len(), 1);
    positions.remove(0)
}

// --- file level -------------------------------------------------------

#[test]
fn err_csv_001_file_too_large() {
    let bytes = vec![b' '; MAX_CSV_BYTES + 1];
    let error = parse_positions("big.csv", &bytes, today()).unwrap_err();
    assert!(matches!(error, CsvError::TooLarge { size } if size == MAX_CSV_BYTES + 1));
    assert_eq!(error.code(), "ERR_CSV_001");
}

#[test]
fn a_file_of_exactly_the_limit_is_not_too_large() {
    let bytes = vec![b' '; MAX_CSV_BYTES];
    let error = parse_positions("big.csv", &bytes, today()).unwrap_err();
    assert_eq!(error.code(), "ERR_CSV_003");
}

#[test]
fn err_csv_002_file_name_must_end_in_csv() {
    let text = file(&[row(STOCK, &[])]);
    for name in ["portfolio.txt", "portfolio", "portfolio.csv.xlsx", "csv"] {
        let error = parse_positions(name, text.as_bytes(), today()).unwrap_err();
        assert!(matches!(&error, CsvError::BadFileName { name: n } if n == name));
        assert_eq!(error.code(), "ERR_CSV_002");
    }
    assert!(parse_positions("PORTFOLIO.CSV", text.as_bytes(), today()).is_ok());
    assert!(parse_positions("p.Csv", text.as_bytes(), today()).is_ok());
}

#[test]
fn err_csv_003_empty_file() {
    for text in [
        "",
        "   \n\r\n  ",
        "# just a comment\n  # another\n\n",
        "\u{feff}",
    ] {
        let error = assert_file_error(parse_text(text), "ERR_CSV_003");
        assert!(matches!(error, CsvError::Empty), "{text:?}: {error:?}");
    }
}

#[test]
fn err_csv_003_header_without_data_rows() {
    let blank = ",".repeat(11);
    for text in [
        format!("{HEADER}\n"),
        format!("{HEADER}\n{blank}\n# note\n{blank}\n"),
    ] {
        let error = assert_file_error(parse_text(&text), "ERR_CSV_003");
        assert!(matches!(error, CsvError::NoDataRows), "{error:?}");
    }
}

#[test]
fn err_csv_004_required_column_missing() {
    let text = "Symbol,Quantity,Entry Price Per Share\nAAPL,1,2\n";
    let error = assert_file_error(parse_text(text), "ERR_CSV_004");
    assert!(matches!(&error, CsvError::MissingColumn { column, row: 1 } if column == "Entry Date"));
    assert!(error.to_string().contains("Entry Date"));
    let text = "Quantity,Entry Price Per Share,Entry Date\n1,2,2024-01-01\n";
    let error = assert_file_error(parse_text(text), "ERR_CSV_004");
    assert!(matches!(&error, CsvError::MissingColumn { column, .. } if column == "Symbol"));
}

#[test]
fn err_csv_005_no_header() {
    let text = "AAPL,10,150.00,2024-01-15\nMSFT,5,300.00,2024-01-16\n";
    let error = assert_file_error(parse_text(text), "ERR_CSV_005");
    assert!(matches!(error, CsvError::NoHeader));
    let text = ",,,\nAAPL,10,150.00,2024-01-15\n";
    assert!(matches!(parse_text(text), Err(CsvError::NoHeader)));
}

#[test]
fn err_csv_006_not_utf8() {
    let mut bytes = file(&[row(STOCK, &[])]).into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00]);
    let error = parse_positions("p.csv", &bytes, today()).unwrap_err();
    assert!(matches!(error, CsvError::Malformed { .. }));
    assert_eq!(error.code(), "ERR_CSV_006");
}

#[test]
fn err_csv_006_row_with_wrong_number_of_fields() {
    let text = file(&[row(STOCK, &[]), "MSFT,5,300.00,2024-01-16".to_string()]);
    let error = assert_file_error(parse_text(&text), "ERR_CSV_006");
    let CsvError::Malformed { message } = error else {
        panic!("expected Malformed");
    };
    assert!(message.contains("row 3"), "{message}");
}

#[test]
fn err_csv_006_unterminated_quote() {
    let text = file(&[row(STOCK, &[(0, "\"AAPL")])]);
    let error = assert_file_error(parse_text(&text), "ERR_CSV_006");
    assert!(matches!(error, CsvError::Malformed { .. }));
}

#[test]
fn err_csv_007_unknown_column() {
    let text = format!("{HEADER},Notes\n{},hello\n", row(STOCK, &[]));
    let error = assert_file_error(parse_text(&text), "ERR_CSV_007");
    assert!(matches!(&error, CsvError::UnknownColumn { column } if column == "Notes"));
    assert!(error.to_string().contains("Notes"));
}

#[test]
fn err_csv_007_column_names_are_case_sensitive() {
    let text = "symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,1,2,2024-01-01\n";
    let error = assert_file_error(parse_text(text), "ERR_CSV_007");
    assert!(matches!(&error, CsvError::UnknownColumn { column } if column == "symbol"));
}

#[test]
fn err_csv_007_repeated_column() {
    let text = "Symbol,Quantity,Entry Price Per Share,Entry Date,Quantity\nAAPL,1,2,2024-01-01,3\n";
    let error = assert_file_error(parse_text(text), "ERR_CSV_007");
    assert!(matches!(&error, CsvError::RepeatedColumn { column } if column == "Quantity"));
}

// --- rows: symbol -----------------------------------------------------

#[test]
fn err_pos_001_symbol_missing() {
    let error = assert_row_error(row(STOCK, &[(SYMBOL, "")]), "ERR_POS_001", "Symbol");
    assert_eq!(error.symbol, None);
}

#[test]
fn err_pos_001_options_row_without_symbol_or_underlying() {
    let errors = row_errors(&[row(CALL, &[(SYMBOL, ""), (UNDERLYING, "")])]);
    let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, ["ERR_POS_001", "ERR_POS_019"]);
    assert_eq!(errors[0].column.as_deref(), Some("Symbol"));
}

#[test]
fn options_row_without_symbol_takes_its_underlying() {
    let p = one(&[row(CALL, &[(SYMBOL, ""), (UNDERLYING, "spy")])]);
    assert_eq!(p.symbol, "SPY");
    assert_eq!(p.underlying_symbol.as_deref(), Some("SPY"));
    // Blank class with option fields is an options row too.
    let p = one(&[row(CALL, &[(SYMBOL, ""), (CLASS, "")])]);
    assert_eq!(p.symbol, "SPY");
    assert_eq!(p.investment_class, InvestmentClass::Options);
}

#[test]
fn err_pos_002_symbol_too_long() {
    let long = "A".repeat(101);
    let error = assert_row_error(row(STOCK, &[(SYMBOL, &long)]), "ERR_POS_002", "Symbol");
    // Echoed cut to 100 characters, the last one "…".
    assert_eq!(error.symbol, Some(format!("{}…", "A".repeat(99))));
    let ok = "B".repeat(100);
    assert_eq!(one(&[row(STOCK, &[(SYMBOL, &ok)])]).symbol, ok);
}

#[test]
fn err_pos_003_symbol_bad_characters() {
    for bad in [
        "AA PL",
        "AAPL$",
        "ÄPL",
        "A/B",
        "-",
        "..",
        "._-",
        "=HYPERLINK(1)",
    ] {
        let error = assert_row_error(row(STOCK, &[(SYMBOL, bad)]), "ERR_POS_003", "Symbol");
        assert_eq!(error.symbol.as_deref(), Some(bad));
    }
    assert_eq!(one(&[row(STOCK, &[(SYMBOL, "brk.b")])]).symbol, "BRK.B");
    assert_eq!(one(&[row(STOCK, &[(SYMBOL, "a_b-1")])]).symbol, "A_B-1");
}

// --- rows: quantity ---------------------------------------------------

#[test]
fn err_pos_004_quantity_missing() {
    let error = assert_row_error(row(STOCK, &[(QUANTITY, "")]), "ERR_POS_004", "Quantity");
    assert_eq!(error.symbol.as_deref(), Some("AAPL"));
}

#[test]
fn err_pos_005_quantity_not_a_number() {
    for bad in [
        "abc", "1,000", "1e5", "1_000", "--1", ".", "+", "1.2.3", "0x10",
    ] {
        let quoted = format!("\"{bad}\"");
        let changed = row(STOCK, &[(QUANTITY, &quoted)]);
        assert_row_error(changed, "ERR_POS_005", "Quantity");
    }
}

#[test]
fn err_pos_006_quantity_zero() {
    for zero in ["0", "0.000", "-0", "+0.0"] {
        assert_row_error(row(STOCK, &[(QUANTITY, zero)]), "ERR_POS_006", "Quantity");
    }
}

#[test]
fn err_pos_007_quantity_too_many_decimals() {
    assert_row_error(
        row(STOCK, &[(QUANTITY, "1.1234567")]),
        "ERR_POS_007",
        "Quantity",
    );
    // Trailing zeros do not count.
    assert_eq!(
        one(&[row(STOCK, &[(QUANTITY, "1.1234560")])]).quantity,
        dec("1.123456")
    );
    assert_eq!(
        one(&[row(STOCK, &[(QUANTITY, "+.5")])]).quantity,
        dec("0.5")
    );
}

// --- rows: entry price ------------------------------------------------

#[test]
fn err_pos_008_entry_price_missing() {
    assert_row_error(
        row(STOCK, &[(ENTRY_PRICE, "")]),
        "ERR_POS_008",
        "Entry Price Per Share",
    );
}

#[test]
fn err_pos_009_entry_price_not_a_number() {
    for bad in ["abc", "$150", "1e2", "\"1,500.00\""] {
        let changed = row(STOCK, &[(ENTRY_PRICE, bad)]);
        assert_row_error(changed, "ERR_POS_009", "Entry Price Per Share");
    }
}

#[test]
fn err_pos_010_entry_price_not_positive() {
    for bad in ["0", "-1.50", "0.00"] {
        let changed = row(STOCK, &[(ENTRY_PRICE, bad)]);
        assert_row_error(changed, "ERR_POS_010", "Entry Price Per Share");
    }
}

#[test]
fn err_pos_011_entry_price_too_many_decimals() {
    let changed = row(STOCK, &[(ENTRY_PRICE, "150.123")]);
    assert_row_error(changed, "ERR_POS_011", "Entry Price Per Share");
    assert_eq!(
        one(&[row(STOCK, &[(ENTRY_PRICE, "150.1200")])]).entry_price,
        dec("150.12")
    );
}

// --- rows: dates ------------------------------------------------------

#[test]
fn err_pos_012_entry_date_missing() {
    assert_row_error(row(STOCK, &[(ENTRY_DATE, "")]), "ERR_POS_012", "Entry Date");
}

#[test]
fn err_pos_013_entry_date_bad_format() {
    for bad in [
        "2024/01/15",
        "01/15/2024",
        "2024-1-5",
        "2024-02-30",
        "yesterday",
        "20240115",
        "+2024-1-05",
    ] {
        assert_row_error(
            row(STOCK, &[(ENTRY_DATE, bad)]),
            "ERR_POS_013",
            "Entry Date",
        );
    }
}

#[test]
fn err_pos_013_exit_date_bad_format() {
    assert_row_error(
        row(STOCK, &[(EXIT_DATE, "2024-13-01")]),
        "ERR_POS_013",
        "Exit Date",
    );
}

#[test]
fn err_pos_014_entry_date_in_future() {
    assert_row_error(
        row(STOCK, &[(ENTRY_DATE, "2025-07-01")]),
        "ERR_POS_014",
        "Entry Date",
    );
    assert_eq!(
        one(&[row(STOCK, &[(ENTRY_DATE, "2025-06-30")])]).entry_date,
        today()
    );
}

#[test]
fn err_pos_015_entry_date_too_old() {
    let oldest = today() - Days::new(36_500);
    let too_old = (oldest - Days::new(1)).to_string();
    assert_row_error(
        row(STOCK, &[(ENTRY_DATE, &too_old)]),
        "ERR_POS_015",
        "Entry Date",
    );
    let ok = oldest.to_string();
    assert_eq!(one(&[row(STOCK, &[(ENTRY_DATE, &ok)])]).entry_date, oldest);
}

// --- rows: class and subtype ------------------------------------------

#[test]
fn err_pos_016_unknown_class() {
    let error = assert_row_error(
        row(STOCK, &[(CLASS, "CRYPTO")]),
        "ERR_POS_016",
        "Investment Class",
    );
    assert!(error.message.contains("CRYPTO"));
}

#[test]
fn class_is_case_insensitive_and_defaults() {
    assert_eq!(
        one(&[row(STOCK, &[(CLASS, "private"), (SUBTYPE, "")])]).investment_class,
        InvestmentClass::Private
    );
    let p = one(&[row(STOCK, &[(CLASS, ""), (SUBTYPE, "")])]);
    assert_eq!(p.investment_class, InvestmentClass::Public);
    assert_eq!(p.investment_subtype, "STOCK");
    let p = one(&[row(CALL, &[(CLASS, ""), (SUBTYPE, "")])]);
    assert_eq!(p.investment_class, InvestmentClass::Options);
    assert_eq!(p.investment_subtype, "CALL");
}

#[test]
fn err_pos_017_subtype_not_valid_for_class() {
    assert_row_error(
        row(STOCK, &[(SUBTYPE, "CALL")]),
        "ERR_POS_017",
        "Investment Subtype",
    );
    let changed = row(STOCK, &[(CLASS, "PRIVATE"), (SUBTYPE, "ETF")]);
    assert_row_error(changed, "ERR_POS_017", "Investment Subtype");
    assert_row_error(
        row(CALL, &[(SUBTYPE, "STOCK")]),
        "ERR_POS_017",
        "Investment Subtype",
    );
}

#[test]
fn err_pos_017_subtype_contradicts_option_type() {
    let error = assert_row_error(
        row(CALL, &[(SUBTYPE, "PUT")]),
        "ERR_POS_017",
        "Investment Subtype",
    );
    assert!(error.message.contains("CALL"), "{}", error.message);
}

#[test]
fn subtypes_are_case_insensitive_stored_upper_and_defaulted() {
    let p = one(&[row(STOCK, &[(SUBTYPE, "etf")])]);
    assert_eq!(p.investment_subtype, "ETF");
    let p = one(&[row(STOCK, &[(CLASS, "PRIVATE"), (SUBTYPE, "")])]);
    assert_eq!(p.investment_subtype, "OTHER");
    let p = one(&[row(STOCK, &[(CLASS, "PRIVATE"), (SUBTYPE, "Hedge_Fund")])]);
    assert_eq!(p.investment_subtype, "HEDGE_FUND");
    let p = one(&[row(CALL, &[(SUBTYPE, ""), (OPTION_TYPE, "put")])]);
    assert_eq!(p.investment_subtype, "PUT");
    assert_eq!(p.option_type, Some(OptionType::Put));
}

// --- rows: exit -------------------------------------------------------

#[test]
fn err_pos_018_exit_date_before_entry_date() {
    let changed = row(STOCK, &[(EXIT_DATE, "2024-01-14"), (EXIT_PRICE, "160")]);
    assert_row_error(changed, "ERR_POS_018", "Exit Date");
}

#[test]
fn err_pos_018_exit_price_not_positive() {
    for bad in ["0", "-5", "abc"] {
        let changed = row(STOCK, &[(EXIT_DATE, "2024-02-01"), (EXIT_PRICE, bad)]);
        assert_row_error(changed, "ERR_POS_018", "Exit Price Per Share");
    }
}

#[test]
fn closed_position_keeps_exit_fields() {
    let p = one(&[row(
        STOCK,
        &[(EXIT_DATE, "2024-01-15"), (EXIT_PRICE, "161.25")],
    )]);
    assert_eq!(p.exit_date, Some(date("2024-01-15")));
    assert_eq!(p.exit_price, Some(dec("161.25")));
}

// --- rows: options ----------------------------------------------------

#[test]
fn underlying_symbols_follow_the_symbol_rules() {
    for bad in ["../../admin?x=1&y=", "=HYPERLINK(\"x\")", "..", "A B"] {
        assert_row_error(
            row(CALL, &[(UNDERLYING, bad)]),
            "ERR_POS_003",
            "Underlying Symbol",
        );
    }
    let long = "U".repeat(101);
    assert_row_error(
        row(CALL, &[(UNDERLYING, &long)]),
        "ERR_POS_002",
        "Underlying Symbol",
    );
    assert_eq!(
        one(&[row(CALL, &[(UNDERLYING, "brk.b")])])
            .underlying_symbol
            .as_deref(),
        Some("BRK.B")
    );
}

#[test]
fn err_pos_019_option_without_underlying() {
    assert_row_error(
        row(CALL, &[(UNDERLYING, "")]),
        "ERR_POS_019",
        "Underlying Symbol",
    );
}

#[test]
fn err_pos_020_bad_strike() {
    for bad in ["", "abc", "0", "-450"] {
        assert_row_error(row(CALL, &[(STRIKE, bad)]), "ERR_POS_020", "Strike Price");
    }
}

#[test]
fn err_pos_021_bad_expiration() {
    for bad in ["", "2024-03-32", "03/15/2024", "2024-01-31"] {
        assert_row_error(
            row(CALL, &[(EXPIRATION, bad)]),
            "ERR_POS_021",
            "Expiration Date",
        );
    }
}

#[test]
fn expiration_in_the_past_is_valid() {
    let p = one(&[row(CALL, &[(EXPIRATION, "2024-02-01")])]);
    assert_eq!(p.expiration_date, Some(date("2024-02-01")));
    assert!(p.expiration_date < Some(today()));
}

#[test]
fn err_pos_022_bad_option_type() {
    let changed = row(CALL, &[(SUBTYPE, ""), (OPTION_TYPE, "STRADDLE")]);
    assert_row_error(changed, "ERR_POS_022", "Option Type");
    let changed = row(CALL, &[(SUBTYPE, ""), (OPTION_TYPE, "")]);
    assert_row_error(changed, "ERR_POS_022", "Option Type");
}

// --- rows: duplicates -------------------------------------------------

#[test]
fn err_pos_023_duplicate_symbol_and_entry_date() {
    let rows = [
        row(STOCK, &[]),
        row(STOCK, &[(SYMBOL, "aapl"), (QUANTITY, "5")]),
        row(STOCK, &[(ENTRY_DATE, "2024-01-16")]),
        row(STOCK, &[]),
    ];
    let errors = row_errors(&rows);
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.code, e.row, e.column.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("ERR_POS_023", 3, Some("Symbol")),
            ("ERR_POS_023", 5, Some("Symbol"))
        ]
    );
    assert!(errors[0].message.contains("row 2"), "{}", errors[0].message);
}

// --- whole files ------------------------------------------------------

#[test]
fn every_error_of_every_row_is_reported_in_row_order() {
    let rows = [
        row(STOCK, &[]),
        row(
            STOCK,
            &[(SYMBOL, "BAD SYMBOL"), (QUANTITY, "0"), (ENTRY_PRICE, "-1")],
        ),
        row(STOCK, &[(SYMBOL, "MSFT")]),
        row(
            CALL,
            &[
                (STRIKE, ""),
                (EXPIRATION, "soon"),
                (ENTRY_DATE, "2030-01-01"),
            ],
        ),
    ];
    let errors = row_errors(&rows);
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.row, e.code, e.column.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        found,
        [
            (3, "ERR_POS_003", "Symbol"),
            (3, "ERR_POS_006", "Quantity"),
            (3, "ERR_POS_010", "Entry Price Per Share"),
            (5, "ERR_POS_014", "Entry Date"),
            (5, "ERR_POS_020", "Strike Price"),
            (5, "ERR_POS_021", "Expiration Date"),
        ]
    );
    assert_eq!(errors[0].symbol.as_deref(), Some("BAD SYMBOL"));
    assert_eq!(errors[3].symbol.as_deref(), Some("SPY_C450"));
    let error = CsvError::Validation { errors, total: 6 };
    assert_eq!(error.code(), "ERR_CSV_VALIDATION");
}

#[test]
fn bom_crlf_comments_and_blank_rows_are_accepted() {
    let blank = ",".repeat(11);
    let text = format!(
        "\u{feff}# comment before the header\r\n{HEADER}\r\n  # indented comment\r\n\r\n{}\r\n{blank}\r\n   \r\n{}\r\n# trailing",
        row(STOCK, &[(SYMBOL, " aapl "), (QUANTITY, " 10 ")]),
        row(STOCK, &[(SYMBOL, "MSFT")]),
    );
    let positions = parse_text(&text).unwrap();
    assert_eq!(positions.len(), 2);
    assert_eq!(positions[0].symbol, "AAPL");
    assert_eq!(positions[0].quantity, dec("10"));
    // Rows are the lines an editor shows: comments and blank lines count.
    assert_eq!(positions[0].row, 5);
    assert_eq!(positions[1].symbol, "MSFT");
    assert_eq!(positions[1].row, 8);
}

#[test]
fn rows_are_editor_lines_counting_comments_and_blank_lines() {
    let blank = ",".repeat(11);
    let text = format!(
        "# one\n# two\n\n# four\n{HEADER}\n# comment\n{blank}\n\n{}\n",
        row(STOCK, &[(QUANTITY, "x")])
    );
    let errors = validation(parse_text(&text));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].row, 9, "the bad row is on line 9 of the file");
    // The header's line is the missing column's row.
    let text = "# note\n\nSymbol,Quantity,Entry Price Per Share\nAAPL,1,2\n";
    let error = parse_text(text).unwrap_err();
    assert!(
        matches!(error, CsvError::MissingColumn { row: 3, .. }),
        "{error:?}"
    );
}

#[test]
fn lone_carriage_returns_are_line_breaks_too() {
    // Old Mac files end lines with a lone \r; the CSV reader splits records there, so the
    // line count must too, or two records would share a row (found by fuzzing).
    let text = format!(
        "# comment\r{HEADER}\r\r{}\r{}\r\n{}\n",
        row(STOCK, &[(SYMBOL, "AAPL")]),
        row(STOCK, &[(SYMBOL, "MSFT")]),
        row(STOCK, &[(SYMBOL, "IBM")]),
    );
    let positions = parse_text(&text).unwrap();
    let rows: Vec<_> = positions
        .iter()
        .map(|p| (p.symbol.as_str(), p.row))
        .collect();
    assert_eq!(rows, [("AAPL", 4), ("MSFT", 5), ("IBM", 6)]);
}

#[test]
fn a_quoted_field_spanning_lines_moves_the_rows_after_it() {
    let text = format!(
        "{HEADER}\n\"AA\nPL\",10,150.00,2024-01-15,,,,,,,,\nMSFT,x,1.00,2024-01-15,,,,,,,,\r\n\r\nIBM,y,1.00,2024-01-15,,,,,,,,\n"
    );
    let errors = validation(parse_text(&text));
    let rows: Vec<_> = errors.iter().map(|e| (e.row, e.code)).collect();
    // The quoted field starts on line 2 and ends on line 3; MSFT is line 4, IBM line 6.
    assert_eq!(
        rows,
        [(2, "ERR_POS_025"), (4, "ERR_POS_005"), (6, "ERR_POS_005")]
    );
}

#[test]
fn wrong_width_names_the_editor_line() {
    let text = format!("# c\n{HEADER}\n\n{}\nMSFT,5\n", row(STOCK, &[]));
    let CsvError::Malformed { message } = assert_file_error(parse_text(&text), "ERR_CSV_006")
    else {
        panic!("expected Malformed");
    };
    assert!(message.contains("row 5"), "{message}");
}

#[test]
fn quoted_fields_may_hold_commas_and_hash_lines() {
    let text = format!("{HEADER}\n\"AAPL\",\"10\",150.00,2024-01-15,,\"ETF\",,,,,,\n");
    let p = parse_text(&text).unwrap();
    assert_eq!(p[0].investment_subtype, "ETF");
    // A line starting with # inside a quoted field is not a comment.
    let text = format!("{HEADER}\n\"AAPL\n# inside\",10,150.00,2024-01-15,,,,,,,,\n");
    let errors = validation(parse_text(&text));
    // The line break inside the quoted symbol is a control character.
    assert_eq!(errors[0].code, "ERR_POS_025");
    assert_eq!(errors.len(), 1);
}

#[test]
fn columns_in_another_order_and_optional_columns_omitted() {
    let text = "Entry Date,Symbol,Entry Price Per Share,Quantity\n2024-01-15,aapl,150.00,-3\n";
    let positions = parse_text(text).unwrap();
    assert_eq!(
        positions,
        [ParsedPosition {
            row: 2,
            symbol: "AAPL".to_string(),
            quantity: dec("-3"),
            entry_price: dec("150.00"),
            entry_date: date("2024-01-15"),
            investment_class: InvestmentClass::Public,
            investment_subtype: "STOCK".to_string(),
            position_type: PositionType::Short,
            underlying_symbol: None,
            strike_price: None,
            expiration_date: None,
            option_type: None,
            exit_date: None,
            exit_price: None,
        }]
    );
    let text = "Option Type,Quantity,Symbol,Entry Date,Entry Price Per Share,Expiration Date,Underlying Symbol,Strike Price\n\
                put,-1,,2024-02-01,3.10,2024-06-21,qqq,380\n";
    let p = &parse_text(text).unwrap()[0];
    assert_eq!(p.symbol, "QQQ");
    assert_eq!(p.investment_class, InvestmentClass::Options);
    assert_eq!(p.investment_subtype, "PUT");
    assert_eq!(p.position_type, PositionType::Sp);
    assert_eq!(p.strike_price, Some(dec("380")));
}

#[test]
fn err_pos_026_option_columns_on_a_non_option_row_are_named() {
    let errors = row_errors(&[row(
        STOCK,
        &[(UNDERLYING, "SPY"), (STRIKE, "1"), (OPTION_TYPE, "CALL")],
    )]);
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.row, e.code, e.column.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        found,
        [
            (2, "ERR_POS_026", "Underlying Symbol"),
            (2, "ERR_POS_026", "Strike Price"),
            (2, "ERR_POS_026", "Option Type"),
        ]
    );
    assert!(
        errors[0].message.contains("PUBLIC"),
        "{}",
        errors[0].message
    );
    let private = row(
        STOCK,
        &[
            (CLASS, "PRIVATE"),
            (SUBTYPE, ""),
            (EXPIRATION, "2024-03-15"),
        ],
    );
    assert_row_error(private, "ERR_POS_026", "Expiration Date");
}

#[test]
fn position_type_derivation() {
    let cases = [
        (row(STOCK, &[(QUANTITY, "10")]), PositionType::Long),
        (row(STOCK, &[(QUANTITY, "-10")]), PositionType::Short),
        (
            row(
                STOCK,
                &[(CLASS, "PRIVATE"), (SUBTYPE, ""), (QUANTITY, "-1")],
            ),
            PositionType::Short,
        ),
        (row(CALL, &[(QUANTITY, "3")]), PositionType::Lc),
        (row(CALL, &[(QUANTITY, "-3")]), PositionType::Sc),
        (
            row(
                CALL,
                &[(SUBTYPE, "PUT"), (OPTION_TYPE, "PUT"), (QUANTITY, "3")],
            ),
            PositionType::Lp,
        ),
        (
            row(
                CALL,
                &[(SUBTYPE, "PUT"), (OPTION_TYPE, "Put"), (QUANTITY, "-3")],
            ),
            PositionType::Sp,
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(
            one(std::slice::from_ref(&line)).position_type,
            expected,
            "{line}"
        );
    }
}

#[test]
fn template_parses() {
    let text = template_csv();
    assert!(text.lines().any(|l| l == HEADER));
    assert_eq!(HEADER, COLUMNS.join(","));
    let positions = parse_positions("template.csv", text.as_bytes(), today()).unwrap();
    assert_eq!(positions.len(), 7);
    let types: Vec<_> = positions.iter().map(|p| p.position_type).collect();
    use PositionType::*;
    assert_eq!(types, [Long, Lc, Lp, Long, Short, Long, Long]);
    let call = &positions[1];
    assert_eq!(call.symbol, "SPY_C450_20240315");
    assert_eq!(call.underlying_symbol.as_deref(), Some("SPY"));
    assert_eq!(call.strike_price, Some(dec("450.00")));
    assert!(positions
        .iter()
        .any(|p| p.exit_date.is_some() && p.exit_price.is_some()));
    // Still valid on the earliest date its entry dates allow.
    assert!(parse_positions("t.csv", text.as_bytes(), date("2024-03-01")).is_ok());
}

#[test]
fn the_example_portfolio_imports_with_its_editor_lines() {
    let text = include_str!("../../../examples/demo_portfolio.csv");
    let positions = parse_positions("demo.csv", text.as_bytes(), date("2026-11-30")).unwrap();
    assert_eq!(positions.len(), 20);
    // Three comment lines and the header come first.
    assert_eq!(positions[0].row, 5);
}

#[test]
fn row_error_serializes_for_the_api() {
    let error = assert_row_error(row(STOCK, &[(QUANTITY, "")]), "ERR_POS_004", "Quantity");
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(json["code"], "ERR_POS_004");
    assert_eq!(json["row"], 2);
    assert_eq!(json["column"], "Quantity");
    assert_eq!(json["symbol"], "AAPL");
}

// --- limits -----------------------------------------------------------

fn limits() -> Limits {
    Limits::default()
}

fn parse_limited(text: &str, limits: &Limits) -> Result<Vec<ParsedPosition>, CsvError> {
    parse_positions_with("p.csv", text.as_bytes(), today(), limits)
}

fn bad_rows(n: usize) -> String {
    let rows: Vec<String> = (0..n)
        .map(|i| row(STOCK, &[(SYMBOL, &format!("S{i}")), (QUANTITY, "x")]))
        .collect();
    file(&rows)
}

#[test]
fn at_most_100_errors_are_kept_the_first_by_row_and_all_are_counted() {
    match parse_text(&bad_rows(250)) {
        Err(CsvError::Validation { errors, total }) => {
            assert_eq!((errors.len(), total), (MAX_ERRORS_DEFAULT, 250));
            let rows: Vec<usize> = errors.iter().map(|e| e.row).collect();
            assert_eq!(rows, (2..102).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_error_cap_is_configurable() {
    let limits = Limits {
        max_errors: 3,
        ..limits()
    };
    match parse_limited(&bad_rows(10), &limits) {
        Err(CsvError::Validation { errors, total }) => {
            assert_eq!((errors.len(), total), (3, 10));
            assert_eq!(errors[2].row, 4);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shown_cuts_on_a_char_boundary_with_an_ellipsis_and_hides_control_chars() {
    assert_eq!(shown("AAPL", 100), "AAPL");
    assert_eq!(shown(&"é".repeat(100), 100), "é".repeat(100));
    let cut = shown(&"é".repeat(101), 100);
    assert_eq!(cut.chars().count(), 100);
    assert_eq!(cut, format!("{}…", "é".repeat(99)));
    assert_eq!(shown("🚀🚀🚀", 2), "🚀…");
    assert_eq!(shown("a\0b\u{1b}", 100), "a\u{fffd}b\u{fffd}");
    assert_eq!(shown("abc", 1), "…");
}

#[test]
fn every_echoed_value_is_cut_to_the_limit() {
    let huge = "Z".repeat(1_000_000);
    let text = file(&[row(
        CALL,
        &[
            (SYMBOL, &format!("{huge}$")),
            (QUANTITY, &format!("{huge}1")),
            (ENTRY_PRICE, &format!("1.{}", "1".repeat(10_000))),
            (ENTRY_DATE, &huge),
            (SUBTYPE, &huge),
            (UNDERLYING, &huge),
            (STRIKE, &huge),
            (EXPIRATION, &huge),
            (OPTION_TYPE, &huge),
            (EXIT_DATE, &huge),
            (EXIT_PRICE, &huge),
        ],
    )]);
    let errors = validation(parse_text(&text));
    assert!(errors.len() >= 10, "{}", errors.len());
    for e in &errors {
        let symbol = e.symbol.as_deref().unwrap_or("");
        assert!(symbol.chars().count() <= 100, "{}", symbol.len());
        assert!(
            e.message.chars().count() <= 300,
            "{}: {}",
            e.code,
            e.message.len()
        );
        assert!(!e.message.contains(&"Z".repeat(100)), "{}", e.code);
    }
    let header = format!("{HEADER},{huge}\n");
    let CsvError::UnknownColumn { column } = parse_text(&header).unwrap_err() else {
        panic!("expected UnknownColumn");
    };
    assert_eq!(column.chars().count(), 100);
    let error = parse_positions(&huge, b"x", today()).unwrap_err();
    assert!(error.to_string().chars().count() < 200, "{error}");
}

#[test]
fn err_csv_008_more_positions_than_the_limit() {
    let rows: Vec<String> = (0..=MAX_POSITIONS_DEFAULT)
        .map(|i| row(STOCK, &[(SYMBOL, &format!("S{i}"))]))
        .collect();
    let error = assert_file_error(parse_rows(&rows), "ERR_CSV_008");
    assert!(
        matches!(error, CsvError::TooManyPositions { max: MAX_POSITIONS_DEFAULT, row } if row == MAX_POSITIONS_DEFAULT + 2),
        "{error:?}"
    );
    assert_eq!(
        parse_rows(&rows[..MAX_POSITIONS_DEFAULT]).unwrap().len(),
        MAX_POSITIONS_DEFAULT
    );
}

#[test]
fn err_csv_008_is_configurable_and_stops_reading_at_once() {
    let limits = Limits {
        max_positions: 2,
        ..limits()
    };
    let blank = ",".repeat(11);
    let text = format!(
        "{HEADER}\n# c\n{}\n{blank}\n{}\n{}\nMSFT,1\n",
        row(STOCK, &[]),
        row(STOCK, &[(SYMBOL, "MSFT")]),
        row(STOCK, &[(SYMBOL, "IBM")]),
    );
    // Blank records and comments do not count; the file is not read past line 6 (line 7,
    // of the wrong width, would be ERR_CSV_006).
    let error = parse_limited(&text, &limits).unwrap_err();
    assert!(
        matches!(error, CsvError::TooManyPositions { max: 2, row: 6 }),
        "{error:?}"
    );
}

#[test]
fn err_pos_024_quantity_beyond_the_limit() {
    for bad in [
        "1000000000000.000001",
        "-1000000000001",
        "9999999999999999999999",
        "99999999999999999999999999999999999",
    ] {
        assert_row_error(
            row(STOCK, &[(QUANTITY, bad), (ENTRY_PRICE, "0.01")]),
            "ERR_POS_024",
            "Quantity",
        );
    }
    let p = one(&[row(
        STOCK,
        &[(QUANTITY, "-1000000000000"), (ENTRY_PRICE, "0.01")],
    )]);
    assert_eq!(p.quantity, dec("-1000000000000"));
}

#[test]
fn err_pos_024_prices_and_strike_beyond_the_limit() {
    for bad in [
        "1000000000.01",
        "99999999999999999.00",
        "1".repeat(40).as_str(),
    ] {
        let changed = row(STOCK, &[(QUANTITY, "0.001"), (ENTRY_PRICE, bad)]);
        assert_row_error(changed, "ERR_POS_024", "Entry Price Per Share");
        let changed = row(CALL, &[(QUANTITY, "0.001"), (STRIKE, bad)]);
        assert_row_error(changed, "ERR_POS_024", "Strike Price");
        let changed = row(
            STOCK,
            &[
                (QUANTITY, "0.001"),
                (EXIT_DATE, "2024-02-01"),
                (EXIT_PRICE, bad),
            ],
        );
        assert_row_error(changed, "ERR_POS_024", "Exit Price Per Share");
    }
    let p = one(&[row(
        CALL,
        &[
            (QUANTITY, "0.001"),
            (ENTRY_PRICE, "1000000000"),
            (STRIKE, "1000000000"),
        ],
    )]);
    assert_eq!(p.strike_price, Some(dec("1000000000")));
}

#[test]
fn the_probe_that_panicked_is_two_row_errors() {
    let text = "Symbol,Quantity,Entry Price Per Share,Entry Date\nAAPL,9999999999999999999999,99999999999999999.00,2025-01-02\n";
    let errors = validation(parse_text(text));
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.code, e.column.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("ERR_POS_024", Some("Quantity")),
            ("ERR_POS_024", Some("Entry Price Per Share"))
        ]
    );
}

#[test]
fn numeric_limits_are_configurable() {
    let limits = Limits {
        max_quantity: dec("100"),
        max_price: dec("50"),
        ..limits()
    };
    let text = file(&[row(STOCK, &[(QUANTITY, "101"), (ENTRY_PRICE, "50.01")])]);
    let codes: Vec<_> = validation(parse_limited(&text, &limits))
        .iter()
        .map(|e| e.code)
        .collect();
    assert_eq!(codes, ["ERR_POS_024", "ERR_POS_024"]);
    let text = file(&[row(STOCK, &[(QUANTITY, "100"), (ENTRY_PRICE, "50")])]);
    assert!(parse_limited(&text, &limits).is_ok());
}

#[test]
fn strike_and_exit_price_fit_their_four_decimal_columns() {
    assert_row_error(
        row(CALL, &[(STRIKE, "450.00001")]),
        "ERR_POS_020",
        "Strike Price",
    );
    let changed = row(STOCK, &[(EXIT_DATE, "2024-02-01"), (EXIT_PRICE, "1.00001")]);
    assert_row_error(changed, "ERR_POS_018", "Exit Price Per Share");
    let p = one(&[row(CALL, &[(STRIKE, "450.1250")])]);
    assert_eq!(p.strike_price, Some(dec("450.125")));
}

#[test]
fn err_csv_009_total_notional_beyond_the_limit() {
    // 1e12 shares at 2.00 cost 2e12.
    let text = file(&[row(
        STOCK,
        &[(QUANTITY, "1000000000000"), (ENTRY_PRICE, "2")],
    )]);
    let error = assert_file_error(parse_text(&text), "ERR_CSV_009");
    assert!(matches!(error, CsvError::NotionalTooLarge { .. }));
    // An option's notional counts its strike and the multiplier: 1e8 contracts × 450 × 100.
    let text = file(&[row(CALL, &[(QUANTITY, "100000000"), (ENTRY_PRICE, "0.01")])]);
    assert_file_error(parse_text(&text), "ERR_CSV_009");
    // So does an exit price: 1e6 shares exited at 1e9.
    let text = file(&[row(
        STOCK,
        &[
            (QUANTITY, "1000000"),
            (EXIT_DATE, "2024-02-01"),
            (EXIT_PRICE, "1000000000"),
        ],
    )]);
    assert_file_error(parse_text(&text), "ERR_CSV_009");
    // Many rows add up; each alone is fine.
    let rows: Vec<String> = (0..3)
        .map(|i| {
            row(
                STOCK,
                &[
                    (SYMBOL, &format!("S{i}")),
                    (QUANTITY, "400000000000"),
                    (ENTRY_PRICE, "1"),
                ],
            )
        })
        .collect();
    assert_file_error(parse_rows(&rows), "ERR_CSV_009");
    assert!(parse_rows(&rows[..2]).is_ok());
    let limits = Limits {
        max_notional: dec("1000"),
        ..limits()
    };
    let text = file(&[row(STOCK, &[(QUANTITY, "10"), (ENTRY_PRICE, "100.01")])]);
    assert_file_error(parse_limited(&text, &limits), "ERR_CSV_009");
}

#[test]
fn notional_uses_checked_arithmetic() {
    let mut p = one(&[row(STOCK, &[])]);
    assert_eq!(notional(&p), Some(dec("1500.00")));
    p.quantity = Decimal::MAX;
    p.entry_price = dec("2");
    assert_eq!(notional(&p), None);
}

#[test]
fn err_pos_025_control_characters_in_any_cell_name_the_column() {
    for (column, name) in COLUMNS.iter().enumerate() {
        for bad in ["A\0B", "\u{1}", "x\ty", "\u{7f}", "\u{9b}", "ok\t"] {
            let base = if (UNDERLYING..=OPTION_TYPE).contains(&column) {
                CALL
            } else {
                STOCK
            };
            let quoted = format!("\"{bad}\"");
            let error = assert_row_error(row(base, &[(column, &quoted)]), "ERR_POS_025", name);
            assert!(error.message.contains("U+"), "{}", error.message);
        }
    }
    let errors = row_errors(&[row(STOCK, &[(QUANTITY, "1\u{0}"), (ENTRY_DATE, "\u{0}")])]);
    let found: Vec<_> = errors
        .iter()
        .map(|e| (e.code, e.column.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("ERR_POS_025", Some("Quantity")),
            ("ERR_POS_025", Some("Entry Date"))
        ]
    );
}

#[test]
fn a_control_character_in_the_header_is_an_unknown_column() {
    let text = format!("{}\0\n{}\n", HEADER, row(STOCK, &[]));
    let error = assert_file_error(parse_text(&text), "ERR_CSV_007");
    let CsvError::UnknownColumn { column } = error else {
        panic!("expected UnknownColumn");
    };
    assert_eq!(column, "Exit Price Per Share\u{fffd}");
}

#[test]
fn err_pos_018_exit_price_needs_an_exit_date() {
    let error = assert_row_error(
        row(STOCK, &[(EXIT_PRICE, "160")]),
        "ERR_POS_018",
        "Exit Date",
    );
    assert!(
        error.message.contains("Exit Price Per Share"),
        "{}",
        error.message
    );
    // An exit date alone is still accepted (exit price unknown).
    assert_eq!(
        one(&[row(STOCK, &[(EXIT_DATE, "2024-02-01")])]).exit_price,
        None
    );
}

#[test]
fn limit_settings_refuse_values_beyond_the_columns() {
    assert!(parse_quantity_limit("1000000000000000").is_ok());
    assert!(parse_quantity_limit("1000000000000001").is_err());
    assert!(parse_price_limit("1000000000000").is_ok());
    assert!(parse_price_limit("1000000000000.01").is_err());
    assert!(parse_notional_limit("1000000000000001").is_err());
    for bad in ["0", "-1", "1e9", "", "x"] {
        assert!(parse_price_limit(bad).is_err(), "{bad}");
        assert!(parse_count(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_count("5000"), Ok(5000));
}

#[test]
fn limits_come_from_the_environment_variables() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: Limits,
    }
    let defaults = Cli::try_parse_from(["x"]).unwrap().limits;
    assert_eq!(defaults, Limits::default());
    let set = Cli::try_parse_from([
        "x",
        "--max-positions",
        "7",
        "--max-csv-errors",
        "5",
        "--max-echo-chars",
        "20",
        "--max-quantity",
        "10",
        "--max-price",
        "3",
        "--max-notional",
        "30",
    ])
    .unwrap()
    .limits;
    assert_eq!(
        (set.max_positions, set.max_errors, set.max_echo_chars),
        (7, 5, 20)
    );
    assert_eq!(
        (set.max_quantity, set.max_price, set.max_notional),
        (dec("10"), dec("3"), dec("30"))
    );
    assert!(Cli::try_parse_from(["x", "--max-quantity", "1e30"]).is_err());
}

fn check_outcome(result: Result<Vec<ParsedPosition>, CsvError>) -> Result<(), TestCaseError> {
    match result {
        Ok(positions) => prop_assert!(!positions.is_empty()),
        Err(CsvError::Validation { errors, total }) => {
            prop_assert!(!errors.is_empty() && errors.len() <= MAX_ERRORS_DEFAULT);
            prop_assert!(total >= errors.len());
            prop_assert!(errors.windows(2).all(|w| w[0].row <= w[1].row));
            for e in errors {
                prop_assert!(e.row >= 2 && e.code.starts_with("ERR_POS_"));
                prop_assert!(e.symbol.map_or(0, |s| s.chars().count()) <= MAX_ECHO_CHARS_DEFAULT);
            }
        }
        Err(other) => prop_assert!(other.code().starts_with("ERR_CSV_0")),
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_outcome(parse_positions("any.csv", &bytes, today()))?;
    }

    #[test]
    fn arbitrary_rows_after_a_header_never_panic(body in "[A-Za-z0-9 ,.#\"\r\n_-]{0,400}") {
        check_outcome(parse_text(&format!("{HEADER}\n{body}")))?;
    }

    #[test]
    fn a_valid_generated_row_parses_back_to_the_same_quantity(
        symbol in "[A-Z][A-Z0-9._-]{0,9}",
        mantissa in (-1_000_000_000i64..=1_000_000_000).prop_filter("non-zero", |m| *m != 0),
        scale in 0u32..=6,
        cents in 1i64..100_000,
        age in 0u64..36_500,
        short in any::<bool>(),
    ) {
        let quantity = Decimal::new(mantissa, scale);
        let price = Decimal::new(cents, 2);
        let entry = today() - Days::new(age);
        let class = if short { "public" } else { "" };
        let line = format!("{symbol},{quantity},{price},{entry},{class},,,,,,,");
        let positions = parse_text(&format!("{HEADER}\n{line}\n")).unwrap();
        prop_assert_eq!(positions.len(), 1);
        prop_assert_eq!(positions[0].quantity, quantity);
        prop_assert_eq!(positions[0].entry_price, price);
        prop_assert_eq!(positions[0].entry_date, entry);
        let expected = if mantissa > 0 { PositionType::Long } else { PositionType::Short };
        prop_assert_eq!(positions[0].position_type, expected);
    }
}
