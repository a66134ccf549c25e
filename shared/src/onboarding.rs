//! Onboarding a portfolio: the form's rules (`ERR_PORT_*`, `ERR_FORM_002`), the upload's
//! limits ([`UploadLimits`]: the CSV's and the equity balance's), the invested amount that
//! stands in for a missing equity balance, and the ONE transaction that writes the
//! portfolio, its positions and its queued onboarding run. The api parses the request,
//! calls this, and maps the errors onto HTTP.

use crate::csv_import::{self, first_control_char, ParsedPosition};
use crate::db::{self, portfolios, runs::Run};
use crate::domain::RunSource;
use crate::queue;
use clap::Args;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// Account types the original form offers.
pub const ACCOUNT_TYPES: [&str; 9] = [
    "taxable", "ira", "roth_ira", "401k", "403b", "529", "hsa", "trust", "other",
];

/// Default of [`UploadLimits::max_equity_balance`].
pub const MAX_EQUITY_BALANCE: i64 = 1_000_000_000_000;

// `portfolios.equity_balance` is numeric(20, 2) (< 1e18), snapshots' numeric(24, 2).
const EQUITY_BALANCE_CEILING: i64 = 1_000_000_000_000_000;

/// Bytes of a text field the api reads; no field's rule allows as much, so a longer field
/// is refused by [`oversized`] without being read on.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

const MAX_PORTFOLIO_NAME_CHARS: usize = 255;
const MAX_ACCOUNT_NAME_CHARS: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// Every limit of an upload, from the environment (flattened into the api's config).
/// [`UploadLimits::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct UploadLimits {
    #[command(flatten)]
    pub csv: csv_import::Limits,
    /// Largest equity balance, given in the form or standing in for it (the invested
    /// amount), at most 1e15.
    #[arg(
        long = "max-equity-balance",
        env = "SIGMASIGHT_MAX_EQUITY_BALANCE",
        default_value_t = Decimal::from(MAX_EQUITY_BALANCE),
        value_parser = parse_equity_limit
    )]
    pub max_equity_balance: Decimal,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            csv: csv_import::Limits::default(),
            max_equity_balance: Decimal::from(MAX_EQUITY_BALANCE),
        }
    }
}

fn parse_equity_limit(raw: &str) -> Result<Decimal, String> {
    csv_import::parse_limit(raw, EQUITY_BALANCE_CEILING)
}

/// The form's text fields, as received (untrimmed; [`validate`] trims them, and a field
/// that is empty after trimming counts as absent).
#[derive(Debug, Clone, Default)]
pub struct FormInput {
    pub portfolio_name: Option<String>,
    pub account_name: Option<String>,
    pub description: Option<String>,
    pub account_type: Option<String>,
    pub equity_balance: Option<String>,
}

/// A form that passed its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidForm {
    pub portfolio_name: String,
    pub account_name: String,
    pub description: Option<String>,
    /// Lower case, one of [`ACCOUNT_TYPES`] (default `taxable`).
    pub account_type: String,
    /// Rounded to cents, > 0; `None` = fully invested (see [`invested`]).
    pub equity_balance: Option<Decimal>,
}

/// A form field that broke its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

fn field_error(code: &'static str, field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        code,
        field,
        message: message.into(),
    }
}

/// `ERR_FORM_002` when a value holds a control character (NUL, escape, a line break …).
/// `allow_layout` lets tab, line feed and carriage return through (a description is
/// typed in a text area); NUL and the other control characters never pass.
pub fn printable(field: &'static str, value: &str, allow_layout: bool) -> Result<(), FieldError> {
    let found = if allow_layout {
        value
            .chars()
            .enumerate()
            .find(|(_, c)| {
                crate::csv_import::is_refused_char(*c) && !matches!(c, '\t' | '\n' | '\r')
            })
            .map(|(i, c)| (i + 1, c))
    } else {
        first_control_char(value)
    };
    match found {
        None => Ok(()),
        Some((at, c)) => Err(field_error(
            "ERR_FORM_002",
            field,
            format!(
                "{field} contains the control character U+{:04X} (character {at}); only printable text is allowed",
                c as u32
            ),
        )),
    }
}

/// The error of a field longer than [`MAX_FIELD_BYTES`], with that field's own code;
/// `None` for a name that is not a text field of the form.
pub fn oversized(field: &str) -> Option<FieldError> {
    let (field, code) = match field {
        "portfolio_name" => ("portfolio_name", "ERR_PORT_002"),
        "account_name" => ("account_name", "ERR_PORT_003"),
        "description" => ("description", "ERR_PORT_004"),
        "equity_balance" => ("equity_balance", "ERR_PORT_005"),
        "account_type" => ("account_type", "ERR_PORT_009"),
        _ => return None,
    };
    let message = format!("{field} is longer than {MAX_FIELD_BYTES} bytes");
    Some(field_error(code, field, message))
}

/// The trimmed value of a field after its control-character check; `None` when absent or
/// blank.
fn text<'a>(
    value: &'a Option<String>,
    field: &'static str,
    allow_layout: bool,
) -> Result<Option<&'a str>, FieldError> {
    let Some(raw) = value.as_deref() else {
        return Ok(None);
    };
    printable(field, raw, allow_layout)?;
    Ok(Some(raw.trim()).filter(|t| !t.is_empty()))
}

fn required(
    value: Option<&str>,
    field: &'static str,
    code: &'static str,
    max: usize,
) -> Result<String, FieldError> {
    let v = value.ok_or_else(|| field_error(code, field, format!("{field} is required")))?;
    if v.chars().nth(max).is_some() {
        return Err(field_error(
            code,
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// `equity_balance`: a number in the CSV's notation (see [`csv_import::parse_decimal`]),
/// rounded to cents, then > 0 and ≤ `max`.
fn equity_balance(value: Option<&str>, max: Decimal) -> Result<Option<Decimal>, FieldError> {
    let Some(raw) = value else { return Ok(None) };
    let bad = || {
        field_error(
            "ERR_PORT_005",
            "equity_balance",
            format!(
                "equity_balance must be a plain number (digits, an optional sign and decimal point) that is greater than 0 when rounded to cents and at most {max}"
            ),
        )
    };
    let v = csv_import::parse_decimal(raw).ok_or_else(bad)?.round_dp(2);
    if v <= Decimal::ZERO || v > max {
        return Err(bad());
    }
    Ok(Some(v))
}

/// Checks the form's rules: control characters (ERR_FORM_002), names (ERR_PORT_002/003),
/// description (004), equity balance (005), account type (009).
pub fn validate(input: &FormInput, limits: &UploadLimits) -> Result<ValidForm, FieldError> {
    let portfolio_name = text(&input.portfolio_name, "portfolio_name", false)?;
    let account_name = text(&input.account_name, "account_name", false)?;
    let account_type = text(&input.account_type, "account_type", false)?;
    let description = text(&input.description, "description", true)?;
    let balance = text(&input.equity_balance, "equity_balance", false)?;

    let portfolio_name = required(
        portfolio_name,
        "portfolio_name",
        "ERR_PORT_002",
        MAX_PORTFOLIO_NAME_CHARS,
    )?;
    let account_name = required(
        account_name,
        "account_name",
        "ERR_PORT_003",
        MAX_ACCOUNT_NAME_CHARS,
    )?;
    if description.is_some_and(|d| d.chars().nth(MAX_DESCRIPTION_CHARS).is_some()) {
        return Err(field_error(
            "ERR_PORT_004",
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let account_type = account_type.unwrap_or("taxable").to_ascii_lowercase();
    if !ACCOUNT_TYPES.contains(&account_type.as_str()) {
        return Err(field_error(
            "ERR_PORT_009",
            "account_type",
            format!("account_type must be one of {}", ACCOUNT_TYPES.join(", ")),
        ));
    }
    Ok(ValidForm {
        portfolio_name,
        account_name,
        description: description.map(str::to_owned),
        account_type,
        equity_balance: equity_balance(balance, limits.max_equity_balance)?,
    })
}

/// Σ |qty · entry price · multiplier|, rounded to cents: the equity balance when the form
/// gives none. `None` if it does not fit a decimal (checked arithmetic: never a panic).
pub fn invested(positions: &[ParsedPosition]) -> Option<Decimal> {
    positions
        .iter()
        .try_fold(Decimal::ZERO, |sum, p| {
            let multiplier = Decimal::from(p.position_type.contract_multiplier());
            let cost = p
                .quantity
                .checked_mul(p.entry_price)?
                .checked_mul(multiplier)?;
            sum.checked_add(cost.abs())
        })
        .map(|total| total.round_dp(2))
}

/// An upload that passed every rule: what [`create`] writes.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    pub form: &'a ValidForm,
    pub positions: &'a [ParsedPosition],
    /// The form's equity balance, else the invested amount; > 0 and within the limit.
    pub equity_balance: Decimal,
}

/// The equity balance of an upload: the form's, else the invested amount, which must be
/// > 0 after rounding to cents and at most the limit (ERR_PORT_005 otherwise).
pub fn prepare<'a>(
    form: &'a ValidForm,
    positions: &'a [ParsedPosition],
    limits: &UploadLimits,
) -> Result<Upload<'a>, FieldError> {
    let max = limits.max_equity_balance;
    let equity_balance = match form.equity_balance {
        Some(given) => given,
        None => invested(positions)
            .filter(|v| *v > Decimal::ZERO && *v <= max)
            .ok_or_else(|| {
                field_error(
                    "ERR_PORT_005",
                    "equity_balance",
                    format!(
                        "without an equity_balance the positions' invested amount (Σ |quantity × entry price × multiplier|) stands in for it, and it must be greater than 0.00 and at most {max}; give an equity_balance"
                    ),
                )
            })?,
    };
    Ok(Upload {
        form,
        positions,
        equity_balance,
    })
}

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    pub portfolio_id: Uuid,
    pub run: Run,
    pub equity_balance: Decimal,
}

/// Why [`create`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The user has a portfolio with this account name (ERR_PORT_001).
    #[error("account name already in use")]
    AccountNameTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Writes the portfolio, its positions and the queued onboarding run in ONE transaction:
/// all of it, or nothing.
pub async fn create(
    pool: &PgPool,
    user_id: Uuid,
    upload: &Upload<'_>,
    max_attempts: i32,
) -> Result<Created, CreateError> {
    let (form, positions, balance) = (upload.form, upload.positions, upload.equity_balance);
    let portfolio_id = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let new = portfolios::NewPortfolio {
        id: portfolio_id,
        user_id,
        name: &form.portfolio_name,
        account_name: &form.account_name,
        account_type: &form.account_type,
        description: form.description.as_deref(),
        equity_balance: balance,
        equity_balance_given: form.equity_balance.is_some(),
    };
    if let Err(e) = portfolios::insert(&mut *tx, &new).await {
        if db::is_unique_violation(&e, portfolios::ACCOUNT_NAME_UNIQUE) {
            return Err(CreateError::AccountNameTaken);
        }
        return Err(e.into());
    }
    db::positions::insert_many(&mut tx, portfolio_id, positions).await?;
    let run = queue::enqueue_onboarding(&mut tx, portfolio_id, RunSource::Onboarding, max_attempts)
        .await?;
    tx.commit().await?;
    Ok(Created {
        portfolio_id,
        run,
        equity_balance: balance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn form() -> FormInput {
        FormInput {
            portfolio_name: Some("Main".into()),
            account_name: Some("Brokerage".into()),
            ..FormInput::default()
        }
    }

    fn code(f: FormInput) -> Option<(&'static str, &'static str)> {
        validate(&f, &UploadLimits::default())
            .err()
            .map(|e| (e.code, e.field))
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn the_form_rules_give_their_codes() {
        let ok = validate(&form(), &UploadLimits::default()).expect("valid");
        assert_eq!(ok.account_type, "taxable");
        assert_eq!(ok.equity_balance, None);
        assert_eq!(
            code(FormInput {
                portfolio_name: None,
                ..form()
            }),
            Some(("ERR_PORT_002", "portfolio_name"))
        );
        assert_eq!(
            code(FormInput {
                account_name: Some("a".repeat(101)),
                ..form()
            }),
            Some(("ERR_PORT_003", "account_name"))
        );
        assert_eq!(
            code(FormInput {
                description: Some("d".repeat(1001)),
                ..form()
            }),
            Some(("ERR_PORT_004", "description"))
        );
        assert_eq!(
            code(FormInput {
                account_type: Some("offshore".into()),
                ..form()
            }),
            Some(("ERR_PORT_009", "account_type"))
        );
        let roth = validate(
            &FormInput {
                account_type: Some("ROTH_IRA".into()),
                equity_balance: Some("1234.567".into()),
                ..form()
            },
            &UploadLimits::default(),
        )
        .expect("valid");
        assert_eq!(roth.account_type, "roth_ira");
        assert_eq!(roth.equity_balance, Some(dec("1234.57")));
    }

    #[test]
    fn blank_fields_are_absent_and_values_are_trimmed() {
        let ok = validate(
            &FormInput {
                portfolio_name: Some("  Main  ".into()),
                description: Some("   ".into()),
                account_type: Some(" ira ".into()),
                ..form()
            },
            &UploadLimits::default(),
        )
        .expect("valid");
        assert_eq!(
            (
                ok.portfolio_name.as_str(),
                ok.description,
                ok.account_type.as_str()
            ),
            ("Main", None, "ira")
        );
        assert_eq!(
            code(FormInput {
                account_name: Some("  ".into()),
                ..form()
            }),
            Some(("ERR_PORT_003", "account_name"))
        );
    }

    #[test]
    fn equity_balance_follows_the_csv_number_rules_and_is_positive_in_cents() {
        for bad in [
            "0",
            "-5",
            "abc",
            "1_000",
            "1,000",
            "1e6",
            "0x10",
            "0.001",
            "0.004",
            "0.005",
            "1000000000000.01",
            "99999999999999999999999999999999",
            "+",
            ".",
            "١٢",
        ] {
            assert_eq!(
                code(FormInput {
                    equity_balance: Some(bad.into()),
                    ..form()
                }),
                Some(("ERR_PORT_005", "equity_balance")),
                "{bad}"
            );
        }
        for (good, expected) in [
            ("0.01", "0.01"),
            ("0.006", "0.01"),
            ("1000000000000", "1000000000000"),
            ("+12.5", "12.50"),
        ] {
            let v = validate(
                &FormInput {
                    equity_balance: Some(good.into()),
                    ..form()
                },
                &UploadLimits::default(),
            )
            .expect(good);
            assert_eq!(v.equity_balance, Some(dec(expected)), "{good}");
        }
    }

    #[test]
    fn the_equity_balance_limit_is_configurable() {
        let limits = UploadLimits {
            max_equity_balance: dec("500"),
            ..UploadLimits::default()
        };
        let with = |v: &str| FormInput {
            equity_balance: Some(v.into()),
            ..form()
        };
        assert!(validate(&with("500"), &limits).is_ok());
        assert_eq!(
            validate(&with("500.01"), &limits).err().map(|e| e.code),
            Some("ERR_PORT_005")
        );
    }

    /// Picks one field of the form.
    type Slot = fn(&mut FormInput) -> &mut Option<String>;

    #[test]
    fn invisible_and_bidi_override_characters_are_refused_like_control_characters() {
        for value in [
            "\u{feff}\u{feff}",
            "Main\u{202e}gpj.exe",
            "a\u{200b}",
            "\u{2066}x",
        ] {
            let input = FormInput {
                portfolio_name: Some("Growth".into()),
                account_name: Some(value.into()),
                ..FormInput::default()
            };
            let err = validate(&input, &UploadLimits::default()).expect_err(value);
            assert_eq!(
                (err.code, err.field),
                ("ERR_FORM_002", "account_name"),
                "{value:?}"
            );
        }
        // Joiners stay: they are part of emoji and of scripts such as Persian.
        let input = FormInput {
            portfolio_name: Some("Growth \u{1F468}\u{200D}\u{1F469}".into()),
            account_name: Some("Main".into()),
            ..FormInput::default()
        };
        assert!(validate(&input, &UploadLimits::default()).is_ok());
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field_naming_it() {
        let cases: [(Slot, &str); 5] = [
            (|f| &mut f.portfolio_name, "portfolio_name"),
            (|f| &mut f.account_name, "account_name"),
            (|f| &mut f.account_type, "account_type"),
            (|f| &mut f.description, "description"),
            (|f| &mut f.equity_balance, "equity_balance"),
        ];
        for (slot, field) in cases {
            for bad in [
                "a\0b",
                "\0",
                "x\u{1b}[31m",
                "\u{7f}",
                "tab\tinside",
                "line\nbreak",
                "trail\t",
                "\u{85}",
            ] {
                let mut input = form();
                *slot(&mut input) = Some(bad.to_owned());
                let layout = matches!(bad, "tab\tinside" | "line\nbreak" | "trail\t");
                if field == "description" && layout {
                    assert!(
                        validate(&input, &UploadLimits::default()).is_ok(),
                        "{bad:?}"
                    );
                    continue;
                }
                let error = validate(&input, &UploadLimits::default()).expect_err(bad);
                assert_eq!(
                    (error.code, error.field),
                    ("ERR_FORM_002", field),
                    "{bad:?}"
                );
                assert!(error.message.contains("U+"), "{}", error.message);
            }
        }
    }

    #[test]
    fn oversized_fields_get_their_own_codes() {
        assert_eq!(
            oversized("description").map(|e| (e.code, e.field)),
            Some(("ERR_PORT_004", "description"))
        );
        assert_eq!(
            oversized("equity_balance").map(|e| e.code),
            Some("ERR_PORT_005")
        );
        assert_eq!(oversized("csv_file"), None);
    }

    fn position(quantity: &str, price: &str, option: bool) -> ParsedPosition {
        use crate::domain::{InvestmentClass, PositionType};
        let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).expect("date");
        ParsedPosition {
            row: 2,
            symbol: "X".into(),
            quantity: dec(quantity),
            entry_price: dec(price),
            entry_date: date,
            investment_class: if option {
                InvestmentClass::Options
            } else {
                InvestmentClass::Public
            },
            investment_subtype: "STOCK".into(),
            position_type: if option {
                PositionType::Lc
            } else {
                PositionType::Long
            },
            underlying_symbol: None,
            strike_price: None,
            expiration_date: None,
            option_type: None,
            exit_date: None,
            exit_price: None,
        }
    }

    #[test]
    fn invested_uses_checked_arithmetic() {
        assert_eq!(
            invested(&[position("10", "150", false), position("-2", "5.5", true)]),
            Some(dec("2600.00"))
        );
        let huge = position("79228162514264337593543950335", "2", false);
        assert_eq!(invested(&[huge]), None);
        let big = position("79228162514264337593543950335", "1", false);
        assert_eq!(invested(&[big.clone(), big]), None);
    }

    #[test]
    fn without_an_equity_balance_the_invested_amount_must_fit_and_be_positive() {
        let limits = UploadLimits::default();
        let valid = validate(&form(), &limits).expect("valid");
        let ok = [position("10", "150", false)];
        assert_eq!(
            prepare(&valid, &ok, &limits).expect("ok").equity_balance,
            dec("1500")
        );
        for positions in [
            vec![position("1000000000000", "2", false)],
            vec![position("0.000001", "0.01", false)],
            vec![position("79228162514264337593543950335", "2", false)],
        ] {
            let error = prepare(&valid, &positions, &limits).expect_err("refused");
            assert_eq!(
                (error.code, error.field),
                ("ERR_PORT_005", "equity_balance")
            );
        }
        let given = validate(
            &FormInput {
                equity_balance: Some("100".into()),
                ..form()
            },
            &limits,
        )
        .expect("valid");
        let tiny = [position("0.000001", "0.01", false)];
        assert_eq!(
            prepare(&given, &tiny, &limits).expect("ok").equity_balance,
            dec("100")
        );
    }

    #[test]
    fn limit_settings_refuse_values_beyond_the_columns() {
        assert!(parse_equity_limit("1000000000000000").is_ok());
        for bad in ["1000000000000001", "0", "-1", "1e12", "x"] {
            assert!(parse_equity_limit(bad).is_err(), "{bad}");
        }
    }
}
