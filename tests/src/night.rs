//! A night against a fake provider at scale, for the e2e tests and
//! `sigmasight-bench-night-requests`: N portfolios × 20 positions over M synthetic symbols
//! inserted straight into the database (as `sigmasight-bench-daily` does), each symbol's
//! closes from that provider (Polygon or FMP) stored up to the day before the night from its
//! own first entry less the lookback (what onboarding leaves behind), then the night of the
//! last trading day through the chain of that one provider, counting what it was asked.

use crate::fake_providers::{FakeOptions, FakeProviders};
use crate::{start_worker, Api, TestDb};
use chrono::NaiveDate;
use serde_json::{json, Value};
use sigmasight_shared::calendar;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Days of history a symbol needs before its first entry (the worker's lookback).
const LOOKBACK_DAYS: i64 = 365;
/// The first entry of the universe; symbol `j` is first held `j mod 40` weeks later.
const FIRST_ENTRY: (i32, u32, u32) = (2026, 1, 5);

/// What a night's world holds.
#[derive(Debug, Clone)]
pub struct NightSetup {
    /// The chain's one provider: `polygon` or `fmp`.
    pub provider: &'static str,
    pub portfolios: usize,
    pub symbols: usize,
    /// Symbols whose stored closes are doubled (a split the provider's adjusted answer now
    /// shows).
    pub restated: Vec<String>,
    /// Symbols absent from the provider's bulk answer.
    pub unlisted: Vec<String>,
    /// FMP answers its EOD bulk 402 "Restricted Endpoint".
    pub fmp_bulk_refused: bool,
}

impl Default for NightSetup {
    /// Polygon, 60 portfolios over 1,200 symbols (each held once).
    fn default() -> Self {
        Self {
            provider: "polygon",
            portfolios: 60,
            symbols: 1200,
            restated: Vec::new(),
            unlisted: Vec::new(),
            fmp_bulk_refused: false,
        }
    }
}

/// The world of one night: a database with the portfolios and the stored closes, the api, and
/// the fakes.
pub struct NightWorld {
    /// The chain's one provider.
    pub provider: &'static str,
    pub db: TestDb,
    pub api: Api,
    pub fakes: FakeProviders,
    /// Every symbol of the universe (factor ETFs included) with the first date it needs.
    pub starts: Vec<(String, NaiveDate)>,
    /// The night's date (the last trading day) and the day before (the last stored date).
    pub night: NaiveDate,
    pub before: NaiveDate,
}

/// What a night cost.
pub struct NightCost {
    /// The batch's detail document (`{"run", "children", "phases"}`).
    pub detail: Value,
    /// Phase 1's summary.
    pub phase_1: Value,
    /// Requests the provider received during the night: bulk, per symbol.
    pub grouped: usize,
    pub per_symbol: usize,
    /// Wall time of the whole night (parent and children).
    pub secs: f64,
}

/// Symbol `j` of a universe: `S0000`, `S0001`, …
pub fn symbol(j: usize) -> String {
    format!("S{j:04}")
}

/// Inserts `portfolios` × 20 positions over `symbols` symbols (position k of portfolio i holds
/// symbol (20·i + k) mod `symbols`, first entered `j mod 40` weeks after the universe's first
/// entry) and stores the provider's closes of each up to the day before the last trading day.
pub async fn prepare(setup: NightSetup) -> anyhow::Result<NightWorld> {
    let NightSetup {
        provider,
        portfolios,
        symbols,
        ..
    } = setup;
    let night = sigmasight_shared::clock::last_trading_day();
    let before = calendar::previous_trading_day(night);
    let first =
        NaiveDate::from_ymd_opt(FIRST_ENTRY.0, FIRST_ENTRY.1, FIRST_ENTRY.2).unwrap_or_default();
    let lookback = chrono::Duration::days(LOOKBACK_DAYS);
    let entry = |j: usize| first + chrono::Duration::weeks((j % 40) as i64);
    let mut starts: Vec<(String, NaiveDate)> = (0..symbols.min(portfolios * 20))
        .map(|j| (symbol(j), entry(j) - lookback))
        .collect();
    starts.extend(
        sigmasight_shared::domain::FACTOR_ETFS
            .iter()
            .map(|s| ((*s).to_owned(), first - lookback)),
    );
    let listed: Vec<String> = starts
        .iter()
        .map(|(s, _)| s.clone())
        .filter(|s| !setup.unlisted.contains(s))
        .collect();
    let fakes = FakeProviders::start_as_of(
        FakeOptions {
            listed,
            fmp_bulk_refused: setup.fmp_bulk_refused,
            ..FakeOptions::default()
        },
        night,
    )
    .await;
    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    seed_portfolios(&pool, portfolios, symbols, first).await?;
    seed_closes(&pool, &fakes, provider, &starts, before, &setup.restated).await?;
    pool.close().await;
    let api = Api::start(&db.url, &[("SIGMASIGHT_AS_OF", night.to_string())]).await?;
    Ok(NightWorld {
        provider,
        db,
        api,
        fakes,
        starts,
        night,
        before,
    })
}

async fn seed_portfolios(
    pool: &sqlx::PgPool,
    portfolios: usize,
    symbols: usize,
    first: NaiveDate,
) -> anyhow::Result<()> {
    let user = sigmasight_shared::db::users::find_or_create(pool, "night").await?;
    let ids: Vec<Uuid> = (0..portfolios).map(|_| Uuid::new_v4()).collect();
    let names: Vec<String> = (0..portfolios).map(|i| format!("night-{i}")).collect();
    let order: Vec<i64> = (0..portfolios as i64).collect();
    sqlx::query(
        "insert into portfolios (id, user_id, name, account_name, account_type, equity_balance, equity_balance_given)
         select u.id, $1, u.name, u.name, 'taxable', 1000000, true from unnest($2::uuid[], $3::text[]) as u(id, name)",
    )
    .bind(user)
    .bind(&ids)
    .bind(&names)
    .execute(pool)
    .await?;
    sqlx::query(
        "insert into positions (id, portfolio_id, symbol, quantity, entry_price, entry_date, investment_class,
                                investment_subtype, position_type, source_row)
         select gen_random_uuid(), p.id, 'S' || lpad(((p.n * 20 + k) % $1)::text, 4, '0'), 100, 50,
                $2::date + (((p.n * 20 + k) % $1) % 40)::int * 7, 'PUBLIC', 'STOCK', 'LONG', k + 2
         from unnest($3::uuid[], $4::int8[]) as p(id, n), generate_series(0, 19) k",
    )
    .bind(i64::try_from(symbols)?)
    .bind(first)
    .bind(&ids)
    .bind(&order)
    .execute(pool)
    .await?;
    Ok(())
}

/// Stores `provider`'s closes of every symbol from its start to `last`, 250 symbols a
/// statement.
async fn seed_closes(
    pool: &sqlx::PgPool,
    fakes: &FakeProviders,
    provider: &str,
    starts: &[(String, NaiveDate)],
    last: NaiveDate,
    restated: &[String],
) -> anyhow::Result<()> {
    for chunk in starts.chunks(250) {
        let (mut symbols, mut dates, mut closes) = (Vec::new(), Vec::new(), Vec::new());
        for (s, start) in chunk {
            let factor = if restated.contains(s) { 2.0 } else { 1.0 };
            for (d, c) in fakes.closes(provider, s, *start, last) {
                symbols.push(s.clone());
                dates.push(d);
                closes.push(c * factor);
            }
        }
        sqlx::query(
            "insert into market_prices (symbol, price_date, close, volume, source)
             select u.s, u.d, u.c, 1000, $4 from unnest($1::text[], $2::date[], $3::float8[]) as u(s, d, c)",
        )
        .bind(&symbols)
        .bind(&dates)
        .bind(&closes)
        .bind(provider)
        .execute(pool)
        .await?;
    }
    Ok(())
}

impl NightWorld {
    /// Runs the night on `workers` worker processes over the chain of the world's provider
    /// (with the night's bulk fetch `on` or `off`) and waits for its end, up to `timeout`.
    pub async fn run_night(
        &self,
        bulk: &str,
        workers: usize,
        timeout: Duration,
    ) -> anyhow::Result<NightCost> {
        let env = vec![
            ("SIGMASIGHT_AS_OF", self.night.to_string()),
            ("SIGMASIGHT_MARKET_PROVIDER", self.provider.into()),
            ("POLYGON_API_KEY", "fake-polygon-key".into()),
            ("SIGMASIGHT_POLYGON_BASE_URL", self.fakes.polygon_url()),
            ("SIGMASIGHT_POLYGON_RATE_PER_MIN", "0".into()),
            ("FMP_API_KEY", "fake-fmp-key".into()),
            ("SIGMASIGHT_FMP_BASE_URL", self.fakes.fmp_url()),
            ("SIGMASIGHT_FMP_RATE_PER_MIN", "0".into()),
            ("SIGMASIGHT_PROVIDER_BACKOFF_MS", "5".into()),
            ("SIGMASIGHT_NIGHT_BULK", bulk.into()),
        ];
        let processes = (0..workers)
            .map(|_| start_worker(&self.db.url, &env))
            .collect::<Result<Vec<_>, _>>()?;
        let p = self.provider;
        let (grouped, per_symbol) = (
            self.fakes.grouped_requests(p),
            self.fakes.per_symbol_requests(p),
        );
        let started = Instant::now();
        let (code, run) = self
            .api
            .admin_post("/api/v1/admin/batch/run", &json!({}))
            .await?;
        anyhow::ensure!(code == 202, "{run}");
        let run_id = run["run_id"].as_str().unwrap_or_default().to_owned();
        let detail = self
            .api
            .wait_batch_run("daily", Some(&run_id), timeout)
            .await?;
        let secs = started.elapsed().as_secs_f64();
        drop(processes);
        let pool = self.db.pool().await?;
        let phase_1: Value = sqlx::query_scalar(
            "select summary from run_phases where run_id = $1::uuid and phase_id = 'phase_1'
             order by attempt desc limit 1",
        )
        .bind(&run_id)
        .fetch_optional(&pool)
        .await?
        .unwrap_or(Value::Null);
        pool.close().await;
        Ok(NightCost {
            phase_1,
            grouped: self.fakes.grouped_requests(p) - grouped,
            per_symbol: self.fakes.per_symbol_requests(p) - per_symbol,
            detail,
            secs,
        })
    }

    /// Every stored close, by symbol, in date order.
    pub async fn stored_closes(&self) -> anyhow::Result<HashMap<String, Vec<(NaiveDate, f64)>>> {
        let pool = self.db.pool().await?;
        let rows: Vec<(String, NaiveDate, f64)> = sqlx::query_as(
            "select symbol, price_date, close from market_prices order by symbol, price_date",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        let mut by: HashMap<String, Vec<(NaiveDate, f64)>> = HashMap::new();
        for (s, d, c) in rows {
            by.entry(s).or_default().push((d, c));
        }
        Ok(by)
    }

    /// Stops the api and drops the database.
    pub async fn end(self) {
        drop(self.api);
        self.db.drop_database().await;
    }
}
