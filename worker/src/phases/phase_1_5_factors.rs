//! Phase 1.5 — Factor Analysis per symbol for the calculation date (ANALYTICS §2): ridge on
//! the six style ETFs, four spread regressions, market beta (90D) and IR beta. Shared across
//! portfolios: a symbol with its rows for the date is cached and costs nothing.

use super::loaders::{available_symbols, SymbolScope};
use super::symbol_work;
use crate::context::{JobError, RunContext};
use sigmasight_shared::analytics::factors::{
    analyze_symbol_noting, has_no_prices, FactorRow, MissingNotes, FACTOR_ETFS,
};
use sigmasight_shared::db::factors::{self, FactorExposure};
use sigmasight_shared::db::prices;
use sigmasight_shared::domain::PhaseStatus;
use sigmasight_shared::phases::PHASE_1_5;

/// Rows a symbol has per calculation date: 6 ridge + 4 spread + market + IR.
pub const ROWS_PER_SYMBOL: i64 = 12;
/// Symbols written per statement (and per progress step).
const CHUNK: usize = 100;

fn to_exposure(symbol: &str, date: chrono::NaiveDate, r: FactorRow) -> FactorExposure {
    FactorExposure {
        symbol: symbol.to_owned(),
        factor: r.factor.to_owned(),
        calculation_date: date,
        method: r.method.to_owned(),
        beta: r.beta,
        r_squared: r.r_squared,
        observations: r.observations,
        window_returns: r.window,
        t_stat: r.t_stat,
        p_value: r.p_value,
        std_error: r.std_error,
        alpha: r.alpha,
        label: r.label,
        reason: r.reason,
    }
}

/// Runs phase 1.5.
pub async fn run(ctx: &RunContext, scope: &SymbolScope) -> Result<(), JobError> {
    let date = scope.end;
    let symbols = available_symbols(ctx, scope).await?;
    let done = factors::complete_symbols(&ctx.pool, &symbols, date, ROWS_PER_SYMBOL).await?;
    let mut work = symbol_work::start(ctx, &PHASE_1_5, &symbols, &done, date).await?;
    if !work.todo.is_empty() {
        ctx.info(
            &PHASE_1_5,
            format!(
                "Calculating factor betas for {} symbols as of {date}",
                work.todo.len()
            ),
        );
    }
    let (table, idx) = symbol_work::price_table(ctx, &work.todo, date).await?;
    let notes = match idx {
        Some(i) if !work.todo.is_empty() => etfs_without_prices(ctx, &table, i).await?,
        _ => MissingNotes::new(),
    };
    if !notes.is_empty() {
        // Said once for the run, not once per symbol: every symbol's rows name them.
        let named: Vec<String> = notes
            .iter()
            .map(|(s, why)| format!("{s} ({why})"))
            .collect();
        ctx.warn(
            &PHASE_1_5,
            format!(
                "Factor ETFs without prices: {}; their factors are left empty",
                named.join(", ")
            ),
        );
    }
    let todo = work.todo.clone();
    let row_notes = notes.clone();
    let results: Vec<(String, Vec<FactorRow>)> = tokio::task::spawn_blocking(move || {
        todo.into_iter()
            .map(|s| {
                let rows = idx
                    .map(|i| analyze_symbol_noting(&table, &s, i, &row_notes))
                    .unwrap_or_default();
                (s, rows)
            })
            .collect()
    })
    .await
    .map_err(|e| JobError::Retryable(anyhow::anyhow!("factor analysis panicked: {e}")))?;
    let mut limited = 0usize;
    for chunk in results.chunks(CHUNK) {
        let mut rows = Vec::new();
        for (symbol, factor_rows) in chunk {
            // A row empty for want of a factor ETF's prices was said above, for all.
            let own = factor_rows
                .iter()
                .filter_map(|r| r.reason.clone())
                .find(|reason| !reason.starts_with("no prices for "));
            if let Some(reason) = own {
                limited += 1;
                ctx.warn(
                    &PHASE_1_5,
                    format!("{symbol}: some betas left empty ({reason})"),
                );
            }
            rows.extend(
                factor_rows
                    .iter()
                    .cloned()
                    .map(|r| to_exposure(symbol, date, r)),
            );
        }
        let mut tx = ctx.begin_fenced().await?;
        factors::upsert_many(&mut tx, ctx.run.id, &rows).await?;
        tx.commit().await?;
        work.progress.advance(chunk.len()).await?;
    }
    ctx.info(&PHASE_1_5, format!(
        "Factor Analysis complete: {} symbols ({} calculated, {} cached, {limited} with too little history)",
        symbols.len(), results.len(), done.len()
    ));
    let status = PhaseStatus::finished(limited != 0 || !notes.is_empty());
    let etfs: Vec<&String> = notes.keys().collect();
    work.progress.finish(status, serde_json::json!({ "symbols": symbols.len(), "calculated": results.len(), "cached": done.len(), "limited": limited, "factor_etfs_without_prices": etfs, "calculation_date": date })).await
}

/// The factor ETFs without a single close up to the calculation date (index `end` of
/// `table`), each with why: what phase 1 found (`unavailable: …`) or that none are stored.
async fn etfs_without_prices(
    ctx: &RunContext,
    table: &sigmasight_shared::analytics::snapshots::PriceTable,
    end: usize,
) -> Result<MissingNotes, JobError> {
    let missing: Vec<String> = FACTOR_ETFS
        .iter()
        .filter(|s| has_no_prices(table, s, end))
        .map(|s| (*s).to_owned())
        .collect();
    if missing.is_empty() {
        return Ok(MissingNotes::new());
    }
    let known = prices::availability(&ctx.pool, &missing).await?;
    Ok(missing
        .into_iter()
        .map(|symbol| {
            let why = known
                .iter()
                .find(|a| a.symbol == symbol && !a.available)
                .map_or_else(
                    || "none stored".to_owned(),
                    |a| {
                        let reason = a.reason.as_deref().unwrap_or("no provider has it");
                        format!(
                            "unavailable: {}",
                            reason.chars().take(120).collect::<String>()
                        )
                    },
                );
            (symbol, why)
        })
        .collect())
}
