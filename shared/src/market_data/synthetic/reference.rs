//! Deterministic company profiles and fundamentals of the synthetic market (ANALYTICS §4):
//! a pure function of (seed, symbol, as-of date), consistent with the price path (market cap
//! = shares × close, 52-week range from the closes, provider beta = the planted market
//! loading).

use super::{fnv1a64, log_uniform_in, normalize, uniform_in, Stream, SyntheticMarket};
use crate::market_data::{CompanyProfile, FundamentalPeriod, Fundamentals, ProviderError};
use chrono::{Datelike, NaiveDate};

const REFERENCE_TAG: u64 = 0x4EF0_0000_0000_0004;

/// Sectors as data providers name them (phase 5 normalises some of these names).
const SECTORS: [(&str, [&str; 2]); 10] = [
    ("Technology", ["Software—Infrastructure", "Semiconductors"]),
    (
        "Financial Services",
        ["Banks—Diversified", "Asset Management"],
    ),
    (
        "Healthcare",
        ["Drug Manufacturers—General", "Medical Devices"],
    ),
    (
        "Consumer Cyclical",
        ["Internet Retail", "Auto Manufacturers"],
    ),
    (
        "Consumer Defensive",
        ["Beverages—Non-Alcoholic", "Household & Personal Products"],
    ),
    ("Energy", ["Oil & Gas Integrated", "Oil & Gas E&P"]),
    (
        "Industrials",
        ["Aerospace & Defense", "Specialty Industrial Machinery"],
    ),
    (
        "Communication Services",
        ["Internet Content & Information", "Entertainment"],
    ),
    ("Basic Materials", ["Specialty Chemicals", "Gold"]),
    (
        "Utilities",
        ["Utilities—Regulated Electric", "Utilities—Renewable"],
    ),
];

/// Known tickers keep plausible names and sectors.
const KNOWN: [(&str, &str, usize, usize); 16] = [
    ("AAPL", "Apple Inc.", 0, 1),
    ("MSFT", "Microsoft Corporation", 0, 0),
    ("NVDA", "NVIDIA Corporation", 0, 1),
    ("AMZN", "Amazon.com, Inc.", 3, 0),
    ("GOOGL", "Alphabet Inc.", 7, 0),
    ("META", "Meta Platforms, Inc.", 7, 0),
    ("TSLA", "Tesla, Inc.", 3, 1),
    ("NFLX", "Netflix, Inc.", 7, 1),
    ("JPM", "JPMorgan Chase & Co.", 1, 0),
    ("BAC", "Bank of America Corporation", 1, 0),
    ("XOM", "Exxon Mobil Corporation", 5, 0),
    ("CVX", "Chevron Corporation", 5, 0),
    ("JNJ", "Johnson & Johnson", 2, 0),
    ("PG", "The Procter & Gamble Company", 4, 1),
    ("KO", "The Coca-Cola Company", 4, 0),
    ("WMT", "Walmart Inc.", 4, 1),
];

/// The factor ETFs and other funds the market knows as ETFs.
const ETFS: [&str; 12] = [
    "SPY", "VTV", "VUG", "MTUM", "QUAL", "IWM", "USMV", "TLT", "QQQ", "VTI", "VOO", "DIA",
];

impl SyntheticMarket {
    fn reference_stream(&self, sym: &str) -> Stream {
        Stream::new(self.seed, fnv1a64(sym.as_bytes()) ^ REFERENCE_TAG)
    }

    fn last_close(&self, sym: &str, as_of: NaiveDate) -> Result<(Vec<f64>, f64), ProviderError> {
        let start = as_of - chrono::Duration::days(365);
        let closes: Vec<f64> = self
            .history(sym, start, as_of)?
            .into_iter()
            .map(|b| b.close)
            .collect();
        let last = closes
            .last()
            .copied()
            .ok_or_else(|| ProviderError::NotFound {
                symbol: sym.to_owned(),
                reason: format!("no price on or before {as_of}"),
            })?;
        Ok((closes, last))
    }

    /// The profile of `symbol` as of `as_of`.
    pub fn profile(&self, symbol: &str, as_of: NaiveDate) -> Result<CompanyProfile, ProviderError> {
        let sym = normalize(symbol);
        let (closes, close) = self.last_close(&sym, as_of)?;
        let r = self.reference_stream(&sym);
        let is_etf = ETFS.contains(&sym.as_str());
        let shares = log_uniform_in(r.uniform(0), 5.0e7, 1.0e10);
        let (name, sector, industry) = match KNOWN.iter().find(|k| k.0 == sym) {
            Some((_, name, s, i)) => (
                (*name).to_owned(),
                Some(SECTORS[*s].0),
                Some(SECTORS[*s].1[*i]),
            ),
            None if is_etf => (format!("{sym} Index ETF"), None, None),
            None => {
                let s = (r.bits(1) % SECTORS.len() as u64) as usize;
                let i = (r.bits(2) % 2) as usize;
                (
                    format!("{sym} Holdings Inc."),
                    Some(SECTORS[s].0),
                    Some(SECTORS[s].1[i]),
                )
            }
        };
        let trailing_pe = (!is_etf).then(|| uniform_in(r.uniform(3), 8.0, 45.0));
        Ok(CompanyProfile {
            symbol: sym.clone(),
            name,
            sector: sector.map(str::to_owned),
            industry: industry.map(str::to_owned),
            exchange: Some(if r.uniform(4) < 0.5 { "NASDAQ" } else { "NYSE" }.to_owned()),
            country: Some("United States".to_owned()),
            market_cap: Some(shares * close),
            beta: Some((self.loadings(&sym).market * 100.0).round() / 100.0),
            trailing_pe,
            forward_pe: trailing_pe.map(|pe| pe * uniform_in(r.uniform(5), 0.8, 1.0)),
            dividend_yield: Some(uniform_in(r.uniform(6), 0.0, 0.04)),
            week_52_high: closes.iter().copied().reduce(f64::max),
            week_52_low: closes.iter().copied().reduce(f64::min),
            is_etf,
            is_fund: is_etf,
        })
    }

    /// Eight quarters and three fiscal years (December year end) reported by `as_of`
    /// (a quarter is reported 30 days after it ends).
    pub fn fundamentals_as_of(
        &self,
        symbol: &str,
        as_of: NaiveDate,
    ) -> Result<Fundamentals, ProviderError> {
        let profile = self.profile(symbol, as_of)?;
        if profile.is_etf {
            return Err(ProviderError::NotFound {
                symbol: profile.symbol,
                reason: "ETFs have no fundamentals".into(),
            });
        }
        let r = self.reference_stream(&profile.symbol);
        let cap = profile.market_cap.unwrap_or(1.0e9);
        let annual_revenue = cap / uniform_in(r.uniform(10), 1.0, 10.0);
        let mut quarters = Vec::new();
        let mut end = quarter_end_before(as_of - chrono::Duration::days(30));
        for _ in 0..8 {
            quarters.push(self.period(&r, "quarterly", end, annual_revenue / 4.0));
            end = quarter_end_before(end - chrono::Duration::days(1));
        }
        let mut periods: Vec<FundamentalPeriod> = quarters.clone();
        let last_fy = if as_of.month() > 2 || (as_of.month() == 2 && as_of.day() > 15) {
            as_of.year() - 1
        } else {
            as_of.year() - 2
        };
        for fy in (last_fy - 2..=last_fy).rev() {
            let end = NaiveDate::from_ymd_opt(fy, 12, 31).unwrap_or(as_of);
            periods.push(self.period(&r, "annual", end, annual_revenue));
        }
        let latest = quarters.first().map(|q| q.period_end).unwrap_or(as_of);
        let next_quarter_end = quarter_end_before(latest + chrono::Duration::days(100));
        Ok(Fundamentals {
            periods,
            next_earnings_date: Some(next_quarter_end + chrono::Duration::days(30)),
        })
    }

    fn period(
        &self,
        r: &Stream,
        kind: &str,
        end: NaiveDate,
        revenue_base: f64,
    ) -> FundamentalPeriod {
        let k = u64::try_from(end.num_days_from_ce()).unwrap_or(0);
        let growth = uniform_in(r.uniform(100 + k), 0.95, 1.05);
        let revenue = revenue_base * growth;
        let gross_margin = uniform_in(r.uniform(11), 0.25, 0.75);
        let operating_margin = gross_margin * uniform_in(r.uniform(12), 0.2, 0.6);
        let net_income = revenue * operating_margin * 0.8;
        let shares = log_uniform_in(r.uniform(0), 5.0e7, 1.0e10);
        let total_assets = revenue_base
            * if kind == "annual" { 1.0 } else { 4.0 }
            * uniform_in(r.uniform(13), 0.8, 3.0);
        FundamentalPeriod {
            period_type: kind.to_owned(),
            period_end: end,
            fiscal_year: end.year(),
            fiscal_quarter: (kind == "quarterly")
                .then(|| i32::try_from(end.month().div_ceil(3)).unwrap_or(1)),
            revenue: Some(revenue),
            gross_profit: Some(revenue * gross_margin),
            operating_income: Some(revenue * operating_margin),
            net_income: Some(net_income),
            diluted_eps: Some(net_income / shares),
            total_assets: Some(total_assets),
            total_equity: Some(total_assets * uniform_in(r.uniform(14), 0.2, 0.6)),
            current_assets: Some(total_assets * 0.3),
            current_liabilities: Some(total_assets * uniform_in(r.uniform(15), 0.1, 0.3)),
            total_debt: Some(total_assets * uniform_in(r.uniform(16), 0.0, 0.4)),
            cash: Some(total_assets * uniform_in(r.uniform(17), 0.02, 0.2)),
            operating_cash_flow: Some(net_income * uniform_in(r.uniform(18), 1.0, 1.5)),
            capital_expenditure: Some(revenue * uniform_in(r.uniform(19), 0.02, 0.1)),
        }
    }
}

/// The last calendar-quarter end on or before `d`.
fn quarter_end_before(d: NaiveDate) -> NaiveDate {
    let q_month = ((d.month() - 1) / 3) * 3 + 3;
    let this = NaiveDate::from_ymd_opt(
        d.year(),
        q_month,
        if q_month == 6 || q_month == 9 { 30 } else { 31 },
    )
    .unwrap_or(d);
    if this <= d {
        this
    } else {
        let prev_month = if q_month == 3 { 12 } else { q_month - 3 };
        let year = if q_month == 3 { d.year() - 1 } else { d.year() };
        NaiveDate::from_ymd_opt(
            year,
            prev_month,
            if prev_month == 6 || prev_month == 9 {
                30
            } else {
                31
            },
        )
        .unwrap_or(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn profiles_are_deterministic_and_consistent_with_prices() {
        let m = SyntheticMarket::default();
        let p = m
            .profile("aapl", d(2026, 11, 27))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p,
            m.profile("AAPL", d(2026, 11, 27))
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(p.name, "Apple Inc.");
        assert_eq!(p.sector.as_deref(), Some("Technology"));
        assert_eq!(
            p.beta,
            Some((m.loadings("AAPL").market * 100.0).round() / 100.0)
        );
        let close = m.close_on("AAPL", d(2026, 11, 27)).unwrap_or_default();
        let (hi, lo) = (
            p.week_52_high.unwrap_or_default(),
            p.week_52_low.unwrap_or_default(),
        );
        assert!(lo <= close && close <= hi);
        assert!(!p.is_etf);
        let spy = m
            .profile("SPY", d(2026, 11, 27))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(spy.is_etf && spy.sector.is_none());
        assert!(m.profile("HZNP", d(2026, 11, 27)).is_err());
    }

    #[test]
    fn fundamentals_hold_eight_reported_quarters_and_three_years() {
        let m = SyntheticMarket::default();
        let f = m
            .fundamentals_as_of("MSFT", d(2026, 11, 27))
            .unwrap_or_else(|e| panic!("{e}"));
        let q: Vec<_> = f
            .periods
            .iter()
            .filter(|p| p.period_type == "quarterly")
            .collect();
        let a: Vec<_> = f
            .periods
            .iter()
            .filter(|p| p.period_type == "annual")
            .collect();
        assert_eq!((q.len(), a.len()), (8, 3));
        assert_eq!(
            q[0].period_end,
            d(2026, 9, 30),
            "reported 30 days after the quarter"
        );
        assert_eq!(q[1].period_end, d(2026, 6, 30));
        assert_eq!(a[0].fiscal_year, 2025);
        assert!(f.next_earnings_date > Some(d(2026, 11, 27)));
        assert!(m.fundamentals_as_of("SPY", d(2026, 11, 27)).is_err());
    }

    #[test]
    fn quarter_ends() {
        assert_eq!(quarter_end_before(d(2026, 11, 27)), d(2026, 9, 30));
        assert_eq!(quarter_end_before(d(2026, 3, 31)), d(2026, 3, 31));
        assert_eq!(quarter_end_before(d(2026, 2, 1)), d(2025, 12, 31));
    }
}
