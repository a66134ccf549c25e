//! An arbitrary upload form (each text field absent, or a string built from the fuzzer's
//! bytes, sometimes around a known-good value) through `onboarding::validate` under the
//! default limits. Invariants:
//!
//! * it never panics;
//! * a refusal names one of the form's fields with an `ERR_PORT_*`/`ERR_FORM_002` code and a
//!   short message free of control characters (no value is echoed);
//! * an accepted form has trimmed, non-empty, bounded names without control characters, a
//!   description without control characters other than tab/LF/CR, an account type from
//!   `ACCOUNT_TYPES`, and, when a balance was given, a positive balance in cents within
//!   the limit; validating the accepted form again gives the same form.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sigmasight_shared::onboarding::{
    validate, FormInput, UploadLimits, ValidForm, ACCOUNT_TYPES, MAX_EQUITY_BALANCE,
};

const FIELDS: [&str; 5] = [
    "portfolio_name",
    "account_name",
    "description",
    "account_type",
    "equity_balance",
];
const MAX_MESSAGE_CHARS: usize = 1000;

/// Pieces the fuzzer can splice into a field, so that it reaches the accepting paths (and
/// the edges around them) without having to guess them byte by byte.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "", " ", "\t", "\n", "\r\n", "\0", "\u{1b}", "\u{7f}", "\u{85}", "\u{a0}", "\u{2028}",
    "\u{feff}", "é", "💥", "-", "+", ".", "0", "1", "9", "00", "0.005", "0.004", "1e3",
    "1,000", "999999999999.99", "1000000000000", "1000000000000.004", "NaN", "inf",
    "taxable", "IRA", "Roth_IRA", "401k", "403B", "529", "hsa", "Trust", "other",
];

/// One text field: absent, arbitrary, or arbitrary text around pieces.
fn field(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => None,
        1 => Some(String::arbitrary(u)?),
        _ => {
            let mut s = String::new();
            for _ in 0..u.int_in_range(0..=4u8)? {
                if u.arbitrary()? {
                    s.push_str(u.choose(PIECES)?);
                } else {
                    s.push_str(<&str>::arbitrary(u)?);
                }
            }
            // Now and then a long run, to cross the length limits (255/100/1000 chars).
            if u.ratio(1u8, 8u8)? {
                let c = char::arbitrary(u)?;
                let n = u.int_in_range(90..=1100usize)?;
                s.extend(std::iter::repeat_n(c, n));
            }
            Some(s)
        }
    })
}

fn form(u: &mut Unstructured) -> Result<FormInput> {
    let mut input = FormInput {
        portfolio_name: field(u)?,
        account_name: field(u)?,
        description: field(u)?,
        account_type: field(u)?,
        equity_balance: field(u)?,
    };
    // A balance written from a number, in the ways a client might send it.
    if u.ratio(1u8, 4u8)? {
        input.equity_balance = Some(match u.int_in_range(0..=2u8)? {
            0 => i64::arbitrary(u)?.to_string(),
            1 => f64::arbitrary(u)?.to_string(),
            _ => format!("{}.{:03}", u64::arbitrary(u)?, u16::arbitrary(u)? % 1000),
        });
    }
    Ok(input)
}

fn check_text(what: &str, s: &str, max_chars: usize, allow_layout: bool) {
    assert!(!s.is_empty(), "{what} is empty");
    assert_eq!(s, s.trim(), "{what} is not trimmed: {s:?}");
    let n = s.chars().count();
    assert!(n <= max_chars, "{what} is {n} characters (> {max_chars})");
    let bad = s
        .chars()
        .find(|c| c.is_control() && !(allow_layout && matches!(c, '\t' | '\n' | '\r')));
    assert!(
        bad.is_none(),
        "{what} holds the control character {bad:?}: {s:?}"
    );
}

/// The field as `validate` sees it: trimmed, blank = absent.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn check_accepted(input: &FormInput, form: &ValidForm, limits: &UploadLimits) {
    check_text("portfolio_name", &form.portfolio_name, 255, false);
    check_text("account_name", &form.account_name, 100, false);
    if let Some(d) = &form.description {
        check_text("description", d, 1000, true);
    }
    assert!(
        ACCOUNT_TYPES.contains(&form.account_type.as_str()),
        "account type {:?}",
        form.account_type
    );
    assert_eq!(given(&input.portfolio_name), Some(&*form.portfolio_name));
    assert_eq!(given(&input.account_name), Some(&*form.account_name));
    assert_eq!(given(&input.description), form.description.as_deref());
    match (given(&input.equity_balance), form.equity_balance) {
        (None, None) => {}
        (Some(_), Some(b)) => {
            assert!(b > Decimal::ZERO, "equity balance {b} is not positive");
            assert!(
                b <= limits.max_equity_balance,
                "equity balance {b} above the limit"
            );
            assert!(
                b.normalize().scale() <= 2,
                "equity balance {b} not in cents"
            );
            assert!(
                b.to_f64().is_some_and(f64::is_finite),
                "equity balance {b} is not a finite f64"
            );
        }
        (raw, balance) => panic!("balance given {raw:?} but validated as {balance:?}"),
    }

    // What was accepted is accepted again, unchanged.
    let again = FormInput {
        portfolio_name: Some(form.portfolio_name.clone()),
        account_name: Some(form.account_name.clone()),
        description: form.description.clone(),
        account_type: Some(form.account_type.clone()),
        equity_balance: form.equity_balance.map(|b| b.to_string()),
    };
    match validate(&again, limits) {
        Ok(second) => assert_eq!(&second, form, "validate is not idempotent"),
        Err(e) => panic!("an accepted form, validated again, is refused: {e:?} ({form:?})"),
    }
}

/// `FUZZ_TRACE=1` prints each input's outcome (e.g. when replaying an artifact or a corpus).
fn trace(outcome: std::fmt::Arguments) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some()) {
        eprintln!("{outcome}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = form(&mut u) else { return };
    let limits = UploadLimits::default();
    assert_eq!(limits.max_equity_balance, Decimal::from(MAX_EQUITY_BALANCE));
    match validate(&input, &limits) {
        Ok(form) => {
            trace(format_args!("accepted: {input:?} -> {form:?}"));
            check_accepted(&input, &form, &limits);
        }
        Err(e) => {
            trace(format_args!("refused: {input:?}: {} {}", e.code, e.message));
            assert!(FIELDS.contains(&e.field), "unknown field {:?}", e.field);
            assert!(
                e.code.starts_with("ERR_PORT_") || e.code == "ERR_FORM_002",
                "code {}",
                e.code
            );
            let n = e.message.chars().count();
            assert!(n <= MAX_MESSAGE_CHARS, "message of {n} characters");
            assert!(
                !e.message.chars().any(char::is_control),
                "message holds a control character: {:?}",
                e.message
            );
        }
    }
});
