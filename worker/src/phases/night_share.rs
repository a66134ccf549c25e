//! What the children of one nightly batch share in this worker process: closes and betas.
//!
//! Every child of a nightly batch reads the closes of its symbols over the same window (the
//! risk lookback before the night's date) and their newest factor betas, which the parent's
//! phases stored before it fanned out; 1,000 portfolios over 1,200 symbols read each
//! symbol's series some twenty times. The first child that needs a symbol reads it from
//! Postgres; later children of the same batch in this process take it from memory.
//!
//! Keyed by the parent run and the window: the next batch starts afresh, and a child whose
//! window differs (a portfolio that missed more than the night's date) reads Postgres
//! itself. A close stored during the night for a date inside the window (an onboarding
//! backfilling a symbol the batch also holds) is seen by the children that read the symbol
//! after it, as without this cache; the others computed as of the batch's market-data phase.

use chrono::NaiveDate;
use sigmasight_shared::db::{factors, prices};
use sqlx::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// Symbols kept at most per shelf (a few KB each); past it, children read Postgres as before.
pub const MAX_SYMBOLS: usize = 20_000;

/// (parent run, first day, last day).
type Key = (Uuid, NaiveDate, NaiveDate);

/// Values by symbol, in the order asked.
type Found<V> = Vec<(String, Arc<V>)>;

/// One symbol's closes in the window, by date (empty: the symbol has none).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Closes {
    pub dates: Vec<NaiveDate>,
    pub closes: Vec<f64>,
}

impl Closes {
    /// A stored series as (symbol, closes).
    pub fn of(series: prices::Series) -> (String, Self) {
        let closes = Self {
            dates: series.dates,
            closes: series.closes,
        };
        (series.symbol, closes)
    }
}

/// One symbol's newest stored beta per factor on or before the night's date.
pub type Betas = Vec<(String, Option<f64>)>;

/// What the children of a nightly batch share (one per worker process).
#[derive(Debug, Default)]
pub struct NightShare {
    closes: Shelf<Closes>,
    betas: Shelf<Betas>,
}

impl NightShare {
    /// The closes of `symbols` in `[start, end]` for a child of `parent`: what
    /// [`prices::series`] returns (the symbols without closes left out), from memory for the
    /// symbols an earlier child of the batch read over the same window.
    pub async fn closes(
        &self,
        db: &PgPool,
        parent: Uuid,
        symbols: &[String],
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<(String, Arc<Closes>)>, sqlx::Error> {
        let mut found = self
            .closes
            .get((parent, start, end), symbols, |missing| async move {
                Ok(prices::series(db, &missing, start, end)
                    .await?
                    .into_iter()
                    .map(Closes::of)
                    .collect())
            })
            .await?;
        found.retain(|(_, c)| !c.dates.is_empty());
        Ok(found)
    }

    /// The newest stored beta of each (symbol, factor) on or before `date` for a child of
    /// `parent`: what [`factors::latest_betas`] returns, shared as [`NightShare::closes`].
    pub async fn betas(
        &self,
        db: &PgPool,
        parent: Uuid,
        symbols: &[String],
        date: NaiveDate,
    ) -> Result<Vec<(String, Arc<Betas>)>, sqlx::Error> {
        self.betas
            .get((parent, date, date), symbols, |missing| async move {
                let mut by_symbol: HashMap<String, Betas> = HashMap::new();
                for (symbol, factor, beta) in factors::latest_betas(db, &missing, date).await? {
                    by_symbol.entry(symbol).or_default().push((factor, beta));
                }
                Ok(by_symbol)
            })
            .await
    }
}

/// Per-symbol values of one batch and key.
#[derive(Debug)]
struct Shelf<V> {
    night: Mutex<Night<V>>,
}

impl<V> Default for Shelf<V> {
    fn default() -> Self {
        Self {
            night: Mutex::new(Night {
                key: None,
                items: HashMap::new(),
            }),
        }
    }
}

#[derive(Debug)]
struct Night<V> {
    key: Option<Key>,
    items: HashMap<String, Arc<V>>,
}

impl<V: Default> Shelf<V> {
    fn night(&self) -> MutexGuard<'_, Night<V>> {
        self.night.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept values of `symbols` under `key` and the symbols to read; `None` when `key`
    /// is another window of the batch kept (a new batch replaces the kept one).
    fn split(&self, key: Key, symbols: &[String]) -> Option<(Found<V>, Vec<String>)> {
        let mut night = self.night();
        match night.key {
            Some(k) if k == key => {}
            Some((parent, _, _)) if parent == key.0 => return None,
            _ => {
                night.key = Some(key);
                night.items.clear();
            }
        }
        let mut found = Vec::with_capacity(symbols.len());
        let mut missing = Vec::new();
        for symbol in symbols {
            match night.items.get(symbol) {
                Some(v) => found.push((symbol.clone(), v.clone())),
                None => missing.push(symbol.clone()),
            }
        }
        Some((found, missing))
    }

    /// The values of `symbols` under `key`: kept ones from memory, the others from `load`
    /// (a symbol it does not return gets the empty value), kept for the batch's next child.
    async fn get<F, Fut>(
        &self,
        key: Key,
        symbols: &[String],
        load: F,
    ) -> Result<Found<V>, sqlx::Error>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, V>, sqlx::Error>>,
    {
        let (mut found, missing, keep) = match self.split(key, symbols) {
            Some((found, missing)) => (found, missing, true),
            // Another window of the same batch: read, and keep nothing.
            None => (Vec::new(), symbols.to_vec(), false),
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let mut loaded = load(missing.clone()).await?;
        let loaded: Found<V> = missing
            .into_iter()
            .map(|s| {
                let v = loaded.remove(&s).unwrap_or_default();
                (s, Arc::new(v))
            })
            .collect();
        if keep {
            let mut night = self.night();
            if night.key == Some(key) && night.items.len() + loaded.len() <= MAX_SYMBOLS {
                for (symbol, v) in &loaded {
                    night.items.insert(symbol.clone(), v.clone());
                }
            }
        }
        found.extend(loaded);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigmasight_shared::db::MIGRATOR;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("date")
    }

    async fn store(pool: &PgPool, symbol: &str, days: &[u32]) {
        for d in days {
            sqlx::query(
                "insert into market_prices (symbol, price_date, close, source)
                 values ($1, $2, $3, 'test')",
            )
            .bind(symbol)
            .bind(day(*d))
            .bind(100.0 + f64::from(*d))
            .execute(pool)
            .await
            .expect("price");
            sqlx::query(
                "insert into symbol_factor_exposures
                     (symbol, factor, calculation_date, method, beta, observations, window_returns)
                 values ($1, 'Value', $2, 'ridge', $3, 90, 90)",
            )
            .bind(symbol)
            .bind(day(*d))
            .bind(f64::from(*d) / 10.0)
            .execute(pool)
            .await
            .expect("beta");
        }
    }

    async fn wipe(pool: &PgPool) {
        sqlx::query("delete from market_prices")
            .execute(pool)
            .await
            .expect("delete");
        sqlx::query("delete from symbol_factor_exposures")
            .execute(pool)
            .await
            .expect("delete");
    }

    fn sorted<V: Clone>(mut rows: Vec<(String, Arc<V>)>) -> Vec<(String, V)> {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.into_iter().map(|(s, v)| (s, (*v).clone())).collect()
    }

    /// What Postgres holds now, as the share answers.
    async fn direct(
        pool: &PgPool,
        symbols: &[String],
        start: NaiveDate,
        end: NaiveDate,
    ) -> (Vec<(String, Closes)>, Vec<(String, String, Option<f64>)>) {
        let mut closes: Vec<(String, Closes)> = prices::series(pool, symbols, start, end)
            .await
            .expect("series")
            .into_iter()
            .map(Closes::of)
            .collect();
        closes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut betas = factors::latest_betas(pool, symbols, end)
            .await
            .expect("betas");
        betas.sort_by(|a, b| a.0.cmp(&b.0));
        (closes, betas)
    }

    fn flat(rows: Vec<(String, Betas)>) -> Vec<(String, String, Option<f64>)> {
        rows.into_iter()
            .flat_map(|(s, b)| b.into_iter().map(move |(f, v)| (s.clone(), f, v)))
            .collect()
    }

    #[sqlx::test(migrator = "MIGRATOR")]
    async fn children_of_a_batch_share_what_the_first_one_read(pool: PgPool) {
        store(&pool, "AAA", &[2, 3, 4, 5]).await;
        store(&pool, "BBB", &[3, 4]).await;
        let symbols: Vec<String> = ["AAA", "BBB", "NONE"].map(String::from).to_vec();
        let (parent, start, end) = (Uuid::new_v4(), day(3), day(5));
        let share = NightShare::default();

        let closes = sorted(
            share
                .closes(&pool, parent, &symbols, start, end)
                .await
                .expect("closes"),
        );
        let betas = flat(sorted(
            share
                .betas(&pool, parent, &symbols, end)
                .await
                .expect("betas"),
        ));
        let (want_closes, want_betas) = direct(&pool, &symbols, start, end).await;
        assert_eq!(closes, want_closes, "what prices::series reads");
        assert_eq!(closes.len(), 2, "the symbol without closes is left out");
        assert_eq!(closes[0].1.dates, vec![day(3), day(4), day(5)]);
        assert_eq!(betas, want_betas, "what factors::latest_betas reads");
        assert_eq!(betas[0], ("AAA".into(), "Value".into(), Some(0.5)));

        // Postgres forgets: the same batch and window answer from memory; another window of
        // the batch, and the next batch, read Postgres.
        wipe(&pool).await;
        let again = sorted(
            share
                .closes(&pool, parent, &symbols[..2], start, end)
                .await
                .expect("again"),
        );
        assert_eq!(again, closes);
        let betas_again = flat(sorted(
            share
                .betas(&pool, parent, &symbols, end)
                .await
                .expect("betas"),
        ));
        assert_eq!(betas_again, betas);
        let other_window = share
            .closes(&pool, parent, &symbols, day(2), end)
            .await
            .expect("window");
        assert!(other_window.is_empty());
        assert_eq!(
            sorted(
                share
                    .closes(&pool, parent, &symbols, start, end)
                    .await
                    .expect("kept")
            ),
            closes,
            "another window does not drop what the batch keeps"
        );
        let next_batch = share
            .closes(&pool, Uuid::new_v4(), &symbols, start, end)
            .await
            .expect("next");
        assert!(next_batch.is_empty());

        // A symbol first asked for is read, and kept for the next child.
        store(&pool, "CCC", &[4]).await;
        let parent2 = Uuid::new_v4();
        let ccc = ["CCC".to_owned()];
        assert_eq!(
            share
                .closes(&pool, parent2, &ccc, start, end)
                .await
                .expect("ccc")
                .len(),
            1
        );
        wipe(&pool).await;
        let kept = share
            .closes(
                &pool,
                parent2,
                &["CCC".to_owned(), "AAA".to_owned()],
                start,
                end,
            )
            .await
            .expect("kept");
        assert_eq!(sorted(kept).len(), 1, "CCC from memory, AAA read (gone)");
    }
}
