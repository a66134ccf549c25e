//! `sigmasight-api`: serve (default), migrate, mint a token, or run the demo onboarding.

mod demo;

use clap::{Parser, Subcommand};
use sigmasight_api::{shutdown_signal, ApiConfig, Application};

#[derive(Parser)]
#[command(name = "sigmasight-api", about = "SigmaSight HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// `sigmasight-api` with no subcommand: serve, configured from the environment.
#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    config: ApiConfig,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve(Box<ApiConfig>),
    /// Apply database migrations and exit.
    Migrate(sigmasight_shared::config::DatabaseConfig),
    /// Print a bearer token for a user (dev and tests).
    Token(demo::TokenArgs),
    /// Upload a CSV to a running API, print live progress and the final status.
    Demo(demo::DemoArgs),
    /// Print the OpenAPI 3.1 document (the one `GET /api/openapi.json` serves) and exit.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sigmasight_shared::telemetry::init("api");
    let command = match Cli::parse().command {
        Some(c) => c,
        None => Command::Serve(Box::new(
            ServeOnly::parse_from(std::env::args().take(1)).config,
        )),
    };
    match command {
        Command::Serve(config) => {
            Application::build(*config)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::Migrate(db) => {
            let pool =
                sigmasight_shared::db::connect(&db.url, 2, std::time::Duration::from_secs(30))
                    .await?;
            sigmasight_shared::db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token(args) => demo::print_token(&args),
        Command::Demo(args) => demo::run(args).await,
        Command::Openapi => {
            println!("{}", sigmasight_api::openapi_document().to_pretty_json()?);
            Ok(())
        }
    }
}
