//! End-to-end harness: a fresh database per test, the real `sigmasight-api` and
//! `sigmasight-worker` binaries started as processes, and an HTTP client.

use anyhow::{bail, Context as _};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub mod fake_providers;
pub mod night;
pub mod prometheus;
pub mod queue_history;

/// The JWT secret every test process shares.
pub const SECRET: &str = "e2e-secret";

/// A database of its own for one test, dropped at the end.
pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    /// Creates `sigmasight_e2e_<uuid>` on the server of `DATABASE_URL` and migrates it.
    pub async fn create() -> anyhow::Result<Self> {
        let admin_url = std::env::var("DATABASE_URL")
            .context("DATABASE_URL must point at a Postgres the tests may create databases on")?;
        Self::create_on(&admin_url).await
    }

    /// Creates the test database on the server of `admin_url`.
    pub async fn create_on(admin_url: &str) -> anyhow::Result<Self> {
        let admin_url = admin_url.to_owned();
        let name = format!("sigmasight_e2e_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await?;
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await?;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => bail!("DATABASE_URL has no database name"),
        };
        let pool = sigmasight_shared::db::connect(&url, 2, Duration::from_secs(5)).await?;
        sigmasight_shared::db::migrate(&pool).await?;
        pool.close().await;
        Ok(Self {
            url,
            admin_url,
            name,
        })
    }

    /// A pool on the test database.
    pub async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sigmasight_shared::db::connect(&self.url, 4, Duration::from_secs(5)).await?)
    }

    /// Drops the database (best effort: processes must be stopped first).
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

/// Path of a workspace binary built by `cargo build --bins`.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = std::env::var("SIGMASIGHT_BIN_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target.join(profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A child process killed when dropped.
pub struct Process {
    child: Child,
    pub name: &'static str,
    /// Where its stdout and stderr go, when started with [`start_worker_logged`].
    log: Option<PathBuf>,
}

impl Process {
    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop with SIGTERM and waits up to `grace`.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process has printed so far (empty unless started with a log file).
    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Polls the process's log until a line contains `needle`, up to `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            if Instant::now() > deadline {
                bail!(
                    "{} never logged {needle:?} within {timeout:?}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_9();
        if let Some(p) = &self.log {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spawn(name: &'static str, db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Process> {
    spawn_with(name, db_url, env, None)
}

fn spawn_with(
    name: &'static str,
    db_url: &str,
    env: &[(&str, String)],
    log: Option<PathBuf>,
) -> anyhow::Result<Process> {
    let mut cmd = Command::new(binary(name));
    cmd.env("DATABASE_URL", db_url)
        .env("SIGMASIGHT_JWT_SECRET", SECRET)
        .env(
            "RUST_LOG",
            std::env::var("E2E_RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null());
    if let Some(path) = &log {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        cmd.stdout(file.try_clone()?).stderr(file);
    } else if std::env::var_os("E2E_SHOW_LOGS").is_none() {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }
    // The nightly scheduler would enqueue a daily batch at start: only tests that want it.
    cmd.env("SIGMASIGHT_SCHEDULER", "off");
    // Tests poll status ten times a second; the per-user rates are tested on their own.
    cmd.env("SIGMASIGHT_REQUESTS_PER_MINUTE", "100000")
        .env("SIGMASIGHT_UPLOADS_PER_MINUTE", "10000");
    for (k, v) in env {
        // An empty value removes the variable (e.g. `SIGMASIGHT_AS_OF` for the real date).
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    Ok(Process {
        child: cmd.spawn().with_context(|| format!("starting {name}"))?,
        name,
        log,
    })
}

/// Starts a worker process.
pub fn start_worker(db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Process> {
    spawn("sigmasight-worker", db_url, env)
}

/// Starts a worker whose output (at `RUST_LOG=info` unless `env` says otherwise) goes to a
/// temporary file, read with [`Process::log_text`] and [`Process::wait_for_log`].
pub fn start_worker_logged(db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Process> {
    let mut all = vec![("RUST_LOG", "info".to_owned())];
    all.extend_from_slice(env);
    let log = std::env::temp_dir().join(format!("sigmasight-worker-{}.log", Uuid::new_v4()));
    spawn_with("sigmasight-worker", db_url, &all, Some(log))
}

/// A running API process and a client for it.
pub struct Api {
    pub process: Process,
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    /// Starts the API on a free port and waits until it is ready.
    pub async fn start(db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::start_with(db_url, env, None).await
    }

    /// [`Api::start`] with the output (at `RUST_LOG=info` unless `env` says otherwise) in a
    /// temporary file, read with [`Process::log_text`].
    pub async fn start_logged(db_url: &str, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let mut all = vec![("RUST_LOG", "info".to_owned())];
        all.extend_from_slice(env);
        let log = std::env::temp_dir().join(format!("sigmasight-api-{}.log", Uuid::new_v4()));
        Self::start_with(db_url, &all, Some(log)).await
    }

    async fn start_with(
        db_url: &str,
        env: &[(&str, String)],
        log: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut all = env.to_vec();
        all.push(("SIGMASIGHT_BIND", format!("127.0.0.1:{port}")));
        let process = spawn_with("sigmasight-api", db_url, &all, log)?;
        let api = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = api.client.get(format!("{}/readyz", api.base)).send().await {
                if r.status().is_success() {
                    return Ok(api);
                }
            }
            if Instant::now() > deadline {
                bail!("api did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A token for `sub`.
    pub fn token(sub: &str) -> String {
        sigmasight_shared::auth::issue_hs256(sub, false, 3600, SECRET).unwrap_or_default()
    }

    /// An admin token.
    pub fn admin_token() -> String {
        sigmasight_shared::auth::issue_hs256("ops-admin", true, 3600, SECRET).unwrap_or_default()
    }

    /// POST a JSON body as an admin.
    pub async fn admin_post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(Self::admin_token())
            .json(body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// GET as an admin.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(Self::admin_token())
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// Uploads a CSV as `sub`; returns the HTTP status and body.
    pub async fn upload(
        &self,
        sub: &str,
        account: &str,
        file_name: &str,
        csv: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let form = reqwest::multipart::Form::new()
            .text("portfolio_name", "E2E Portfolio")
            .text("account_name", account.to_owned())
            .text("account_type", "taxable")
            .part(
                "csv_file",
                reqwest::multipart::Part::bytes(csv).file_name(file_name.to_owned()),
            );
        let r = self
            .client
            .post(format!("{}/api/v1/onboarding/create-portfolio", self.base))
            .bearer_auth(Self::token(sub))
            .multipart(form)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// Uploads `csv` as `sub` (201 expected) and waits for the run's terminal status (up to
    /// 5 minutes); returns the portfolio id and that status.
    pub async fn onboard(
        &self,
        sub: &str,
        account: &str,
        csv: Vec<u8>,
    ) -> anyhow::Result<(String, Value)> {
        let (code, created) = self.upload(sub, account, "portfolio.csv", csv).await?;
        if code != 201 {
            bail!("upload answered {code}: {created}");
        }
        let pid = created["portfolio_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let status = self
            .wait_terminal(sub, &pid, Duration::from_secs(300))
            .await?;
        Ok((pid, status))
    }

    /// [`Api::onboard`] that also requires the run to have completed; returns the portfolio id.
    pub async fn onboard_completed(&self, sub: &str, csv: &[u8]) -> anyhow::Result<String> {
        let (pid, status) = self.onboard(sub, "Main", csv.to_vec()).await?;
        if status["status"] != "completed" {
            bail!("onboarding of {pid} ended {}: {status}", status["status"]);
        }
        Ok(pid)
    }

    /// Polls the admin run list until the newest run of `kind` (or the run `run_id`) is
    /// terminal, up to `timeout`; returns its detail document (`{"run": …, "children": …}`).
    pub async fn wait_batch_run(
        &self,
        kind: &str,
        run_id: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, list) = self
                .admin_get(&format!("/api/v1/admin/batch/runs?kind={kind}"))
                .await?;
            let run = list["runs"]
                .as_array()
                .and_then(|runs| runs.iter().find(|r| run_id.is_none_or(|id| r["id"] == id)));
            if let Some(r) = run.filter(|r| {
                matches!(
                    r["status"].as_str(),
                    Some("completed" | "partial" | "failed" | "cancelled")
                )
            }) {
                let (_, detail) = self
                    .admin_get(&format!(
                        "/api/v1/admin/batch/runs/{}",
                        r["id"].as_str().unwrap_or_default()
                    ))
                    .await?;
                return Ok(detail);
            }
            if Instant::now() > deadline {
                bail!("{kind} run did not end within {timeout:?}: {list}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET as `sub`, JSON body.
    pub async fn get_json(&self, sub: &str, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(Self::token(sub))
            .send()
            .await?;
        Ok((r.status().as_u16(), r.json().await?))
    }

    /// The status document of a portfolio.
    pub async fn status(&self, sub: &str, portfolio_id: &str) -> anyhow::Result<Value> {
        let (code, body) = self
            .get_json(sub, &format!("/api/v1/onboarding/status/{portfolio_id}"))
            .await?;
        if code != 200 {
            bail!("status answered {code}: {body}");
        }
        Ok(body)
    }

    /// Polls status until a terminal state or `timeout`; checks percent never goes backwards
    /// within an attempt on the way.
    pub async fn wait_terminal(
        &self,
        sub: &str,
        portfolio_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last = (0i64, 0.0f64);
        loop {
            let s = self.status(sub, portfolio_id).await?;
            let attempt = s["attempt"].as_i64().unwrap_or(0);
            let pct = s["overall_progress"]["percent_complete"]
                .as_f64()
                .unwrap_or(0.0);
            if attempt == last.0 && pct + 1e-9 < last.1 {
                bail!(
                    "percent_complete went backwards within attempt {attempt}: {} -> {pct}",
                    last.1
                );
            }
            last = (attempt, pct);
            if matches!(
                s["status"].as_str(),
                Some("completed" | "partial" | "failed" | "cancelled")
            ) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("no terminal status after {timeout:?}: {s}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The example portfolio shipped in `examples/`.
pub fn example_csv() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/demo_portfolio.csv"))
        .unwrap_or_default()
}

/// A private Postgres cluster for tests that restart the server (initdb/pg_ctl from Debian's
/// packages, run as the `postgres` user when the tests run as root). Stopped and removed on drop.
pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    fn as_pg(&self, program: &str) -> Command {
        pg_command(&self.bin, program)
    }

    /// Creates and starts a fresh cluster on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .context("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = std::env::temp_dir().join(format!("sigmasight-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()?;
        }
        let pg = Self {
            dir,
            bin,
            port: free_port()?,
        };
        let status = pg
            .as_pg("initdb")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "initdb failed");
        pg.ctl("start")?;
        Ok(pg)
    }

    fn ctl(&self, action: &str) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let status = self
            .as_pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-m", "fast", "-o", &options, action])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "pg_ctl {action} failed");
        Ok(())
    }

    /// Restarts the server (fast shutdown: every connection is dropped).
    pub fn restart(&self) -> anyhow::Result<()> {
        self.ctl("restart")
    }

    /// The admin URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_pg("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn pg_command(bin: &std::path::Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

/// The phase `id` of a status document (null when absent).
pub fn phase<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["phase_id"] == id))
        .unwrap_or(&Value::Null)
}
