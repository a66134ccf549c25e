//! Arbitrary bytes as an uploaded CSV file, through `csv_import::parse_positions` (the
//! default limits), with the invariants the module documents:
//!
//! * it never panics (debug assertions and overflow checks are on in fuzz builds);
//! * a rejection is bounded: at most `MAX_ERRORS_DEFAULT` row errors, every echoed symbol
//!   cut to `MAX_ECHO_CHARS_DEFAULT` characters, every message short and free of control
//!   characters (values are echoed through `shown`, which replaces them);
//! * an accepted file gives positions whose numbers are within the limits (and finite as
//!   f64, as the worker reads them), whose dates are in range, and whose total notional is
//!   at most `MAX_NOTIONAL_DEFAULT`.
#![no_main]

use std::collections::HashSet;

use chrono::{Days, NaiveDate};
use libfuzzer_sys::fuzz_target;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sigmasight_shared::csv_import::{
    notional, parse_positions, CsvError, Limits, ParsedPosition, MAX_ECHO_CHARS_DEFAULT,
    MAX_ERRORS_DEFAULT, MAX_NOTIONAL_DEFAULT, MAX_POSITIONS_DEFAULT, MAX_PRICE_DEFAULT,
    MAX_QUANTITY_DEFAULT,
};
use sigmasight_shared::domain::InvestmentClass;

/// A fixed "today", so that a crashing input reproduces on any day.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 15).expect("valid date")
}

/// Longest message (in characters) any error may carry: fixed text, a few values cut to
/// `MAX_ECHO_CHARS_DEFAULT`, and at most the list of allowed columns or subtypes.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Decimal places of the stored columns: quantity, entry price, strike and exit price.
const QUANTITY_PLACES: u32 = 6;
const ENTRY_PRICE_PLACES: u32 = 2;
const OPTION_PRICE_PLACES: u32 = 4;
const MAX_SYMBOL_CHARS: usize = 100;
const MAX_AGE_DAYS: u64 = 36_500;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn check_text(what: &str, s: &str, max_chars: usize) {
    let n = s.chars().count();
    assert!(
        n <= max_chars,
        "{what} is {n} characters (> {max_chars}): {s:?}"
    );
    assert!(!has_control(s), "{what} holds a control character: {s:?}");
}

fn check_rejection(err: &CsvError) {
    check_text("error display", &err.to_string(), MAX_MESSAGE_CHARS);
    assert!(err.code().starts_with("ERR_CSV_"), "code {}", err.code());
    let CsvError::Validation { errors, total } = err else {
        return;
    };
    assert!(!errors.is_empty(), "a validation error without row errors");
    assert!(
        errors.len() <= MAX_ERRORS_DEFAULT,
        "{} row errors reported (> {MAX_ERRORS_DEFAULT})",
        errors.len()
    );
    assert_eq!(
        errors.len(),
        (*total).min(MAX_ERRORS_DEFAULT),
        "kept errors vs total {total}"
    );
    let mut last_row = 0;
    for e in errors {
        assert!(e.row >= 1 && e.row >= last_row, "rows out of order: {e:?}");
        last_row = e.row;
        assert!(e.code.starts_with("ERR_POS_"), "row error code {}", e.code);
        check_text("row error message", &e.message, MAX_MESSAGE_CHARS);
        if let Some(symbol) = &e.symbol {
            check_text("echoed symbol", symbol, MAX_ECHO_CHARS_DEFAULT);
        }
        if let Some(column) = &e.column {
            assert!(
                sigmasight_shared::csv_import::COLUMNS.contains(&column.as_str()),
                "unknown column {column:?}"
            );
        }
    }
}

fn places(v: Decimal) -> u32 {
    v.normalize().scale()
}

fn finite(what: &str, v: Decimal) {
    let f = v.to_f64();
    assert!(
        f.is_some_and(f64::is_finite),
        "{what} {v} is not a finite f64"
    );
}

fn check_price(what: &str, v: Decimal, max: Decimal, max_places: u32) {
    finite(what, v);
    assert!(v > Decimal::ZERO, "{what} {v} is not positive");
    assert!(v <= max, "{what} {v} is above the limit {max}");
    assert!(places(v) <= max_places, "{what} {v} has too many places");
}

fn check_position(p: &ParsedPosition, today: NaiveDate, limits: &Limits) {
    assert!(!p.symbol.is_empty(), "empty symbol: {p:?}");
    check_text("symbol", &p.symbol, MAX_SYMBOL_CHARS);
    assert_eq!(p.symbol, p.symbol.trim(), "untrimmed symbol: {p:?}");

    finite("quantity", p.quantity);
    assert!(!p.quantity.is_zero(), "zero quantity: {p:?}");
    assert!(
        p.quantity.abs() <= limits.max_quantity,
        "quantity above the limit: {p:?}"
    );
    assert!(
        places(p.quantity) <= QUANTITY_PLACES,
        "quantity too precise: {p:?}"
    );
    check_price(
        "entry price",
        p.entry_price,
        limits.max_price,
        ENTRY_PRICE_PLACES,
    );
    if let Some(strike) = p.strike_price {
        check_price("strike", strike, limits.max_price, OPTION_PRICE_PLACES);
    }
    if let Some(exit) = p.exit_price {
        check_price("exit price", exit, limits.max_price, OPTION_PRICE_PLACES);
        assert!(p.exit_date.is_some(), "exit price without exit date: {p:?}");
    }

    assert!(p.entry_date <= today, "entry date in the future: {p:?}");
    let oldest = today
        .checked_sub_days(Days::new(MAX_AGE_DAYS))
        .expect("date in range");
    assert!(p.entry_date >= oldest, "entry date too old: {p:?}");
    if let Some(exit) = p.exit_date {
        assert!(exit >= p.entry_date, "exit before entry: {p:?}");
    }

    let is_options = p.investment_class == InvestmentClass::Options;
    assert_eq!(
        p.position_type.is_option(),
        is_options,
        "position type vs class: {p:?}"
    );
    if is_options {
        assert!(
            p.underlying_symbol.is_some()
                && p.strike_price.is_some()
                && p.expiration_date.is_some()
                && p.option_type.is_some(),
            "options row without its option fields: {p:?}"
        );
    } else {
        assert!(
            p.underlying_symbol.is_none()
                && p.strike_price.is_none()
                && p.expiration_date.is_none()
                && p.option_type.is_none(),
            "option fields on a non-options row: {p:?}"
        );
    }
    if let Some(u) = &p.underlying_symbol {
        assert!(!u.is_empty(), "empty underlying: {p:?}");
        check_text("underlying", u, MAX_SYMBOL_CHARS);
    }
    check_text("subtype", &p.investment_subtype, MAX_SYMBOL_CHARS);
    if let (Some(exp), true) = (p.expiration_date, is_options) {
        assert!(exp >= p.entry_date, "expiration before entry: {p:?}");
    }
}

fn check_accepted(positions: &[ParsedPosition], today: NaiveDate) {
    let limits = Limits::default();
    // The documented defaults are what `Limits::default` gives.
    assert_eq!(limits.max_errors, MAX_ERRORS_DEFAULT);
    assert_eq!(limits.max_quantity, Decimal::from(MAX_QUANTITY_DEFAULT));
    assert_eq!(limits.max_price, Decimal::from(MAX_PRICE_DEFAULT));

    assert!(!positions.is_empty(), "accepted with no positions");
    assert!(
        positions.len() <= MAX_POSITIONS_DEFAULT,
        "{} positions",
        positions.len()
    );
    let mut last_row = 0;
    let mut seen = HashSet::new();
    let mut total = Decimal::ZERO;
    for p in positions {
        assert!(p.row > last_row, "rows not increasing: {p:?}");
        last_row = p.row;
        check_position(p, today, &limits);
        assert!(
            seen.insert((p.symbol.clone(), p.entry_date)),
            "duplicate symbol and entry date accepted: {p:?}"
        );
        let n = notional(p).expect("an accepted position's notional fits a decimal");
        total = total
            .checked_add(n)
            .expect("an accepted file's notional fits a decimal");
    }
    assert!(
        total <= Decimal::from(MAX_NOTIONAL_DEFAULT),
        "total notional {total} above the limit"
    );
    finite("total notional", total);
}

/// `FUZZ_TRACE=1` prints each input's outcome (e.g. when replaying an artifact or a corpus).
fn trace(outcome: std::fmt::Arguments) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some()) {
        eprintln!("{outcome}");
    }
}

fuzz_target!(|data: &[u8]| {
    let today = today();
    match parse_positions("positions.csv", data, today) {
        Ok(positions) => {
            trace(format_args!("accepted: {} positions", positions.len()));
            check_accepted(&positions, today);
        }
        Err(err) => {
            trace(format_args!("refused: {} {err}", err.code()));
            check_rejection(&err);
        }
    }
});
