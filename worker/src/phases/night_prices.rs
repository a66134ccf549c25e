//! The closes that the children of one nightly batch share in this worker process.
//!
//! Every child of a nightly batch reads the closes of its symbols over the same window (the
//! risk lookback before the night's date), which the parent's market-data phase stored
//! before it fanned out; 1,000 portfolios over 1,200 symbols read each symbol's series some
//! twenty times. The first child that needs a symbol reads it from Postgres; later children
//! of the same batch in this process take it from memory.
//!
//! Keyed by the parent run and the window: the next batch starts afresh, and a child whose
//! window differs (a portfolio that missed more than the night's date) reads Postgres
//! itself. A close stored during the night for a date inside the window (an onboarding
//! backfilling a symbol the batch also holds) is seen by the children that read the symbol
//! after it, as without this cache; the others computed as of the batch's market-data phase.

use chrono::NaiveDate;
use sigmasight_shared::db::prices::{self, Series};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// Symbols kept at most (a few KB each); past it, children read Postgres as before.
pub const MAX_SYMBOLS: usize = 20_000;

/// (parent run, first day, last day).
type Key = (Uuid, NaiveDate, NaiveDate);

/// The batch's shared closes (one per worker process).
#[derive(Debug, Default)]
pub struct NightPrices {
    night: Mutex<Night>,
}

#[derive(Debug, Default)]
struct Night {
    key: Option<Key>,
    /// Per symbol its series in the window; an empty one for a symbol without closes.
    series: HashMap<String, Arc<Series>>,
}

impl NightPrices {
    fn night(&self) -> MutexGuard<'_, Night> {
        self.night.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept series of `symbols` under `key` and the symbols to read; `None` when `key`
    /// is another window of the batch kept (a new batch replaces the kept one).
    fn split(&self, key: Key, symbols: &[String]) -> Option<(Vec<Arc<Series>>, Vec<String>)> {
        let mut night = self.night();
        match night.key {
            Some(k) if k == key => {}
            Some((parent, _, _)) if parent == key.0 => return None,
            _ => {
                night.key = Some(key);
                night.series.clear();
            }
        }
        let mut found = Vec::with_capacity(symbols.len());
        let mut missing = Vec::new();
        for symbol in symbols {
            match night.series.get(symbol) {
                Some(s) => found.push(s.clone()),
                None => missing.push(symbol.clone()),
            }
        }
        Some((found, missing))
    }

    /// The closes of `symbols` in `[start, end]` for a child of `parent`: what
    /// [`prices::series`] returns (the symbols without closes left out), from memory for the
    /// symbols an earlier child of the batch read over the same window.
    pub async fn series(
        &self,
        db: &PgPool,
        parent: Uuid,
        symbols: &[String],
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<Arc<Series>>, sqlx::Error> {
        let key = (parent, start, end);
        let Some((mut found, missing)) = self.split(key, symbols) else {
            // Another window of the same batch: not what is kept.
            return direct(db, symbols, start, end).await;
        };
        if missing.is_empty() {
            found.retain(|s| !s.dates.is_empty());
            return Ok(found);
        }
        let mut loaded: HashMap<String, Arc<Series>> = prices::series(db, &missing, start, end)
            .await?
            .into_iter()
            .map(|s| (s.symbol.clone(), Arc::new(s)))
            .collect();
        for symbol in &missing {
            loaded.entry(symbol.clone()).or_insert_with(|| {
                Arc::new(Series {
                    symbol: symbol.clone(),
                    dates: Vec::new(),
                    closes: Vec::new(),
                })
            });
        }
        {
            let mut night = self.night();
            if night.key == Some(key) && night.series.len() + loaded.len() <= MAX_SYMBOLS {
                for (symbol, series) in &loaded {
                    night.series.insert(symbol.clone(), series.clone());
                }
            }
        }
        found.extend(loaded.into_values());
        found.retain(|s| !s.dates.is_empty());
        Ok(found)
    }
}

async fn direct(
    db: &PgPool,
    symbols: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Arc<Series>>, sqlx::Error> {
    Ok(prices::series(db, symbols, start, end)
        .await?
        .into_iter()
        .map(Arc::new)
        .collect())
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
        }
    }

    fn sorted(mut rows: Vec<Arc<Series>>) -> Vec<(String, Vec<NaiveDate>, Vec<f64>)> {
        rows.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        rows.iter()
            .map(|s| (s.symbol.clone(), s.dates.clone(), s.closes.clone()))
            .collect()
    }

    #[sqlx::test(migrator = "MIGRATOR")]
    async fn children_of_a_batch_share_what_the_first_one_read(pool: PgPool) {
        store(&pool, "AAA", &[2, 3, 4, 5]).await;
        store(&pool, "BBB", &[3, 4]).await;
        let symbols: Vec<String> = ["AAA", "BBB", "NONE"].map(String::from).to_vec();
        let (parent, start, end) = (Uuid::new_v4(), day(3), day(5));
        let cache = NightPrices::default();

        let first = sorted(
            cache
                .series(&pool, parent, &symbols, start, end)
                .await
                .expect("first"),
        );
        let direct = sorted(direct(&pool, &symbols, start, end).await.expect("direct"));
        assert_eq!(first, direct, "what prices::series reads");
        assert_eq!(first.len(), 2, "the symbol without closes is left out");
        assert_eq!(first[0].1, vec![day(3), day(4), day(5)]);

        // The closes go from Postgres: the same batch and window still read them (memory);
        // the next batch, and another window of the same batch, read Postgres.
        sqlx::query("delete from market_prices")
            .execute(&pool)
            .await
            .expect("delete");
        let again = sorted(
            cache
                .series(&pool, parent, &symbols[..2], start, end)
                .await
                .expect("again"),
        );
        assert_eq!(again, first);
        let other_window = cache
            .series(&pool, parent, &symbols, day(2), end)
            .await
            .expect("window");
        assert!(other_window.is_empty());
        assert_eq!(
            sorted(
                cache
                    .series(&pool, parent, &symbols, start, end)
                    .await
                    .expect("kept")
            ),
            first,
            "another window does not drop what the batch keeps"
        );
        let next_batch = cache
            .series(&pool, Uuid::new_v4(), &symbols, start, end)
            .await
            .expect("next");
        assert!(next_batch.is_empty());
        // A symbol first asked for now is read (and kept) too.
        store(&pool, "CCC", &[4]).await;
        let parent2 = Uuid::new_v4();
        let c = cache
            .series(&pool, parent2, &["CCC".to_owned()], start, end)
            .await
            .expect("ccc");
        assert_eq!(c.len(), 1);
        sqlx::query("delete from market_prices")
            .execute(&pool)
            .await
            .expect("delete");
        let kept = cache
            .series(
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
