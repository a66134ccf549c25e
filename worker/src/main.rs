//! `sigmasight-worker`: config → telemetry → pool → migrate → run until SIGTERM; or
//! `sigmasight-worker providers check [SYMBOL…]`, the operator's check of the configured
//! market-data providers.

use clap::{Parser, Subcommand};
use sigmasight_shared::config::MarketConfig;
use sigmasight_worker::{shutdown_signal, Worker, WorkerConfig};

/// `sigmasight-worker providers …`
#[derive(Parser)]
#[command(
    name = "sigmasight-worker providers",
    about = "Market-data provider tools"
)]
struct ProvidersCli {
    #[command(subcommand)]
    command: ProvidersCommand,
    #[command(flatten)]
    market: MarketConfig,
    #[command(flatten)]
    clock: sigmasight_shared::config::ClockConfig,
    /// The deployment's database, to show each provider's budget left (unset: not shown).
    #[arg(long = "database-url", env = "DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum ProvidersCommand {
    /// Ask each configured provider once for the last ten days of bars and print what it
    /// answered (bars, first and last date, latency) or why it failed.
    Check {
        /// Symbols to ask for (default SPY).
        symbols: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("providers") {
        let cli = ProvidersCli::parse_from(args.iter().skip(1));
        let ProvidersCommand::Check { mut symbols } = cli.command;
        if symbols.is_empty() {
            symbols.push("SPY".to_owned());
        }
        let symbols: Vec<String> = symbols
            .iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .collect();
        let lines = sigmasight_worker::provider::check(&cli.market, &symbols).await?;
        for line in &lines {
            println!("{line}");
        }
        if let Some(url) = cli.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
            let pool = sqlx::PgPool::connect(url).await?;
            let chain = sigmasight_worker::provider::build(&cli.market)?;
            let left = sigmasight_worker::budget::left(&pool, &chain).await?;
            for line in sigmasight_worker::budget::describe(&left) {
                println!("{line}");
            }
        }
        if lines.iter().any(|l| l.outcome.is_err()) {
            std::process::exit(1);
        }
        return Ok(());
    }
    let config = WorkerConfig::parse();
    sigmasight_shared::telemetry::init("worker");
    let worker = Worker::build(config).await?;
    worker.run_until_stopped(shutdown_signal()).await
}
