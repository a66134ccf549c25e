//! A night's market data over 1,200 symbols against the fake Polygon: the new date's closes in
//! one grouped-daily request (and one for the last stored date's check), per symbol only what
//! the bulk answer lacks, and the same stored closes as the per-symbol way.

use sigmasight_tests::night::{prepare, symbol};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(240);

#[tokio::test]
async fn a_night_over_1200_symbols_asks_polygon_two_grouped_dailies_and_only_the_rest_per_symbol(
) -> anyhow::Result<()> {
    // 60 portfolios × 20 positions hold each of the 1,200 symbols once (a debug build runs
    // the 1,000-portfolio night in `sigmasight-bench-night-requests`).
    let (restated, unlisted) = (symbol(7), symbol(1100));
    let world = prepare(
        60,
        1200,
        std::slice::from_ref(&restated),
        std::slice::from_ref(&unlisted),
    )
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
    // (its gap, then its whole history: one page of 200 bars per request).
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

    // Every stored close is the one Polygon serves per symbol, from the symbol's own start to
    // the night (the restated symbol's whole history replaced by the adjusted one).
    let stored = world.stored_closes().await?;
    assert_eq!(stored.len(), universe);
    for (s, start) in &world.starts {
        let want = fakes.closes("polygon", s, *start, world.night);
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
    world.end().await;
    Ok(())
}
