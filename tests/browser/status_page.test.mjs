// The status page in a real browser against a real api + worker: every screen reached for
// real (slow provider, delisted symbol, injected failure, unknown portfolio), auto-scroll
// pause, the log download and retry. Run: `npm test` here (scripts/test.sh does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Stack, openBrowser, shot } from "./harness.mjs";

const NO_DELISTED = { SIGMASIGHT_SYNTHETIC_UNAVAILABLE: "NOSUCHSYMBOL" };
const TIMEOUT = { timeout: 90000 };

async function withStack(options, body) {
  const stack = await Stack.start(options);
  let browser;
  try {
    const opened = await openBrowser(options);
    browser = opened.browser;
    await body(stack, opened.page);
  } finally {
    await browser?.close();
    await stack.stop();
  }
}

const state = (page) => page.locator("#card").getAttribute("data-state");
const waitState = (page, s) => page.waitForSelector(`#card[data-state="${s}"]`, TIMEOUT);
const lines = (page) => page.locator("#log .log-line").count();

async function downloadLog(page) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#btn-download")]);
  const file = await download.path();
  return { name: download.suggestedFilename(), text: readFileSync(file, "utf8") };
}

test("running screen: phases, progress bar, live log that pauses auto-scroll when scrolled up", async () => {
  await withStack(
    { workerEnv: { SIGMASIGHT_SYNTHETIC_LATENCY_MS: "600", SIGMASIGHT_PROVIDER_CONCURRENCY: "1" } },
    async (stack, page) => {
      const pid = await stack.upload();
      // "Taking longer than usual…" shows after 20 minutes; here after 4 s.
      await page.addInitScript(() => { window.SIGMASIGHT_SLOW_AFTER_S = 4; });
      await page.goto(stack.pageUrl(pid));
      assert.ok(!page.url().includes("token="), "the token leaves the address bar");
      assert.equal(await page.isVisible("#slow"), false);
      await page.waitForSelector(".phase.running [role=progressbar]", TIMEOUT);
      assert.equal(await state(page), "running");
      assert.equal(await page.textContent("#title"), "Setting Up Your Portfolio");
      assert.equal(await page.isVisible("#btn-download"), false, "no download while running");
      assert.equal(await page.isVisible("#actions"), false, "no buttons while running");
      const bar = page.locator(".phase.running [role=progressbar]");
      assert.ok(Number(await bar.getAttribute("aria-valuemax")) > 0);
      assert.equal(await page.locator("[aria-live=polite]").count(), 1);

      // Wait until the log overflows, following the newest entry meanwhile.
      await page.waitForFunction(() => {
        const l = document.getElementById("log");
        return l.scrollHeight > l.clientHeight + 60;
      }, null, TIMEOUT);
      const atBottom = await page.$eval("#log", (l) => l.scrollHeight - l.scrollTop - l.clientHeight < 8);
      assert.ok(atBottom, "auto-scroll follows new entries");
      await shot(page, "running");

      // The reader scrolls up: new entries arrive, the view stays where the reader left it.
      await page.$eval("#log", (l) => { l.scrollTop = 10; l.dispatchEvent(new Event("scroll")); });
      const before = await lines(page);
      await page.waitForFunction((n) => document.querySelectorAll("#log .log-line").length >= n + 2, before, TIMEOUT);
      assert.equal(await page.$eval("#log", (l) => l.scrollTop), 10, "scroll position kept while paused");
      assert.match(await page.textContent("#scroll-hint"), /paused/);
      await shot(page, "running-paused");

      // Back at the bottom: following resumes.
      await page.$eval("#log", (l) => { l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event("scroll")); });
      const now = await lines(page);
      await page.waitForFunction((n) => document.querySelectorAll("#log .log-line").length > n, now, TIMEOUT);
      const resumed = await page.$eval("#log", (l) => l.scrollHeight - l.scrollTop - l.clientHeight < 8);
      assert.ok(resumed, "auto-scroll resumes at the bottom");
      assert.match(await page.textContent("#elapsed"), /\d+s/);
      assert.match(await page.textContent("#overall"), /^\d+$/);
      await page.waitForSelector("#slow:not([hidden])", TIMEOUT);
      assert.match(await page.textContent("#slow"), /Taking longer than usual/);
      assert.equal(await state(page), "running");
    },
  );
});

test("completed screen: summary, NAV chart, download of the full log", async () => {
  await withStack({ workerEnv: NO_DELISTED }, async (stack, page) => {
    const pid = await stack.upload({ name: "Growth Portfolio" });
    await page.goto(stack.pageUrl(pid));
    await waitState(page, "completed");
    assert.equal(await page.textContent("#title"), "Portfolio Setup Complete!");
    await page.waitForFunction(() => document.getElementById("subtitle").textContent.includes("Growth Portfolio"), null, TIMEOUT);
    const outcome = await page.textContent("#outcome");
    assert.match(outcome, /20 positions analyzed/);
    assert.match(outcome, /\d+ trading days of history/);
    assert.match(outcome, /Total time/);
    await page.waitForSelector("#outcome svg.chart polyline", TIMEOUT);
    // The chart names its first and last date and its low and high; focusing it and an
    // arrow key read a date's value; beside it the three tail-risk figures, explained.
    assert.match(await page.textContent(".chart-first"), /^\d{4}-\d{2}-\d{2}$/);
    assert.match(await page.textContent(".chart-last"), /^2026-11-30$/);
    assert.match(await page.textContent(".chart-range"), /^low \$[\d,]+\.\d\d · high \$[\d,]+\.\d\d$/);
    await page.focus("#outcome svg.chart");
    await page.keyboard.press("ArrowLeft");
    assert.match(await page.textContent(".chart-readout"), /^2026-11-27: \$[\d,]+\.\d\d$/);
    await page.waitForSelector(".figures dd", TIMEOUT);
    const figures = await page.textContent(".figures");
    assert.match(figures, /Value at Risk \(95%\)\$[\d,]+\.\d\dOn 19 days in 20/);
    assert.match(figures, /Max drawdown-?\d+\.\d%The deepest fall/);
    assert.match(figures, /Sharpe ratio-?\d+\.\d\dReturn above/);
    assert.equal(await page.isVisible("#btn-retry"), false);
    assert.match(await page.textContent("#btn-view"), /View Portfolio/);
    assert.equal(await page.$eval("#overall", (e) => e.textContent), "100");
    await shot(page, "completed");

    const { name, text } = await downloadLog(page);
    assert.match(name, new RegExp(`^portfolio_setup_log_${pid}_\\d{8}T\\d{6}Z\\.txt$`));
    assert.match(text, /SIGMASIGHT PORTFOLIO SETUP LOG/);
    assert.match(text, new RegExp(`Portfolio ID: ${pid}`));
    assert.match(text, /Final Status: completed/);
    assert.match(text, /PHASE DETAILS/);
    assert.match(text, /\[INFO\] Fetched AAPL: \d+ days of history \(synthetic\)/);
    assert.match(text, /END OF LOG\n={80}\n$/);
  });
});

test("partial screen at phone width: warnings title and the expandable unavailable symbols", async () => {
  await withStack({ phone: true }, async (stack, page) => {
    const pid = await stack.upload();
    await page.goto(stack.pageUrl(pid));
    await waitState(page, "partial");
    assert.equal(await page.textContent("#title"), "Portfolio Setup Completed with Warnings");
    assert.match(await page.textContent("#outcome"), /19 positions analyzed \(1 unavailable symbol\)/);
    assert.equal(await page.isVisible(".unavailable-list"), false, "collapsed at first");
    await page.click("#outcome details summary");
    assert.equal(await page.textContent(".unavailable-list"), "HZNP");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 375, `no horizontal scrolling at 375 px (width ${overflow})`);
    assert.ok(await page.isVisible("#btn-download"));
    await shot(page, "partial-phone");
  });
});

test("failed screen, then Retry Setup runs attempt 2 and the log lists both attempts", async () => {
  await withStack(
    { apiEnv: { SIGMASIGHT_MAX_ATTEMPTS: "1" }, workerEnv: { SIGMASIGHT_SYNTHETIC_FAIL: "AAPL:error" } },
    async (stack, page) => {
      const pid = await stack.upload();
      await page.goto(stack.pageUrl(pid));
      await waitState(page, "failed");
      assert.equal(await page.textContent("#title"), "Setup Interrupted");
      const outcome = await page.textContent("#outcome");
      assert.match(outcome, /Failed at: Market Data Collection/);
      assert.match(outcome, /Error: .+/);
      assert.ok(await page.isVisible("#btn-retry"));
      assert.ok(await page.isVisible("#btn-download"));
      assert.equal(await page.textContent("#btn-view"), "View Portfolio Anyway →");
      await shot(page, "failed");

      // The provider recovers; the user retries from the page.
      stack.stopWorker();
      stack.startWorker();
      await page.click("#btn-retry");
      await page.waitForSelector('#card[data-state="running"]', TIMEOUT);
      await waitState(page, "partial");
      const s = await stack.status(pid);
      assert.equal(s.attempt, 2);
      assert.equal(s.status, "partial");
      await shot(page, "retried");
      const { text } = await downloadLog(page);
      assert.match(text, /--- Attempt 1 ---/);
      assert.match(text, /--- Attempt 2 ---/);
      assert.match(text, /Attempts: 2/);
      assert.match(text, /Retry requested: attempt 2 queued/);
    },
  );
});

test("status unavailable after 3 consecutive not_found, with Refresh Status and View Portfolio", async () => {
  await withStack({ worker: false }, async (stack, page) => {
    await page.goto(stack.pageUrl("7b0f6a52-0000-4000-8000-000000000000"));
    await waitState(page, "unavailable");
    assert.equal(await page.textContent("#title"), "Status Unavailable");
    assert.ok(await page.isVisible("#btn-refresh"));
    assert.ok(await page.isVisible("#btn-view"));
    assert.equal(await page.isVisible("#btn-download"), false);
    assert.equal(await page.isVisible("#log"), false);
    assert.equal(await page.isVisible("#meter"), false, "no elapsed/overall without a status");
    await shot(page, "unavailable");
    // Refresh polls again (and lands on the same screen for an unknown portfolio).
    await page.click("#btn-refresh");
    assert.equal(await state(page), "running");
    await waitState(page, "unavailable");
  });
});
