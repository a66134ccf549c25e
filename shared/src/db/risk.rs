//! Phase 6 results (ANALYTICS §7): factor exposures, volatility, correlations and stress
//! tests of a portfolio on its calculation date, replaced as a whole by each run; and their
//! read side, which returns the stored rows as JSON for the analytics endpoints.

use crate::analytics::exposures::PositionFactor;
use crate::analytics::risk::RiskOutput;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Everything phase 6 writes for one (portfolio, date).
#[derive(Debug, Clone, Copy)]
pub struct RiskWrite<'a> {
    pub portfolio_id: Uuid,
    pub date: NaiveDate,
    pub run_id: Uuid,
    /// The attempt whose lease fences the write.
    pub attempt: i32,
    pub output: &'a RiskOutput,
}

fn to_json<T: Serialize>(rows: &[T]) -> Value {
    serde_json::to_value(rows).unwrap_or(Value::Null)
}

/// Replaces every phase 6 row of (portfolio, date) and fills the snapshot's risk columns, in
/// one statement fenced on the attempt still running (it holds the run's row `for share`
/// until it commits). False when the lease was lost: nothing written.
pub async fn replace(db: impl PgExecutor<'_>, w: &RiskWrite<'_>) -> Result<bool, sqlx::Error> {
    insert_all(db, w).await
}

/// A row of a list whose order is stored (the factors, the scenarios): its fields and its
/// place in the list, from 1.
#[derive(Serialize)]
struct Numbered<'a, T> {
    ordinal: usize,
    #[serde(flatten)]
    row: &'a T,
}

/// `rows` numbered from 1.
fn numbered<T>(rows: &[T]) -> Vec<Numbered<'_, T>> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| Numbered {
            ordinal: i + 1,
            row,
        })
        .collect()
}

/// A position's row of `position_factor_exposures`: its factors' betas and dollar exposures
/// as two objects by factor.
struct PositionRow<'a> {
    position_id: Uuid,
    symbol: &'a str,
    weight: Option<f64>,
    exposures: serde_json::Map<String, Value>,
    dollars: serde_json::Map<String, Value>,
}

/// One row per position of the (position, factor) results, in their first appearance's order.
fn position_rows(factors: &[PositionFactor]) -> Vec<PositionRow<'_>> {
    let mut rows: Vec<PositionRow<'_>> = Vec::new();
    let mut at: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
    for f in factors {
        let i = *at.entry(f.position_id).or_insert_with(|| {
            rows.push(PositionRow {
                position_id: f.position_id,
                symbol: &f.symbol,
                weight: f.weight,
                exposures: serde_json::Map::new(),
                dollars: serde_json::Map::new(),
            });
            rows.len() - 1
        });
        let row = &mut rows[i];
        // The weight is the position's, the same for each of its factors.
        row.weight = row.weight.or(f.weight);
        row.exposures.insert(f.factor.clone(), json!(f.beta));
        row.dollars
            .insert(f.factor.clone(), json!(f.exposure_dollar));
    }
    rows
}

/// The date's earlier rows deleted, every table's new rows inserted and the snapshot's risk
/// columns set, in one statement (one data-modifying CTE per table: a nightly child's phase 6
/// is one round trip where it was five, and fifteen before that). Every insert reads
/// `cleared`, which reads every delete: the deletes run first (a data-modifying CTE runs when
/// first read), so a row replaced under the same key does not collide with its old self.
/// A position's 13 factors are one row (JSON objects by factor) and the correlation pairs
/// are stored with their matrix: both are only ever written and read whole, and a row each
/// cost a nightly child 450 index entries and foreign-key checks.
const INSERT_ALL_SQL: &str = concat!(
    "with
     fence as (",
    hold_run!("$3", "$28"),
    "),
     del_factors as (delete from portfolio_factor_exposures
         where portfolio_id = $1 and calculation_date = $2 and exists (select 1 from fence) returning 1),
     del_positions as (delete from position_factor_exposures
         where portfolio_id = $1 and calculation_date = $2 and exists (select 1 from fence) returning 1),
     del_volatility as (delete from volatility_metrics
         where portfolio_id = $1 and calculation_date = $2 and exists (select 1 from fence) returning 1),
     del_matrix as (delete from correlation_calculations
         where portfolio_id = $1 and calculation_date = $2 and exists (select 1 from fence) returning 1),
     del_stress as (delete from stress_test_results
         where portfolio_id = $1 and calculation_date = $2 and exists (select 1 from fence) returning 1),
     cleared as (
         select 1 from fence
         where (select count(*) from del_factors) + (select count(*) from del_positions)
             + (select count(*) from del_volatility) + (select count(*) from del_matrix)
             + (select count(*) from del_stress) >= 0),
     factors as (
         insert into portfolio_factor_exposures
             (portfolio_id, calculation_date, factor, ordinal, beta, exposure_dollar, positions_used,
              missing_symbols, run_id)
         select $1, $2, r.factor, r.ordinal, r.beta, r.exposure_dollar, r.positions_used,
                r.missing_symbols, $3
         from jsonb_to_recordset($4) as r(ordinal int, factor text, beta float8,
              exposure_dollar float8, positions_used int, missing_symbols jsonb)
         where exists (select 1 from cleared)),
     position_factors as (
         insert into position_factor_exposures
             (portfolio_id, calculation_date, position_id, symbol, weight, exposures, exposure_dollars)
         select $1, $2, r.position_id, r.symbol, r.weight, r.exposures, r.exposure_dollars
         from unnest($5::uuid[], $6::text[], $7::float8[], $8::jsonb[], $9::jsonb[])
              as r(position_id, symbol, weight, exposures, exposure_dollars)
         where exists (select 1 from cleared)),
     volatility as (
         insert into volatility_metrics
             (portfolio_id, calculation_date, position_id, symbol, realized_vol_21d, realized_vol_63d,
              expected_vol_1d, expected_vol_21d, har_coefficients, model_r_squared, vol_trend,
              vol_trend_strength, vol_percentile, observations, run_id)
         select $1, $2, r.position_id, r.symbol, r.realized_vol_21d, r.realized_vol_63d,
                r.expected_vol_1d, r.expected_vol_21d, r.har_coefficients, r.model_r_squared, r.vol_trend,
                r.vol_trend_strength, r.vol_percentile, r.observations, $3
         from jsonb_to_recordset($10) as r(position_id uuid, symbol text, realized_vol_21d float8,
              realized_vol_63d float8, expected_vol_1d float8, expected_vol_21d float8,
              har_coefficients jsonb, model_r_squared float8, vol_trend text, vol_trend_strength float8,
              vol_percentile float8, observations int)
         where exists (select 1 from cleared)),
     matrix as (
         insert into correlation_calculations
             (portfolio_id, calculation_date, lookback_returns, overall_correlation, effective_positions,
              psd_repaired, min_eigenvalue, symbols, matrix, excluded, run_id, pairs)
         select $1, $2, $11, $12, $13, $14, $15, $16, $17, $18, $3, $19
         where exists (select 1 from cleared)),
     stress as (
         insert into stress_test_results
             (portfolio_id, calculation_date, scenario_id, ordinal, scenario_name, category, active,
              direct_pnl, correlated_pnl, correlation_effect, capped, direct_pnl_raw, correlated_pnl_raw,
              factor_impacts, metadata, run_id)
         select $1, $2, r.id, r.ordinal, r.name, r.category, r.active, r.direct_pnl,
                r.correlated_pnl, r.correlation_effect, r.capped, r.direct_pnl_raw,
                r.correlated_pnl_raw, r.factor_impacts, $20, $3
         from jsonb_to_recordset($21) as r(ordinal int, id text, name text, category text,
              active bool, direct_pnl float8, correlated_pnl float8, correlation_effect float8,
              capped bool, direct_pnl_raw float8, correlated_pnl_raw float8, factor_impacts jsonb)
         where exists (select 1 from cleared)),
     snapshot as (
     update portfolio_snapshots set
         beta_calculated_90d = $22, beta_provider_1y = $23, realized_vol_21d = $24,
         realized_vol_63d = $25, expected_vol_21d = $26, expected_vol_1d = $27, updated_at = now()
     where portfolio_id = $1 and snapshot_date = $2 and exists (select 1 from cleared))
     select exists (select 1 from fence)"
);

/// Replaces every table's rows of the date ([`INSERT_ALL_SQL`]); false when the fence failed.
async fn insert_all(db: impl PgExecutor<'_>, w: &RiskWrite<'_>) -> Result<bool, sqlx::Error> {
    let out = w.output;
    let mut pf = position_rows(&out.position_factors);
    let exposures: Vec<Value> = pf
        .iter_mut()
        .map(|r| Value::Object(std::mem::take(&mut r.exposures)))
        .collect();
    let dollars: Vec<Value> = pf
        .iter_mut()
        .map(|r| Value::Object(std::mem::take(&mut r.dollars)))
        .collect();
    let c = &out.correlation;
    // Stored as sent: ordered by the symbols (byte order), each pair an object of its fields.
    let mut pairs: Vec<&crate::analytics::correlations::Pair> = c.pairs.iter().collect();
    pairs.sort_by(|a, b| (&a.symbol_1, &a.symbol_2).cmp(&(&b.symbol_1, &b.symbol_2)));
    let factor_beta = |name: &str| {
        out.factors
            .iter()
            .find(|f| f.factor == name)
            .and_then(|f| f.beta)
    };
    let portfolio_vol = out.volatility.iter().find(|v| v.position_id.is_none());
    sqlx::query_scalar(INSERT_ALL_SQL)
        .bind(w.portfolio_id)
        .bind(w.date)
        .bind(w.run_id)
        .bind(to_json(&numbered(&out.factors)))
        .bind(pf.iter().map(|r| r.position_id).collect::<Vec<Uuid>>())
        .bind(pf.iter().map(|r| r.symbol).collect::<Vec<&str>>())
        .bind(pf.iter().map(|r| r.weight).collect::<Vec<Option<f64>>>())
        .bind(exposures)
        .bind(dollars)
        .bind(to_json(&out.volatility))
        .bind(crate::analytics::correlations::WINDOW_RETURNS as i32)
        .bind(c.overall_correlation)
        .bind(c.effective_positions)
        .bind(c.psd_repaired)
        .bind(c.min_eigenvalue)
        .bind(json!(c.symbols))
        .bind(json!(c.matrix))
        .bind(&out.correlation_excluded)
        .bind(to_json(&pairs))
        .bind(&out.stress_metadata)
        .bind(to_json(&numbered(&out.stress)))
        .bind(factor_beta(crate::analytics::factors::MARKET_BETA_FACTOR))
        .bind(factor_beta(
            crate::analytics::exposures::PROVIDER_BETA_FACTOR,
        ))
        .bind(portfolio_vol.and_then(|v| v.metrics.realized_vol_21d))
        .bind(portfolio_vol.and_then(|v| v.metrics.realized_vol_63d))
        .bind(portfolio_vol.and_then(|v| v.metrics.expected_vol_21d))
        .bind(portfolio_vol.and_then(|v| v.metrics.expected_vol_1d))
        .bind(w.attempt)
        .fetch_one(db)
        .await
}

/// The read side: one table of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskTable {
    Factors,
    Volatility,
    Correlation,
    Stress,
}

impl RiskTable {
    /// The table the date is looked up in.
    fn name(self) -> &'static str {
        match self {
            Self::Factors => "portfolio_factor_exposures",
            Self::Volatility => "volatility_metrics",
            Self::Correlation => "correlation_calculations",
            Self::Stress => "stress_test_results",
        }
    }

    /// The query of [`stored`]: ($1 portfolio, $2 date) → one JSON value.
    fn read_sql(self) -> &'static str {
        match self {
            // The 13 portfolio factors, in display order.
            Self::Factors => "select coalesce(jsonb_agg(jsonb_build_object(
                    'factor', factor, 'beta', beta, 'exposure_dollar', exposure_dollar,
                    'positions_used', positions_used, 'missing_symbols', missing_symbols)
                    order by ordinal), '[]')
         from portfolio_factor_exposures where portfolio_id = $1 and calculation_date = $2",
            // The portfolio's row first (position_id null), then positions by symbol.
            Self::Volatility => "select coalesce(jsonb_agg(to_jsonb(v) - 'portfolio_id' - 'calculation_date' - 'run_id'
                                   - 'updated_at'
                                   order by v.position_id is not null, v.symbol, v.position_id), '[]')
         from volatility_metrics v where portfolio_id = $1 and calculation_date = $2",
            // The matrix and its summaries, with every pair (stored with the matrix).
            Self::Correlation => "select coalesce((
             select to_jsonb(c) - 'portfolio_id' - 'calculation_date' - 'run_id' - 'updated_at'
             from correlation_calculations c
             where c.portfolio_id = $1 and c.calculation_date = $2), 'null')",
            // Every scenario, in the original's order.
            Self::Stress => "select coalesce(jsonb_agg(to_jsonb(s) - 'portfolio_id' - 'calculation_date' - 'run_id'
                                   - 'updated_at' - 'ordinal' order by ordinal), '[]')
         from stress_test_results s where portfolio_id = $1 and calculation_date = $2",
        }
    }
}

/// The newest calculation date with results in `table`.
pub async fn latest_date(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    table: RiskTable,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "select max(calculation_date) from {} where portfolio_id = $1",
        table.name()
    ))
    .bind(portfolio_id)
    .fetch_one(db)
    .await
}

/// The stored results of `table` for (portfolio, date) as JSON: an array of rows (the
/// correlation: one object, or null).
pub async fn stored(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    table: RiskTable,
    date: NaiveDate,
) -> Result<Value, sqlx::Error> {
    sqlx::query_scalar(table.read_sql())
        .bind(portfolio_id)
        .bind(date)
        .fetch_one(db)
        .await
}

/// Per position, by symbol: `[{position_id, symbol, weight, exposures: {factor: beta},
/// exposure_dollars: {factor: $}}]`; `symbols` filters (empty: all); paged.
pub async fn position_factors(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
    date: NaiveDate,
    symbols: &[String],
    limit: i64,
    offset: i64,
) -> Result<(i64, Value), sqlx::Error> {
    sqlx::query_as(
        "with p as (
             select position_id, symbol, weight, exposures, exposure_dollars
             from position_factor_exposures
             where portfolio_id = $1 and calculation_date = $2
               and (cardinality($3::text[]) = 0 or symbol = any($3)))
         select (select count(*) from p),
                coalesce((select jsonb_agg(to_jsonb(x) order by x.symbol, x.position_id)
                          from (select * from p order by symbol, position_id
                                limit $4 offset $5) x), '[]')",
    )
    .bind(portfolio_id)
    .bind(date)
    .bind(symbols)
    .bind(limit)
    .bind(offset)
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(
        position: Uuid,
        factor: &str,
        beta: Option<f64>,
        weight: Option<f64>,
    ) -> PositionFactor {
        PositionFactor {
            position_id: position,
            symbol: format!("S{}", position.as_u128()),
            factor: factor.to_owned(),
            beta,
            weight,
            exposure_dollar: beta.unwrap_or(0.0) * 100.0,
        }
    }

    #[test]
    fn a_positions_factors_are_one_row_of_two_objects_by_factor() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let factors = [
            factor(a, "Market", Some(1.5), None),
            factor(b, "Market", Some(0.5), Some(0.25)),
            factor(a, "Size", None, Some(0.75)),
            factor(b, "Size", Some(-0.5), Some(0.25)),
        ];
        let rows = position_rows(&factors);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].position_id, rows[1].position_id), (a, b));
        assert_eq!((rows[0].symbol, rows[0].weight), ("S1", Some(0.75)));
        assert_eq!(
            Value::Object(rows[0].exposures.clone()),
            json!({"Market": 1.5, "Size": null})
        );
        assert_eq!(
            Value::Object(rows[0].dollars.clone()),
            json!({"Market": 150.0, "Size": 0.0})
        );
        assert_eq!(
            Value::Object(rows[1].exposures.clone()),
            json!({"Market": 0.5, "Size": -0.5})
        );
        assert_eq!(rows[1].weight, Some(0.25));
    }
}
