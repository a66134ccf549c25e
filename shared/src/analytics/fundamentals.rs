//! Ratios derived from a reported period (ANALYTICS §4): margins, net debt, current ratio,
//! free cash flow. Pure; a ratio whose denominator is missing or zero is None.

use crate::market_data::FundamentalPeriod;

/// The derived figures of one period.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Derived {
    pub gross_margin: Option<f64>,
    pub operating_margin: Option<f64>,
    pub net_margin: Option<f64>,
    /// Total debt − cash.
    pub net_debt: Option<f64>,
    /// Current assets / current liabilities.
    pub current_ratio: Option<f64>,
    /// Operating cash flow − capital expenditure.
    pub free_cash_flow: Option<f64>,
}

fn ratio(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    match (num, den) {
        (Some(n), Some(d)) if d != 0.0 && n.is_finite() && d.is_finite() => Some(n / d),
        _ => None,
    }
}

/// Derives the ratios of `p`.
pub fn derive(p: &FundamentalPeriod) -> Derived {
    Derived {
        gross_margin: ratio(p.gross_profit, p.revenue),
        operating_margin: ratio(p.operating_income, p.revenue),
        net_margin: ratio(p.net_income, p.revenue),
        net_debt: p.total_debt.zip(p.cash).map(|(d, c)| d - c),
        current_ratio: ratio(p.current_assets, p.current_liabilities),
        free_cash_flow: p
            .operating_cash_flow
            .zip(p.capital_expenditure)
            .map(|(o, c)| o - c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn period() -> FundamentalPeriod {
        FundamentalPeriod {
            period_type: "annual".into(),
            period_end: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default(),
            fiscal_year: 2025,
            fiscal_quarter: None,
            revenue: Some(1000.0),
            gross_profit: Some(400.0),
            operating_income: Some(150.0),
            net_income: Some(100.0),
            diluted_eps: Some(2.0),
            total_assets: Some(5000.0),
            total_equity: Some(2000.0),
            current_assets: Some(900.0),
            current_liabilities: Some(600.0),
            total_debt: Some(1200.0),
            cash: Some(300.0),
            operating_cash_flow: Some(180.0),
            capital_expenditure: Some(50.0),
        }
    }

    #[test]
    fn ratios_follow_their_definitions() {
        let d = derive(&period());
        assert_eq!(d.gross_margin, Some(0.4));
        assert_eq!(d.operating_margin, Some(0.15));
        assert_eq!(d.net_margin, Some(0.1));
        assert_eq!(d.net_debt, Some(900.0));
        assert_eq!(d.current_ratio, Some(1.5));
        assert_eq!(d.free_cash_flow, Some(130.0));
    }

    #[test]
    fn missing_or_zero_denominators_give_none() {
        let mut p = period();
        p.revenue = Some(0.0);
        p.current_liabilities = None;
        p.cash = None;
        let d = derive(&p);
        assert_eq!(
            (d.gross_margin, d.current_ratio, d.net_debt),
            (None, None, None)
        );
        assert_eq!(d.free_cash_flow, Some(130.0));
    }
}
