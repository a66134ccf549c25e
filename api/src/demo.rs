//! Dev-mode helpers: mint a token, and onboard a CSV against a running API while printing
//! live progress (the README's first command uses both).

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::Value;
use std::time::{Duration, Instant};

/// `sigmasight-api token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user (`sub` claim).
    #[arg(long, default_value = "demo-user")]
    pub sub: String,
    /// Grant admin rights.
    #[arg(long)]
    pub admin: bool,
    /// Validity in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    pub ttl_secs: i64,
    /// The HS256 secret.
    #[arg(long, env = "SIGMASIGHT_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}

/// `sigmasight-api demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Base URL of the running API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub api_url: String,
    /// CSV to upload.
    #[arg(long, default_value = "examples/demo_portfolio.csv")]
    pub csv: std::path::PathBuf,
    #[command(flatten)]
    pub token: TokenArgs,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// Prints a token to stdout.
pub fn print_token(args: &TokenArgs) -> anyhow::Result<()> {
    println!("{}", mint(args)?);
    Ok(())
}

fn mint(args: &TokenArgs) -> anyhow::Result<String> {
    Ok(sigmasight_shared::auth::issue_hs256(
        &args.sub,
        args.admin,
        args.ttl_secs,
        &args.jwt_secret,
    )?)
}

/// Uploads the CSV, then polls status and prints each change until a terminal state.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let token = mint(&args.token)?;
    let csv =
        std::fs::read(&args.csv).with_context(|| format!("reading {}", args.csv.display()))?;
    let file_name = args
        .csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "portfolio.csv".into());
    let client = reqwest::Client::new();
    let account = format!(
        "Demo account {}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f")
    );
    let form = reqwest::multipart::Form::new()
        .text("portfolio_name", "Demo Portfolio")
        .text("account_name", account)
        .text("account_type", "taxable")
        .part(
            "csv_file",
            reqwest::multipart::Part::bytes(csv)
                .file_name(file_name)
                .mime_str("text/csv")?,
        );
    let started = Instant::now();
    let response = client
        .post(format!(
            "{}/api/v1/onboarding/create-portfolio",
            args.api_url
        ))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("upload refused ({status}): {body}");
    }
    let portfolio_id = body["portfolio_id"].as_str().unwrap_or_default().to_owned();
    println!("Bearer token (user {}): {token}", args.token.sub);
    println!(
        "Portfolio {portfolio_id}: {} positions imported",
        body["positions_imported"]
    );
    println!(
        "Status page:  {}/onboarding/progress?portfolioId={portfolio_id}#token={token}",
        args.api_url
    );
    println!(
        "Status JSON:  {}{}",
        args.api_url,
        body["status_url"].as_str().unwrap_or_default()
    );
    let final_status = watch(&client, &args, &token, &portfolio_id).await?;
    println!(
        "Final status: {} in {:.2}s (upload to final status) — summary {}",
        final_status["status"].as_str().unwrap_or("?"),
        started.elapsed().as_secs_f64(),
        final_status["summary"]
    );
    Ok(())
}

async fn watch(
    client: &reqwest::Client,
    args: &DemoArgs,
    token: &str,
    portfolio_id: &str,
) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1/onboarding/status/{portfolio_id}", args.api_url);
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut last_line = String::new();
    let mut last_seen = String::new();
    loop {
        let status: Value = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let entries = status["activity_log"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // The feed holds the newest 50 entries: print those newer than the last one printed.
        for e in &entries {
            let ts = e["timestamp"].as_str().unwrap_or_default();
            if ts > last_seen.as_str() {
                println!(
                    "    {ts} [{}] {}",
                    e["level"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                );
            }
        }
        if let Some(ts) = entries.last().and_then(|e| e["timestamp"].as_str()) {
            last_seen = ts.to_owned();
        }
        let line = progress_line(&status);
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        if status["status"]
            .as_str()
            .and_then(|s| s.parse::<sigmasight_shared::domain::RunStatus>().ok())
            .is_some_and(|s| s.is_terminal())
        {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("no final status after {} s", args.timeout_secs);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One progress line a person can read: `running  42.0%  P&L Calculation & Snapshots 120/254
/// dates`, or, once nothing is running, `partial 100.0%  9 of 9 phases done`.
fn progress_line(status: &Value) -> String {
    let progress = &status["overall_progress"];
    let head = format!(
        "{:>9} {:>5.1}%",
        status["status"].as_str().unwrap_or("?"),
        progress["percent_complete"].as_f64().unwrap_or(0.0)
    );
    let phase = &status["current_phase_progress"];
    match (
        progress["current_phase_name"].as_str(),
        phase["current"].as_i64(),
        phase["total"].as_i64(),
    ) {
        (Some(name), Some(current), Some(total)) => format!(
            "{head}  {name} {current}/{total} {}",
            phase["unit"].as_str().unwrap_or_default()
        ),
        _ => format!(
            "{head}  {} of {} phases done",
            progress["phases_completed"].as_i64().unwrap_or(0),
            progress["phases_total"].as_i64().unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::progress_line;
    use serde_json::json;

    #[test]
    fn progress_lines_read_well_while_running_and_at_the_end() {
        let running = json!({"status": "running",
            "overall_progress": {"percent_complete": 42.0, "current_phase_name": "P&L Calculation & Snapshots", "phases_completed": 5, "phases_total": 9},
            "current_phase_progress": {"current": 120, "total": 254, "unit": "dates"}});
        assert_eq!(
            progress_line(&running),
            "  running  42.0%  P&L Calculation & Snapshots 120/254 dates"
        );
        let done = json!({"status": "partial",
            "overall_progress": {"percent_complete": 100.0, "current_phase_name": null, "phases_completed": 9, "phases_total": 9},
            "current_phase_progress": null});
        let line = progress_line(&done);
        assert_eq!(line, "  partial 100.0%  9 of 9 phases done");
        assert!(!line.contains("null"));
    }
}
