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
