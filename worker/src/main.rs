//! `sigmasight-worker`: config → telemetry → pool → migrate → run until SIGTERM.

use clap::Parser;
use sigmasight_worker::{shutdown_signal, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WorkerConfig::parse();
    sigmasight_shared::telemetry::init("worker");
    let worker = Worker::build(config).await?;
    worker.run_until_stopped(shutdown_signal()).await
}
