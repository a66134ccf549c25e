//! Onboarding a portfolio: the form's rules (`ERR_PORT_*`), the invested amount that stands in
//! for a missing equity balance, and the ONE transaction that writes the portfolio, its
//! positions and its queued onboarding run. The api parses the request, calls this, and maps
//! the errors onto HTTP.

use crate::csv_import::ParsedPosition;
use crate::db::{self, portfolios, runs::Run};
use crate::domain::RunSource;
use crate::queue;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::str::FromStr;
use uuid::Uuid;

/// Account types the original form offers.
pub const ACCOUNT_TYPES: [&str; 9] = [
    "taxable", "ira", "roth_ira", "401k", "403b", "529", "hsa", "trust", "other",
];

/// The largest equity balance accepted.
pub const MAX_EQUITY_BALANCE: i64 = 1_000_000_000_000;

/// The form's text fields, as received (trimmed; empty = absent).
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
    /// Rounded to cents; `None` = fully invested (see [`invested`]).
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

fn required(
    value: &Option<String>,
    field: &'static str,
    code: &'static str,
    max: usize,
) -> Result<String, FieldError> {
    let v = value
        .as_deref()
        .ok_or_else(|| field_error(code, field, format!("{field} is required")))?;
    if v.chars().count() > max {
        return Err(field_error(
            code,
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn equity_balance(value: Option<&str>) -> Result<Option<Decimal>, FieldError> {
    let Some(raw) = value else { return Ok(None) };
    let bad = || {
        field_error(
            "ERR_PORT_005",
            "equity_balance",
            "equity_balance must be a number greater than 0 and at most 1,000,000,000,000",
        )
    };
    let v = Decimal::from_str(raw).map_err(|_| bad())?;
    if v <= Decimal::ZERO || v > Decimal::from(MAX_EQUITY_BALANCE) {
        return Err(bad());
    }
    Ok(Some(v.round_dp(2)))
}

/// Checks the form's rules: names (ERR_PORT_002/003), description (004), equity balance
/// (005), account type (009).
pub fn validate(input: &FormInput) -> Result<ValidForm, FieldError> {
    let portfolio_name = required(&input.portfolio_name, "portfolio_name", "ERR_PORT_002", 255)?;
    let account_name = required(&input.account_name, "account_name", "ERR_PORT_003", 100)?;
    if input
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 1000)
    {
        return Err(field_error(
            "ERR_PORT_004",
            "description",
            "description must be at most 1000 characters",
        ));
    }
    let account_type = input
        .account_type
        .as_deref()
        .unwrap_or("taxable")
        .to_ascii_lowercase();
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
        description: input.description.clone(),
        account_type,
        equity_balance: equity_balance(input.equity_balance.as_deref())?,
    })
}

/// Σ |qty · entry price · multiplier|: the equity balance when the form gives none.
pub fn invested(positions: &[ParsedPosition]) -> Decimal {
    positions
        .iter()
        .map(|p| {
            (p.quantity * p.entry_price * Decimal::from(p.position_type.contract_multiplier()))
                .abs()
        })
        .sum::<Decimal>()
        .round_dp(2)
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
    form: &ValidForm,
    positions: &[ParsedPosition],
    max_attempts: i32,
) -> Result<Created, CreateError> {
    let balance = form.equity_balance.unwrap_or_else(|| invested(positions));
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

    fn form() -> FormInput {
        FormInput {
            portfolio_name: Some("Main".into()),
            account_name: Some("Brokerage".into()),
            ..FormInput::default()
        }
    }

    #[test]
    fn the_form_rules_give_their_codes() {
        let ok = validate(&form()).expect("valid");
        assert_eq!(ok.account_type, "taxable");
        assert_eq!(ok.equity_balance, None);
        let code = |f: FormInput| validate(&f).err().map(|e| (e.code, e.field));
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
        for bad in ["0", "-5", "abc", "1000000000000.01"] {
            assert_eq!(
                code(FormInput {
                    equity_balance: Some(bad.into()),
                    ..form()
                }),
                Some(("ERR_PORT_005", "equity_balance")),
                "{bad}"
            );
        }
        assert_eq!(
            code(FormInput {
                account_type: Some("offshore".into()),
                ..form()
            }),
            Some(("ERR_PORT_009", "account_type"))
        );
        let roth = validate(&FormInput {
            account_type: Some("ROTH_IRA".into()),
            equity_balance: Some("1234.567".into()),
            ..form()
        })
        .expect("valid");
        assert_eq!(roth.account_type, "roth_ira");
        assert_eq!(roth.equity_balance, Decimal::from_str("1234.57").ok());
    }
}
