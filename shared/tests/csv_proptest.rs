//! Property tests of the upload's input rules: `csv_import::parse_positions_with` and the
//! form's `onboarding::validate`/`prepare` never panic, whatever they are given, keep at
//! most `max_errors` errors and never echo more than `max_echo_chars` of a value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;
use sigmasight_shared::csv_import::{
    first_control_char, parse_positions_with, CsvError, Limits, ParsedPosition, COLUMNS,
};
use sigmasight_shared::onboarding::{self, FormInput, UploadLimits};

/// The longest fixed text of a row message (the PRIVATE subtype list), plus margin.
const MESSAGE_TEXT_MAX: usize = 260;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
}

/// A run of the marker longer than the cut: it must never appear in an answer.
fn too_long_run(limits: &Limits) -> String {
    "Q".repeat(limits.max_echo_chars + 1)
}

/// What every outcome of the parser must satisfy.
fn check_outcome(
    result: &Result<Vec<ParsedPosition>, CsvError>,
    limits: &Limits,
) -> Result<(), TestCaseError> {
    let echo = limits.max_echo_chars;
    match result {
        Ok(positions) => {
            prop_assert!(!positions.is_empty() && positions.len() <= limits.max_positions);
            for p in positions {
                prop_assert!(p.quantity.abs() <= limits.max_quantity && !p.quantity.is_zero());
                prop_assert!(p.entry_price > Decimal::ZERO && p.entry_price <= limits.max_price);
                for price in [p.strike_price, p.exit_price].into_iter().flatten() {
                    prop_assert!(price > Decimal::ZERO && price <= limits.max_price);
                }
                prop_assert!(p.exit_price.is_none() || p.exit_date.is_some());
                prop_assert!(first_control_char(&p.symbol).is_none());
            }
            let total = positions.iter().try_fold(Decimal::ZERO, |sum, p| {
                sum.checked_add(sigmasight_shared::csv_import::notional(p)?)
            });
            prop_assert!(total.is_some_and(|t| t <= limits.max_notional));
        }
        Err(CsvError::Validation { errors, total }) => {
            prop_assert!(!errors.is_empty() && errors.len() <= limits.max_errors);
            prop_assert!(*total >= errors.len());
            prop_assert!(errors.windows(2).all(|w| w[0].row <= w[1].row));
            for e in errors {
                prop_assert!(e.code.starts_with("ERR_POS_"));
                let symbol = e.symbol.as_deref().unwrap_or("");
                prop_assert!(symbol.chars().count() <= echo, "symbol {symbol:?}");
                prop_assert!(first_control_char(symbol).is_none());
                prop_assert!(
                    e.message.chars().count() <= MESSAGE_TEXT_MAX + echo,
                    "{}",
                    e.message
                );
                prop_assert!(!e.message.contains(&too_long_run(limits)), "{}", e.message);
                prop_assert!(first_control_char(&e.message).is_none(), "{:?}", e.message);
            }
        }
        Err(other) => {
            prop_assert!(other.code().starts_with("ERR_CSV_0"));
            let text = other.to_string();
            prop_assert!(!text.contains(&too_long_run(limits)), "{text}");
            prop_assert!(text.chars().count() <= 400 + echo, "{text}");
        }
    }
    Ok(())
}

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (1usize..8, 1usize..12, 2usize..40).prop_map(|(max_positions, max_errors, max_echo_chars)| {
        Limits {
            max_positions,
            max_errors,
            max_echo_chars,
            ..Limits::default()
        }
    })
}

/// Cells a hostile or careless file may hold.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Z]{1,6}",
        "-?[0-9]{1,30}(\\.[0-9]{0,8})?",
        "(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]",
        prop::sample::select(vec![
            "PUBLIC",
            "OPTIONS",
            "PRIVATE",
            "CALL",
            "PUT",
            "STOCK",
            "ETF",
            "OTHER",
            "-",
            "..",
            "0",
            "-0",
            "0.001",
            "1e9",
            "1_000",
            "1000000000000",
            "1000000000000.5",
            "999999999999999999999999999999",
            "1000000000",
            "1000000000.01",
            "9999-12-31",
        ])
        .prop_map(str::to_owned),
        (1usize..300).prop_map(|n| "Q".repeat(n)),
        "[\\x00-\\x1f\\x7f\"#,é🚀 ]{1,8}",
        any::<String>(),
    ]
}

fn quote(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// A file: optional comment lines, a header of some columns in some order, random rows.
fn file_strategy() -> impl Strategy<Value = String> {
    let columns = prop::sample::subsequence(COLUMNS.to_vec(), 1..=COLUMNS.len()).prop_shuffle();
    (columns, 0usize..3, any::<bool>()).prop_flat_map(|(columns, comments, crlf)| {
        let width = columns.len();
        let rows =
            prop::collection::vec((prop::collection::vec(cell(), width), any::<bool>()), 0..12);
        (Just(columns), Just(comments), Just(crlf), rows).prop_map(
            |(columns, comments, crlf, rows)| {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut text = "# comment\n".repeat(comments);
                text.push_str(&columns.join(","));
                text.push_str(eol);
                for (cells, blank_before) in rows {
                    if blank_before {
                        text.push_str(eol);
                    }
                    let cells: Vec<String> = cells.iter().map(|c| quote(c)).collect();
                    text.push_str(&cells.join(","));
                    text.push_str(eol);
                }
                text
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        limits in limits_strategy(),
    ) {
        let result = parse_positions_with("any.csv", &bytes, today(), &limits);
        check_outcome(&result, &limits)?;
    }

    #[test]
    fn arbitrary_text_after_a_header_never_panics(
        body in "[A-Za-z0-9 ,.#\"\r\n_\\-\\x00\\t]{0,600}",
        limits in limits_strategy(),
    ) {
        let text = format!("{}\n{body}", COLUMNS.join(","));
        let result = parse_positions_with("p.csv", text.as_bytes(), today(), &limits);
        check_outcome(&result, &limits)?;
    }

    #[test]
    fn a_header_and_random_cells_never_panic_and_stay_within_the_limits(
        text in file_strategy(),
        limits in limits_strategy(),
    ) {
        let result = parse_positions_with("p.csv", text.as_bytes(), today(), &limits);
        check_outcome(&result, &limits)?;
    }

    #[test]
    fn with_the_default_limits_random_files_stay_within_them(text in file_strategy()) {
        let limits = Limits::default();
        let result = parse_positions_with("p.csv", text.as_bytes(), today(), &limits);
        check_outcome(&result, &limits)?;
    }

    #[test]
    fn a_file_name_is_never_echoed_in_full(name in any::<String>(), n in 0usize..300) {
        let limits = Limits { max_echo_chars: 10, ..Limits::default() };
        let name = format!("{name}{}", "Q".repeat(n));
        if let Err(e) = parse_positions_with(&name, b"x", today(), &limits) {
            prop_assert!(!e.to_string().contains(&"Q".repeat(11)));
            prop_assert!(first_control_char(&e.to_string()).is_none());
        }
    }
}

fn field() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        any::<String>().prop_map(Some),
        "[ \\t]*-?[0-9]{0,30}(\\.[0-9]{0,6})?[ \\t]*".prop_map(Some),
        "[a-z_0-9 \\x00-\\x1f]{0,12}".prop_map(Some),
        (0usize..1200).prop_map(|n| Some("d".repeat(n))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn form_validation_never_panics_and_what_passes_is_clean(
        portfolio_name in field(),
        account_name in field(),
        description in field(),
        account_type in field(),
        equity_balance in field(),
    ) {
        let input = FormInput { portfolio_name, account_name, description, account_type, equity_balance };
        let limits = UploadLimits::default();
        match onboarding::validate(&input, &limits) {
            Ok(valid) => {
                for text in [&valid.portfolio_name, &valid.account_name, &valid.account_type] {
                    prop_assert!(!text.is_empty() && text.trim() == text.as_str());
                    prop_assert!(first_control_char(text).is_none());
                }
                prop_assert!(valid.portfolio_name.chars().count() <= 255);
                prop_assert!(valid.account_name.chars().count() <= 100);
                if let Some(d) = &valid.description {
                    prop_assert!(d.chars().count() <= 1000);
                    prop_assert!(!d.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')));
                }
                if let Some(b) = valid.equity_balance {
                    prop_assert!(b > Decimal::ZERO && b <= limits.max_equity_balance && b.scale() <= 2);
                }
            }
            Err(e) => {
                prop_assert!(e.code.starts_with("ERR_PORT_0") || e.code == "ERR_FORM_002");
                prop_assert!(e.message.chars().count() <= 300, "{}", e.message);
            }
        }
    }

    #[test]
    fn the_invested_amount_never_panics(
        parts in prop::collection::vec((any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28, 1i64..100_000_000_000), 0..20),
    ) {
        let date = today();
        let positions: Vec<ParsedPosition> = parts
            .into_iter()
            .map(|(lo, mid, hi, negative, scale, cents)| ParsedPosition {
                row: 2,
                symbol: "X".into(),
                quantity: Decimal::from_parts(lo, mid, hi, negative, scale),
                entry_price: Decimal::new(cents, 2),
                entry_date: date,
                investment_class: sigmasight_shared::domain::InvestmentClass::Options,
                investment_subtype: "CALL".into(),
                position_type: sigmasight_shared::domain::PositionType::Lc,
                underlying_symbol: None,
                strike_price: None,
                expiration_date: None,
                option_type: None,
                exit_date: None,
                exit_price: None,
            })
            .collect();
        let _ = onboarding::invested(&positions);
        let form = onboarding::validate(
            &FormInput { portfolio_name: Some("P".into()), account_name: Some("A".into()), ..FormInput::default() },
            &UploadLimits::default(),
        ).unwrap();
        if let Ok(upload) = onboarding::prepare(&form, &positions, &UploadLimits::default()) {
            prop_assert!(upload.equity_balance > Decimal::ZERO);
            prop_assert!(upload.equity_balance <= UploadLimits::default().max_equity_balance);
        }
    }
}
