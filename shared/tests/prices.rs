//! The price reads of the phases on a real Postgres.

use chrono::NaiveDate;
use sigmasight_shared::db::{prices, MIGRATOR};
use sqlx::PgPool;

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).expect("date")
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_symbols_series_holds_its_closes_of_the_range_in_date_order(pool: PgPool) {
    // Inserted out of order, AAA with a gap, BBB partly outside the range, CCC not asked.
    sqlx::query(
        "insert into market_prices (symbol, price_date, close, source)
         values ('AAA', '2026-03-04', 3, 't'), ('AAA', '2026-03-02', 1, 't'),
                ('AAA', '2026-03-06', 5, 't'), ('BBB', '2026-02-27', 9, 't'),
                ('BBB', '2026-03-03', 2.5, 't'), ('CCC', '2026-03-03', 7, 't')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let asked = ["AAA".to_owned(), "BBB".to_owned(), "ZZZ".to_owned()];
    let mut series = prices::series(&pool, &asked, day(3, 1), day(3, 31))
        .await
        .expect("series");
    series.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let got: Vec<(&str, &[NaiveDate], &[f64])> = series
        .iter()
        .map(|s| (s.symbol.as_str(), &s.dates[..], &s.closes[..]))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "AAA",
                &[day(3, 2), day(3, 4), day(3, 6)][..],
                &[1.0, 3.0, 5.0][..]
            ),
            ("BBB", &[day(3, 3)][..], &[2.5][..]),
        ]
    );
    // The same closes as the row-per-close read.
    let rows = prices::closes(&pool, &asked, day(3, 1), day(3, 31))
        .await
        .expect("closes");
    let flat: Vec<(String, NaiveDate, f64)> = series
        .iter()
        .flat_map(|s| {
            s.dates
                .iter()
                .zip(&s.closes)
                .map(|(d, c)| (s.symbol.clone(), *d, *c))
        })
        .collect();
    let want: Vec<(String, NaiveDate, f64)> = rows
        .into_iter()
        .map(|r| (r.symbol, r.price_date, r.close))
        .collect();
    assert_eq!(flat, want);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn coverage_says_where_a_history_was_last_asked_from_in_full(pool: PgPool) {
    sqlx::query(
        "insert into market_prices (symbol, price_date, close, source)
         values ('IPO', '2026-06-16', 10, 'fmp'), ('IPO', '2026-06-17', 11, 'fmp'),
                ('OLD', '2026-06-17', 5, 'fmp')",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let run = uuid::Uuid::new_v4();
    for s in ["IPO", "OLD"] {
        prices::remember_availability(&pool, s, true, None, "fmp", run)
            .await
            .expect("available");
    }
    prices::remember_history_from(&pool, "IPO", day(1, 2))
        .await
        .expect("history from");
    // A later verdict keeps it.
    prices::remember_availability(&pool, "IPO", true, None, "fmp", run)
        .await
        .expect("available again");
    let mut cov = prices::coverage(&pool, &["IPO".to_owned(), "OLD".to_owned()])
        .await
        .expect("coverage");
    cov.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let got: Vec<(&str, NaiveDate, Option<NaiveDate>, f64)> = cov
        .iter()
        .map(|c| {
            (
                c.symbol.as_str(),
                c.first_date,
                c.history_from,
                c.last_close,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("IPO", day(6, 16), Some(day(1, 2)), 11.0),
            ("OLD", day(6, 17), None, 5.0)
        ]
    );
}
