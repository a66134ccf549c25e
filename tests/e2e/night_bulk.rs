//! A night's market data over many symbols against the fake providers' bulk endpoints: the new
//! date's closes in one bulk request (and one for the last stored date's check), per symbol
//! only what the bulk answer lacks, and the same stored closes as the per-symbol way; an FMP
//! plan without the EOD bulk costs one refused request, then everything goes per symbol.

use sigmasight_tests::night::{prepare, symbol, NightSetup, NightWorld};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(240);

/// Every stored close is the one the provider serves per symbol, from the symbol's own start
/// to the night.
async fn assert_stored_closes_are_the_per_symbol_ones(world: &NightWorld) -> anyhow::Result<()> {
    let stored = world.stored_closes().await?;
    assert_eq!(stored.len(), world.starts.len());
    for (s, start) in &world.starts {
        let want = world.fakes.closes(world.provider, s, *start, world.night);
        let got = stored.get(s).cloned().unwrap_or_default();
        assert_eq!(got.last().map(|b| b.0), Some(world.night), "{s}");
        assert_eq!(got.len(), want.len(), "{s}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g.0 == w.0 && (g.1 - w.1).abs() <= 1e-12 * w.1.abs(),
                "{s}: stored {g:?}, served per symbol {w:?}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_night_over_1200_symbols_asks_polygon_two_grouped_dailies_and_only_the_rest_per_symbol(
) -> anyhow::Result<()> {
    // 60 portfolios × 20 positions hold each of the 1,200 symbols once (the 1,000-portfolio
    // night is measured by `sigmasight-bench-night-requests`).
    let (restated, unlisted) = (symbol(7), symbol(1100));
    let world = prepare(NightSetup {
        restated: vec![restated.clone()],
        unlisted: vec![unlisted.clone()],
        ..NightSetup::default()
    })
    .await?;
    let night = world.run_night("on", 1, TIMEOUT).await?;
    assert_eq!(
        night.detail["run"]["status"], "completed",
        "{}",
        night.detail
    );
    let universe = world.starts.len();
    assert_eq!(universe, 1208, "1,200 symbols and the 8 factor ETFs");

    // Two grouped dailies: the new date, and the last stored date for the restatement check.
    assert_eq!(night.grouped, 2, "{}", night.phase_1);
    // Per symbol only the one missing from the bulk answer (its gap) and the restated one
    // (its gap, then its whole history in pages of 200 bars).
    let fakes = &world.fakes;
    assert_eq!(fakes.requests_for("polygon", &unlisted), 1);
    assert!(fakes.requests_for("polygon", &restated) >= 2);
    assert_eq!(
        night.per_symbol,
        fakes.requests_for("polygon", &unlisted) + fakes.requests_for("polygon", &restated),
        "no other symbol asked per symbol"
    );
    let ways = &night.phase_1["by_way"];
    assert_eq!(ways["bulk"], universe - 2, "{}", night.phase_1);
    assert_eq!(ways["per_symbol"], 2, "{}", night.phase_1);
    assert_eq!(ways["bulk_requests"], 2, "{}", night.phase_1);
    assert_eq!(night.phase_1["fetched"], universe, "{}", night.phase_1);
    // The feed says it once for the bulk, and the closing line says how the symbols came.
    let pool = world.db.pool().await?;
    let said: Vec<String> = sqlx::query_scalar(
        "select message from run_activity
         where message like 'Fetched % symbols''%' or message like 'Market Data Collection complete%'
         order by id",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    let night_date = world.night;
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(
        said[0],
        format!("Fetched 1206 symbols' closes of {night_date} in 2 bulk requests (polygon); 2 symbols left to ask one by one")
    );
    assert!(
        said[1]
            .contains("(1208 fetched, 0 cached, 0 unavailable; 1206 by bulk, 2 asked per symbol)"),
        "{said:?}"
    );
    // The restated symbol's whole history was replaced by the adjusted one.
    assert_stored_closes_are_the_per_symbol_ones(&world).await?;
    world.end().await;
    Ok(())
}

#[tokio::test]
async fn fmps_eod_bulk_serves_a_night_in_two_requests_with_the_per_symbol_closes(
) -> anyhow::Result<()> {
    let world = prepare(NightSetup {
        provider: "fmp",
        portfolios: 5,
        ..NightSetup::default()
    })
    .await?;
    let night = world.run_night("on", 1, TIMEOUT).await?;
    assert_eq!(
        night.detail["run"]["status"], "completed",
        "{}",
        night.detail
    );
    // Phase 1's requests: the two EOD bulks (profiles and fundamentals are asked per symbol
    // by phases 0 and 2, as on any night).
    assert_eq!(night.grouped, 2, "{}", night.phase_1);
    assert_eq!(
        night.phase_1["requests_by_provider"]["fmp"], 2,
        "{}",
        night.phase_1
    );
    assert_eq!(night.phase_1["by_way"]["bulk"], 108, "{}", night.phase_1);
    assert_stored_closes_are_the_per_symbol_ones(&world).await?;
    world.end().await;
    Ok(())
}

#[tokio::test]
async fn an_fmp_plan_without_the_eod_bulk_is_asked_once_then_every_symbol_goes_per_symbol(
) -> anyhow::Result<()> {
    let world = prepare(NightSetup {
        provider: "fmp",
        portfolios: 5,
        fmp_bulk_refused: true,
        ..NightSetup::default()
    })
    .await?;
    let night = world.run_night("on", 1, TIMEOUT).await?;
    assert_eq!(
        night.detail["run"]["status"], "completed",
        "{}",
        night.detail
    );
    // The refusal opens the bulk's breaker: the second date's bulk is not asked.
    assert_eq!(night.grouped, 1, "{}", night.phase_1);
    let p1 = &night.phase_1;
    assert_eq!(
        p1["requests_by_provider"]["fmp"],
        1 + 108,
        "one per symbol: {p1}"
    );
    assert_eq!(p1["by_way"]["per_symbol"], 108, "{p1}");
    assert_eq!(p1["by_way"]["bulk"], 0, "{p1}");
    assert_eq!(p1["by_way"]["bulk_requests"], 1, "{p1}");
    let pool = world.db.pool().await?;
    let warned: Vec<String> = sqlx::query_scalar(
        "select message from run_activity where level = 'warning' and message like '%EOD bulk%'",
    )
    .fetch_all(&pool)
    .await?;
    pool.close().await;
    assert_eq!(warned.len(), 1, "said once: {warned:?}");
    assert!(warned[0].contains("Restricted Endpoint"), "{warned:?}");
    assert_stored_closes_are_the_per_symbol_ones(&world).await?;
    world.end().await;
    Ok(())
}
