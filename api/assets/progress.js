// Status page of one portfolio's setup (DESIGN §5, seed 000 §4, seed 003 §8 and A10–A11).
// Live updates come from the SSE stream; if it fails or reports not_found, the page polls the
// status endpoint every 2 s. Both stop at a terminal status. Plain JS, no framework.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var NOT_FOUND_LIMIT = 3;
  // Tests shorten it with window.SIGMASIGHT_SLOW_AFTER_S (set before this script runs).
  var SLOW_AFTER_S = window.SIGMASIGHT_SLOW_AFTER_S || 20 * 60;
  var TERMINAL = { completed: 1, partial: 1, failed: 1, cancelled: 1 };
  // Glyphs every system font has (no emoji font needed), colored by status in the CSS.
  var ICONS = { pending: "○", running: "↻", completed: "✓", warning: "⚠", failed: "✕", skipped: "»" };
  var CONFIG = {
    running: { icon: "↻", title: "Setting Up Your Portfolio", subtitle: function () { return "Analyzing your portfolio in 9 processing phases."; } },
    completed: { icon: "✓", title: "Portfolio Setup Complete!", subtitle: function (name) { return name ? "Your portfolio \u201c" + name + "\u201d is ready." : "Your portfolio is ready."; } },
    partial: { icon: "⚠", title: "Portfolio Setup Completed with Warnings", subtitle: function () { return "Your portfolio is ready, but some data may be incomplete."; } },
    failed: { icon: "✕", title: "Setup Interrupted", subtitle: function () { return "We encountered an issue. Some features may have limited data."; } },
    unavailable: { icon: "⚠", title: "Status Unavailable", subtitle: function () { return "Unable to fetch status updates."; } }
  };

  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var portfolioId = params.get("portfolioId") || "";
  var token = readToken();
  var state = { doc: null, receivedAt: 0, notFound: 0, timer: null, source: null, autoScroll: true,
    uiState: "", logKey: "", portfolioName: "", extrasFor: "", lastPhase: "" };

  // The token comes in the URL fragment (#token=…), never sent to servers or logs; it moves to
  // sessionStorage and the fragment is removed from the address bar.
  function readToken() {
    var m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) {
      try { sessionStorage.setItem("sigmasight_token", decodeURIComponent(m[1])); } catch (e) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
      return decodeURIComponent(m[1]);
    }
    try { return sessionStorage.getItem("sigmasight_token") || ""; } catch (e) { return ""; }
  }

  function api(path) { return "/api/v1" + path; }
  function authHeaders() { return token ? { Authorization: "Bearer " + token } : {}; }

  function fmtDuration(s) {
    s = Math.max(0, Math.round(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return h + "h " + m + "m " + r + "s";
    if (m) return m + "m " + r + "s";
    return r + "s";
  }
  function fmtTime(ts) { return ts ? ts.substr(11, 8) : ""; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function announce(text) { $("live").textContent = text; }

  // ---- data sources -------------------------------------------------------------------
  function start() {
    $("btn-view").href = "/portfolio?portfolioId=" + encodeURIComponent(portfolioId);
    if (!portfolioId) { showUnavailable(); return; }
    if (window.EventSource && token) startStream(); else startPolling();
  }

  function startStream() {
    stopAll();
    var url = api("/onboarding/status/" + encodeURIComponent(portfolioId) + "/events?access_token=" + encodeURIComponent(token));
    var source = new EventSource(url);
    state.source = source;
    source.addEventListener("status", function (ev) {
      var doc;
      try { doc = JSON.parse(ev.data); } catch (e) { return; }
      if (doc.status === "not_found") { startPolling(); return; }
      accept(doc);
      if (TERMINAL[doc.status]) stopAll();
    });
    source.onerror = function () {
      // Closed by the server without a terminal status, or refused (401/404): poll instead.
      if (state.source === source) startPolling();
    };
  }

  function startPolling() {
    stopAll();
    poll();
  }

  function stopAll() {
    if (state.source) { state.source.close(); state.source = null; }
    if (state.timer) { clearTimeout(state.timer); state.timer = null; }
  }

  function poll() {
    fetch(api("/onboarding/status/" + encodeURIComponent(portfolioId)), { headers: authHeaders() })
      .then(function (r) { return r.ok ? r.json() : { status: "not_found", http: r.status }; })
      .catch(function () { return { status: "error" }; })
      .then(function (doc) {
        if (doc.status === "not_found") {
          state.notFound += 1;
          if (state.notFound >= NOT_FOUND_LIMIT) { showUnavailable(); return; }
        } else if (doc.status !== "error") {
          state.notFound = 0;
          accept(doc);
          if (TERMINAL[doc.status]) return;
        }
        state.timer = setTimeout(poll, POLL_MS);
      });
  }

  // ---- rendering ------------------------------------------------------------------------
  function uiStateOf(status) {
    if (status === "completed" || status === "partial" || status === "failed") return status;
    if (status === "cancelled") return "failed";
    return "running";
  }

  function accept(doc) {
    state.doc = doc;
    state.receivedAt = Date.now();
    var ui = uiStateOf(doc.status);
    setState(ui);
    renderPhases(doc);
    renderLog(doc.activity_log || []);
    renderMeter();
    if (ui !== "running") renderOutcome(doc);
  }

  function setState(ui) {
    var card = $("card");
    if (state.uiState === ui) return;
    state.uiState = ui;
    card.className = "card state-" + ui;
    card.setAttribute("data-state", ui);
    var c = CONFIG[ui];
    $("icon").textContent = c.icon;
    $("title").textContent = c.title;
    $("subtitle").textContent = c.subtitle(state.portfolioName);
    var terminal = ui !== "running";
    var unavailable = ui === "unavailable";
    $("phases-box").hidden = unavailable;
    $("log-box").hidden = unavailable;
    $("meter").hidden = unavailable;
    $("unavailable").hidden = !unavailable;
    $("outcome").hidden = !terminal || unavailable;
    $("actions").hidden = !terminal;
    $("btn-download").hidden = !(terminal && !unavailable);
    $("btn-retry").hidden = ui !== "failed";
    $("btn-refresh").hidden = !unavailable;
    $("btn-view").textContent = ui === "failed" ? "View Portfolio Anyway →" : (ui === "unavailable" ? "View Portfolio →" : "View Portfolio Dashboard →");
    if (terminal) $("slow").hidden = true;
    announce(c.title + ". " + c.subtitle(state.portfolioName));
  }

  function renderPhases(doc) {
    var list = $("phases");
    list.textContent = "";
    (doc.phases || []).forEach(function (p, i) {
      var li = el("li", "phase " + p.status);
      li.setAttribute("data-phase", p.phase_id);
      var row = el("div", "phase-row");
      var icon = el("span", "phase-icon", ICONS[p.status] || "•");
      icon.setAttribute("aria-hidden", "true");
      row.appendChild(icon);
      row.appendChild(el("span", "phase-name", "Phase " + (i + 1) + ": " + p.phase_name));
      var secs = p.duration_seconds;
      if (p.status === "running" && secs == null) secs = null;
      row.appendChild(el("span", "phase-time", secs != null ? fmtDuration(secs) : ""));
      var sr = el("span", "sr-only", " (" + p.status + ")");
      row.appendChild(sr);
      li.appendChild(row);
      if (p.status === "running" && p.total > 0) {
        var pct = Math.min(100, Math.round((100 * p.current) / p.total));
        var bar = el("div", "bar");
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-label", p.phase_name);
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", String(p.total));
        bar.setAttribute("aria-valuenow", String(p.current));
        bar.setAttribute("aria-valuetext", p.current + " of " + p.total + " " + p.unit);
        var fill = el("div", "bar-fill");
        fill.style.width = pct + "%";
        bar.appendChild(fill);
        li.appendChild(bar);
        li.appendChild(el("div", "bar-label", p.current + "/" + p.total + " " + p.unit));
      }
      list.appendChild(li);
      if (p.status === "running" && state.lastPhase !== p.phase_id) {
        state.lastPhase = p.phase_id;
        announce("Phase " + (i + 1) + ": " + p.phase_name + " started.");
      }
    });
  }

  function renderLog(entries) {
    var key = entries.length ? entries.length + "|" + entries[entries.length - 1].timestamp + "|" + entries[entries.length - 1].message : "";
    if (key === state.logKey) return;
    state.logKey = key;
    var log = $("log");
    var keep = log.scrollTop;
    log.textContent = "";
    entries.forEach(function (e) {
      var line = el("div", "log-line " + (e.level || "info"));
      var t = el("time", "", fmtTime(e.timestamp));
      t.setAttribute("datetime", e.timestamp);
      line.appendChild(t);
      line.appendChild(document.createTextNode((e.level === "warning" ? "⚠ " : e.level === "error" ? "✕ " : "") + e.message));
      log.appendChild(line);
    });
    if (state.autoScroll) log.scrollTop = log.scrollHeight; else log.scrollTop = keep;
  }

  // Smart auto-scroll: follow new entries only while the reader is at the bottom.
  $("log").addEventListener("scroll", function () {
    var log = $("log");
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
    state.autoScroll = atBottom;
    var hint = $("scroll-hint");
    hint.textContent = atBottom ? "▼ auto-scrolling" : "auto-scroll paused — scroll to the bottom to resume";
    hint.className = "scroll-hint" + (atBottom ? "" : " paused");
  });

  function elapsedNow() {
    var doc = state.doc;
    if (!doc) return 0;
    var extra = TERMINAL[doc.status] ? 0 : (Date.now() - state.receivedAt) / 1000;
    return (doc.elapsed_seconds || 0) + extra;
  }

  function renderMeter() {
    var doc = state.doc;
    if (!doc) return;
    var secs = elapsedNow();
    $("elapsed").textContent = fmtDuration(secs);
    var pct = doc.overall_progress ? doc.overall_progress.percent_complete : 0;
    $("overall").textContent = String(Math.round(pct));
    $("slow").hidden = TERMINAL[doc.status] || secs < SLOW_AFTER_S;
  }
  setInterval(renderMeter, 1000);

  function renderOutcome(doc) {
    var box = $("outcome");
    var ui = uiStateOf(doc.status);
    var sig = ui + "|" + doc.attempt;
    if (state.extrasFor === sig) return;
    state.extrasFor = sig;
    box.textContent = "";
    var s = doc.summary || {};
    if (ui === "failed") {
      var phases = doc.phases || [];
      var done = phases.filter(function (p) { return p.status === "completed" || p.status === "warning"; });
      var failed = phases.filter(function (p) { return p.status === "failed"; })[0];
      box.appendChild(el("p", "", "✓ Completed: " + (done.length ? done.map(function (p) { return p.phase_name; }).join(", ") : "none")));
      if (failed) box.appendChild(el("p", "", "✕ Failed at: " + failed.phase_name));
      box.appendChild(el("p", "error-text", "Error: " + (doc.error || "unknown error")));
      if (done.length) box.appendChild(el("p", "", "Your portfolio is available with partial analytics."));
      box.appendChild(el("p", "", "Retry Setup runs the phases that did not complete again."));
      return;
    }
    box.appendChild(el("h2", "", "Summary"));
    var ul = el("ul");
    var unavailable = s.unavailable_symbols || [];
    ul.appendChild(el("li", "", (s.positions_analyzed != null ? s.positions_analyzed : "?") + " positions analyzed" +
      (unavailable.length ? " (" + unavailable.length + " unavailable symbol" + (unavailable.length > 1 ? "s" : "") + ")" : "")));
    if (unavailable.length) {
      var li = el("li");
      var det = el("details");
      det.appendChild(el("summary", "", "Unavailable symbols (" + unavailable.length + ")"));
      var inner = el("ul", "unavailable-list");
      unavailable.forEach(function (sym) { inner.appendChild(el("li", "", sym)); });
      det.appendChild(inner);
      li.appendChild(det);
      ul.appendChild(li);
    }
    var etfs = s.factor_etfs_without_prices || [];
    if (etfs.length) ul.appendChild(el("li", "", "Factor ETFs without prices: " + etfs.join(", ") + " (their factors are left empty)"));
    (s.data_gaps || []).forEach(function (gap) {
      ul.appendChild(el("li", "", "Not to be had now: " + gap + " (asked again on the next run)"));
    });
    ul.appendChild(el("li", "", (s.trading_days != null ? s.trading_days : "?") + " trading days of history"));
    ul.appendChild(el("li", "", "Total time: " + fmtDuration(doc.elapsed_seconds)));
    box.appendChild(ul);
    loadName();
    loadChart(box);
  }

  function loadName() {
    fetch(api("/onboarding/status/" + encodeURIComponent(portfolioId) + "/logs?format=json"), { headers: authHeaders() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (log) {
        if (!log || !log.portfolio_name) return;
        state.portfolioName = log.portfolio_name;
        var c = CONFIG[state.uiState];
        if (c) $("subtitle").textContent = c.subtitle(state.portfolioName);
      })
      .catch(function () { /* the generic subtitle stays */ });
  }

  function fmtMoney(v) {
    return (v < 0 ? "−$" : "$") + Math.abs(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function fmtPct(v) { return (v * 100).toFixed(1) + "%"; }

  // The NAV chart with what a reader needs: first and last date, low and high, and the date
  // and value under the pointer (arrow keys move it for keyboard users); beside it the tail
  // risk figures of the overview, each with one line saying what it means.
  function loadChart(box) {
    fetch(api("/analytics/portfolio/" + encodeURIComponent(portfolioId) + "/snapshots"), { headers: authHeaders() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        var rows = data && data.snapshots ? data.snapshots : [];
        if (rows.length < 2) return;
        box.appendChild(el("h2", "", "Daily NAV"));
        var row = el("div", "chart-row");
        row.appendChild(navChart(rows));
        box.appendChild(row);
        loadTailRisk(row);
      })
      .catch(function () { /* no chart */ });
  }

  function navChart(rows) {
    var vals = rows.map(function (r) { return r.total_value; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    var span = hi - lo || 1;
    var x = function (i) { return i * 300 / (vals.length - 1); };
    var y = function (v) { return 78 - (v - lo) * 74 / span; };
    var pts = vals.map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); }).join(" ");
    var first = rows[0].snapshot_date, last = rows[rows.length - 1].snapshot_date;
    var ns = "http://www.w3.org/2000/svg";
    var fig = el("figure", "chart-fig");
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 300 80");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "chart");
    svg.setAttribute("tabindex", "0");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Daily NAV from " + first + " to " + last + ": " + vals[0].toFixed(2) +
      " to " + vals[vals.length - 1].toFixed(2) + ", low " + lo.toFixed(2) + ", high " + hi.toFixed(2) +
      ". Left and right arrow keys read each date.");
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts);
    svg.appendChild(line);
    var cursor = document.createElementNS(ns, "line");
    cursor.setAttribute("class", "chart-cursor");
    cursor.setAttribute("y1", "0");
    cursor.setAttribute("y2", "80");
    cursor.setAttribute("visibility", "hidden");
    svg.appendChild(cursor);
    fig.appendChild(svg);
    var axis = el("div", "chart-axis");
    axis.appendChild(el("span", "chart-first", first));
    axis.appendChild(el("span", "chart-range", "low " + fmtMoney(lo) + " · high " + fmtMoney(hi)));
    axis.appendChild(el("span", "chart-last", last));
    fig.appendChild(axis);
    var readout = el("figcaption", "chart-readout", "Point at the chart (or focus it and use ← →) to read a date.");
    readout.setAttribute("aria-live", "polite");
    fig.appendChild(readout);
    var at = vals.length - 1;
    function show(i) {
      at = Math.max(0, Math.min(vals.length - 1, i));
      cursor.setAttribute("x1", x(at).toFixed(1));
      cursor.setAttribute("x2", x(at).toFixed(1));
      cursor.setAttribute("visibility", "visible");
      readout.textContent = rows[at].snapshot_date + ": " + fmtMoney(vals[at]);
    }
    svg.addEventListener("mousemove", function (e) {
      var r = svg.getBoundingClientRect();
      if (r.width > 0) show(Math.round((e.clientX - r.left) / r.width * (vals.length - 1)));
    });
    svg.addEventListener("focus", function () { show(at); });
    svg.addEventListener("keydown", function (e) {
      var step = { ArrowLeft: -1, ArrowRight: 1 }[e.key];
      if (step) { show(at + step); e.preventDefault(); }
      if (e.key === "Home") { show(0); e.preventDefault(); }
      if (e.key === "End") { show(vals.length - 1); e.preventDefault(); }
    });
    return fig;
  }

  var TAIL_FIGURES = [
    { key: "var_95_dollars", name: "Value at Risk (95%)", fmt: fmtMoney,
      hint: "On 19 days in 20 the portfolio lost less than this in a day (historical, last year)." },
    { key: "max_drawdown", name: "Max drawdown", fmt: fmtPct,
      hint: "The deepest fall from a peak of the NAV since the first date." },
    { key: "sharpe", name: "Sharpe ratio", fmt: function (v) { return v.toFixed(2); },
      hint: "Return above the risk-free rate per unit of volatility, annualised." }
  ];

  function loadTailRisk(row) {
    fetch(api("/analytics/portfolio/" + encodeURIComponent(portfolioId) + "/overview"), { headers: authHeaders() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (o) {
        if (!o || !o.tail_risk) return;
        var dl = el("dl", "figures");
        dl.setAttribute("aria-label", "Risk on " + o.tail_risk.calculation_date);
        TAIL_FIGURES.forEach(function (f) {
          var v = o.tail_risk[f.key];
          dl.appendChild(el("dt", "", f.name));
          var dd = el("dd", "");
          dd.appendChild(el("strong", "figure-value", v == null ? "n/a (too little history)" : f.fmt(v)));
          dd.appendChild(el("span", "figure-hint", f.hint));
          dl.appendChild(dd);
        });
        row.appendChild(dl);
      })
      .catch(function () { /* no figures */ });
  }

  function showUnavailable() {
    stopAll();
    state.uiState = "";
    setState("unavailable");
  }

  // ---- actions ---------------------------------------------------------------------------
  $("btn-download").addEventListener("click", function () {
    var btn = this;
    btn.disabled = true;
    fetch(api("/onboarding/status/" + encodeURIComponent(portfolioId) + "/logs?format=txt"), { headers: authHeaders() })
      .then(function (r) {
        if (!r.ok) throw new Error("download failed: " + r.status);
        var cd = r.headers.get("Content-Disposition") || "";
        var m = /filename="([^"]+)"/.exec(cd);
        var name = m ? m[1] : "portfolio_setup_log_" + portfolioId + ".txt";
        return r.blob().then(function (b) { return { blob: b, name: name }; });
      })
      .then(function (f) {
        var url = URL.createObjectURL(f.blob);
        var a = document.createElement("a");
        a.href = url;
        a.download = f.name;
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        announce("Log downloaded.");
      })
      .catch(function (e) { announce(e.message); })
      .then(function () { btn.disabled = false; });
  });

  $("btn-retry").addEventListener("click", function () {
    var btn = this;
    btn.disabled = true;
    fetch(api("/onboarding/" + encodeURIComponent(portfolioId) + "/retry"), { method: "POST", headers: authHeaders() })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok || r.status === 409, body: b }; }); })
      .then(function (res) {
        if (!res.ok) throw new Error((res.body.error && res.body.error.message) || "retry failed");
        state.extrasFor = "";
        state.lastPhase = "";
        state.notFound = 0;
        announce("Retry started: attempt " + (res.body.attempt || "") + ".");
        start();
      })
      .catch(function (e) { announce(e.message); })
      .then(function () { btn.disabled = false; });
  });

  $("btn-refresh").addEventListener("click", function () {
    state.notFound = 0;
    state.uiState = "";
    setState("running");
    startPolling();
  });

  start();
})();
