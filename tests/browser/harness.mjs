// Test stack for the browser tests: a fresh database (psql), the real sigmasight-api and
// sigmasight-worker binaries (target/debug, built by scripts/test.sh), and Debian's chromium
// driven by playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const screenshots = path.join(here, "screenshots");
const target = process.env.CARGO_TARGET_DIR || path.join(root, "target");
const profile = process.env.SIGMASIGHT_BIN_PROFILE || "debug";
const bin = (name) => path.join(target, profile, name);
const adminUrl = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const SECRET = "browser-secret";
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

function psql(sql) {
  execFileSync("psql", [adminUrl, "-v", "ON_ERROR_STOP=1", "-qc", sql], { stdio: "pipe" });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A database, an api and (optionally) a worker, stopped by `stop()`. */
export class Stack {
  static async start({ apiEnv = {}, workerEnv = {}, worker = true } = {}) {
    const s = new Stack();
    s.dbName = `sigmasight_browser_${randomUUID().replaceAll("-", "")}`;
    psql(`create database ${s.dbName}`);
    s.dbUrl = adminUrl.replace(/\/[^/]*$/, `/${s.dbName}`);
    s.procs = [];
    // A start that fails (a binary missing, an api that never gets ready) drops what it
    // made: the caller never gets the stack to stop it.
    try {
      s.port = await freePort();
      s.base = `http://127.0.0.1:${s.port}`;
      s.api = s.spawn("sigmasight-api", { SIGMASIGHT_BIND: `127.0.0.1:${s.port}`, ...apiEnv });
      await s.waitReady();
      if (worker) s.startWorker(workerEnv);
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  spawn(name, env) {
    const child = spawn(bin(name), [], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: this.dbUrl,
        SIGMASIGHT_JWT_SECRET: SECRET,
        RUST_LOG: process.env.E2E_RUST_LOG || "warn",
        // The business date the suite pins (scripts/test.sh), when it does.
        ...(process.env.SIGMASIGHT_AS_OF ? { SIGMASIGHT_AS_OF: process.env.SIGMASIGHT_AS_OF } : {}),
        ...env,
      },
      stdio: ["ignore", process.env.E2E_SHOW_LOGS ? "inherit" : "ignore", process.env.E2E_SHOW_LOGS ? "inherit" : "ignore"],
    });
    // A binary that cannot start fails the stack's start at once (see `waitReady`).
    child.on("error", (e) => { this.spawnError = e; });
    this.procs.push(child);
    return child;
  }

  startWorker(env = {}) {
    this.worker = this.spawn("sigmasight-worker", env);
    return this.worker;
  }

  stopWorker() {
    if (this.worker) this.worker.kill("SIGKILL");
    this.worker = null;
  }

  async waitReady() {
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (this.spawnError) throw this.spawnError;
      try {
        const r = await fetch(`${this.base}/readyz`);
        if (r.ok) return;
      } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error("api did not become ready");
  }

  token(sub = "alice") {
    return execFileSync(bin("sigmasight-api"), ["token", "--sub", sub], {
      env: { PATH: process.env.PATH, SIGMASIGHT_JWT_SECRET: SECRET },
    }).toString().trim();
  }

  /** Uploads the example CSV (or `csv`) as alice; returns the portfolio id. */
  async upload({ csv, name = "Browser Portfolio" } = {}) {
    const text = csv ?? readFileSync(path.join(root, "examples/demo_portfolio.csv"), "utf8");
    const form = new FormData();
    form.set("portfolio_name", name);
    form.set("account_name", `acct-${randomUUID()}`);
    form.set("csv_file", new Blob([text], { type: "text/csv" }), "portfolio.csv");
    const r = await fetch(`${this.base}/api/v1/onboarding/create-portfolio`, {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token()}` },
      body: form,
    });
    const body = await r.json();
    if (r.status !== 201) throw new Error(`upload answered ${r.status}: ${JSON.stringify(body)}`);
    return body.portfolio_id;
  }

  async status(portfolioId) {
    const r = await fetch(`${this.base}/api/v1/onboarding/status/${portfolioId}`, {
      headers: { Authorization: `Bearer ${this.token()}` },
    });
    return r.json();
  }

  pageUrl(portfolioId) {
    return `${this.base}/onboarding/progress?portfolioId=${portfolioId}#token=${this.token()}`;
  }

  async stop() {
    for (const p of this.procs) p.kill("SIGKILL");
    await sleep(200);
    try { psql(`drop database if exists ${this.dbName} with (force)`); } catch { /* best effort */ }
  }
}

/** A headless chromium page (phone width when `phone`), with downloads enabled. */
export async function openBrowser({ phone = false } = {}) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: phone ? { width: 375, height: 812 } : { width: 1000, height: 1000 },
  });
  const page = await context.newPage();
  return { browser, page };
}

/** Saves a full-page screenshot under tests/browser/screenshots/. */
export async function shot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}
