// Omega Bot Farm dashboard: plain JavaScript, no build step. Talks to the same-origin API with
// the session cookie; unsafe requests echo the CSRF token (X-CSRF-Token) from the omega_csrf cookie.
// Charts: TradingView lightweight-charts, vendored in ./vendor (global LightweightCharts).
// Every number is shown at its market's precision (price_step / amount_step of /exchange/markets);
// money in the quote currency with two decimals. Pages are hash routes: #/farm, #/bot/ID,
// #/market, #/orders, #/feed, #/learn, #/learn/lesson/ID, #/learn/glossary/ID.
"use strict";

const $ = (sel) => document.querySelector(sel);
const LWC = () => window.LightweightCharts;
const state = { markets: {}, bots: {}, curves: {}, charts: {}, tickers: {}, events: [], prevState: {} };
const TF_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };

// ------------------------------------------------------------------ numbers
function decimalsOf(step) {
  if (step === null || step === undefined) return null;
  const s = String(step);
  if (/e-/i.test(s)) return Number(s.split(/e-/i)[1]);
  const n = Number(s);
  if (!(n > 0)) return null;
  if (n >= 1) return 0;
  const frac = s.includes(".") ? s.split(".")[1].replace(/0+$/, "") : "";
  return frac.length;
}
function fmt(value, decimals) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  const d = decimals === null || decimals === undefined ? 2 : decimals;
  return n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}
function priceDecimals(symbol, fallbackValue) {
  const m = state.markets[symbol];
  const d = m ? decimalsOf(m.price_step) : null;
  if (d !== null) return d;
  const v = Math.abs(Number(fallbackValue));
  return v >= 1000 ? 2 : v >= 1 ? 4 : 6;
}
function amountDecimals(symbol) {
  const m = state.markets[symbol];
  const d = m ? decimalsOf(m.amount_step) : null;
  return d === null ? 6 : d;
}
const price = (symbol, v) => fmt(v, priceDecimals(symbol, v));
const amount = (symbol, v) => fmt(v, amountDecimals(symbol));
const money = (v) => fmt(v, 2);
const pct = (v) => (v === null || v === undefined ? "–" : `${fmt(Number(v) * 100, 2)} %`);
const signed = (v, text) => `<span class="${Number(v) > 0 ? "up" : Number(v) < 0 ? "down" : ""}">${text}</span>`;
function when(ms) {
  if (!ms) return "–";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}
function clock(ms) { return new Date(Number(ms) || Date.now()).toISOString().slice(11, 19); }
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function quoteOf(symbol) { return String(symbol || "").split("/")[1]?.split(":")[0] || ""; }
function baseOf(symbol) { return String(symbol || "").split("/")[0] || ""; }

// ------------------------------------------------------------------ API
function csrf() {
  const m = document.cookie.match(/(?:^|; )omega_csrf=([0-9a-f]+)/);
  return m ? m[1] : "";
}
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  const res = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}
async function loadMarkets() {
  if (Object.keys(state.markets).length) return;
  try {
    for (const m of await api("GET", "/api/v1/exchange/markets")) state.markets[m.symbol] = m;
  } catch { /* shown as "–" precision fallbacks */ }
  const symbols = Object.keys(state.markets).sort();
  for (const sel of [$("#market-symbol"), $("#order-symbol")]) {
    if (!symbols.length) continue;
    const current = sel.value;
    sel.replaceChildren(...symbols.map((s) => new Option(s, s, false, s === current)));
  }
}

// ------------------------------------------------------------------ small builders
function card(label, value, sub, cls) {
  return `<div class="card ${cls || ""}"><div class="label">${esc(label)}</div><div class="value">${value}</div>${sub ? `<div class="sub">${sub}</div>` : ""}</div>`;
}
function cell(html, cls) { const td = document.createElement("td"); td.innerHTML = html; if (cls) td.className = cls; return td; }
function row(cells) { const tr = document.createElement("tr"); tr.append(...cells); return tr; }
function badge(text, cls) { return `<span class="badge ${esc(cls || text)}">${esc(text)}</span>`; }

function newChart(el, extra, decimals) {
  if (state.charts[el.id]) { state.charts[el.id].remove(); delete state.charts[el.id]; }
  el.replaceChildren();
  const chart = LWC().createChart(el, {
    autoSize: true,
    layout: { background: { color: "#ffffff" }, textColor: "#1c2430", attributionLogo: false },
    grid: { vertLines: { color: "#f0f2f5" }, horzLines: { color: "#f0f2f5" } },
    timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#d5dae0", rightOffset: 6 },
    rightPriceScale: { borderColor: "#d5dae0" },
    localization: { priceFormatter: (v) => fmt(v, decimals ?? 2) },
    ...(extra || {}),
  });
  state.charts[el.id] = chart;
  return chart;
}
function priceFormat(symbol, sample) {
  const d = priceDecimals(symbol, sample);
  return { type: "price", precision: d, minMove: Math.pow(10, -d) };
}
const candleData = (rows) => rows.map((r) => ({ time: Math.floor(r[0] / 1000), open: r[1], high: r[2], low: r[3], close: r[4] }));

// What each example strategy does, in one sentence, and the lesson that explains it: the feed
// and the bot page say why a bot traded, not only that it did.
const STRATEGIES = {
  sma_cross: ["buys when its fast moving average crosses above the slow one and sells when it crosses back", "moving-averages"],
  fib_retracement: ["buys the pull-back of a confirmed up-swing at a Fibonacci retracement, with a stop below the swing", "fibonacci-retracements"],
  harmonic_prz: ["buys inside the reversal zone of a forming bullish harmonic pattern", "harmonic-patterns-overview"],
  cycle_timing: ["buys near the trough of a strong dominant cycle and sells near its crest", "dominant-cycles"],
};
function strategyWhy(strategy) {
  const s = STRATEGIES[strategy];
  return s ? `${esc(strategy)} ${esc(s[0])} (<a href="#/learn/lesson/${s[1]}">lesson</a>)` : esc(strategy || "");
}

// ------------------------------------------------------------------ routing
const PAGES = ["login", "farm", "bot", "market", "orders", "feed", "learn"];
function route() {
  const parts = (location.hash || "#/farm").replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = PAGES.includes(parts[0]) && parts[0] !== "login" ? parts[0] : "farm";
  for (const id of PAGES) $(`#${id}`).hidden = id !== page;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === page || (page === "bot" && a.dataset.tab === "farm"));
  if (page === "farm") loadFarm();
  if (page === "bot") loadBot(parts[1]);
  if (page === "market") loadMarket();
  if (page === "orders") loadOrders();
  if (page === "feed") renderFeed();
  if (page === "learn" && parts[1]) openContent(parts[1], parts[2]);
}

// ------------------------------------------------------------------ farm overview
async function loadFarm() {
  await loadMarkets();
  let farm = null;
  try {
    farm = await api("GET", "/api/v1/bots/farm");
    const rows = await api("GET", "/api/v1/bots");
    for (const b of rows) state.bots[b.id] = b;
    const words = Object.entries(farm.states || {}).map(([k, v]) => `${v} ${k}`).join(", ");
    $("#farm-status").textContent = `${farm.bots} bots (${words || "none"}) on ${farm.workers ?? 0} worker${farm.workers === 1 ? "" : "s"}${farm.paused ? " — paused: Redis unreachable" : ""}${farm.gateway?.commands_waiting ? ` — ${farm.gateway.commands_waiting} command${farm.gateway.commands_waiting === 1 ? "" : "s"} waiting for the gateway` : ""}`;
    await Promise.all(rows.map((b) => loadCurve(b.id)));
  } catch (e) { $("#farm-status").textContent = e.message; }
  renderKpis();
  renderBots();
  try {
    const bal = await api("GET", "/api/v1/exchange/balance");
    const body = $("#balance tbody"); body.replaceChildren();
    for (const a of Object.values(bal.assets)) {
      const d = Object.values(state.markets).find((m) => m.base === a.currency);
      const dec = d ? decimalsOf(d.amount_step) : 2;
      body.append(row([cell(esc(a.currency)), cell(fmt(a.free, dec), "num"), cell(fmt(a.used, dec), "num"), cell(fmt(a.total, dec), "num")]));
    }
  } catch (e) { $("#balance tbody").replaceChildren(row([cell(esc(e.message))])); }
}
async function loadCurve(id) {
  try {
    const m = await api("GET", `/api/v1/bots/${encodeURIComponent(id)}/metrics`);
    state.curves[id] = m.equity_curve.rows.map((r) => [r[0], r[1]]);
    state.bots[id] = { ...state.bots[id], metrics: m };
  } catch { state.curves[id] = state.curves[id] || []; }
}
function renderKpis() {
  const bots = Object.values(state.bots);
  const equity = bots.reduce((s, b) => s + Number(b.equity ?? b.capital ?? 0), 0);
  const capital = bots.reduce((s, b) => s + Number(b.capital ?? 0), 0);
  const midnight = new Date(); midnight.setUTCHours(0, 0, 0, 0);
  let today = 0;
  for (const b of bots) {
    const curve = (state.curves[b.id] || []).filter((p) => p[0] >= midnight.getTime());
    const start = curve.length ? curve[0][1] : Number(b.capital ?? 0);
    today += Number(b.equity ?? start) - start;
  }
  const worstDd = bots.reduce((s, b) => Math.max(s, Number(b.max_drawdown ?? 0)), 0);
  const open = bots.reduce((s, b) => s + Number(b.open_orders ?? 0), 0);
  const states = {};
  for (const b of bots) states[b.state] = (states[b.state] || 0) + 1;
  $("#kpis").innerHTML = [
    card("Farm equity", `${money(equity)}`, `from ${money(capital)} capital`),
    card("PnL today (UTC)", signed(today, money(today)), `${pct(capital ? today / capital : 0)} of capital`),
    card("Worst drawdown", pct(worstDd), "largest fall from a bot's peak"),
    card("Open orders", String(open), "resting at the exchange"),
    card("Bots running", String(states.running || 0), `${states.halted || 0} halted · ${states.stopped || 0} stopped`, states.halted ? "warn" : ""),
  ].join("");
}
function renderBots() {
  const body = $("#bots tbody"); body.replaceChildren();
  for (const b of Object.values(state.bots).sort((x, y) => String(x.id).localeCompare(String(y.id)))) {
    const tr = document.createElement("tr"); tr.dataset.bot = b.id;
    fillBotRow(tr, b); body.append(tr);
  }
}
function fillBotRow(tr, b) {
  // cells are created once and only rewritten when their text changes (links stay clickable)
  const q = quoteOf(b.symbol);
  const html = [
    `<a href="#/bot/${encodeURIComponent(b.id)}">${esc(b.id)}</a>`,
    esc(b.strategy), esc(b.symbol),
    badge(b.state) + (b.halted ? ` <span class="muted">${esc(b.halted)}</span>` : ""),
    `${money(b.equity)} <span class="muted">${esc(q)}</span>`,
    signed(b.return, pct(b.return)),
    signed(b.realized_pnl, money(b.realized_pnl)),
    String(b.trades ?? 0),
  ];
  const fields = ["id", "strategy", "symbol", "state", "equity", "return", "realized_pnl", "trades"];
  if (!tr.children.length) {
    fields.forEach((f, i) => { const td = cell("", i >= 4 ? "num" : ""); td.dataset.field = f; tr.append(td); });
    const canvas = document.createElement("canvas"); canvas.className = "spark"; canvas.width = 160; canvas.height = 32;
    const td = document.createElement("td"); td.append(canvas); tr.append(td);
  }
  html.forEach((h, i) => { if (tr.children[i].innerHTML !== h) tr.children[i].innerHTML = h; });
  sparkline(tr.querySelector("canvas"), state.curves[b.id] || []);
}
function sparkline(canvas, points) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const ys = points.slice(-300).map((p) => p[1]);
  if (ys.length < 2) { ctx.fillStyle = "#9aa3ad"; ctx.font = "11px system-ui"; ctx.fillText("waiting for candles", 4, 20); return; }
  const lo = Math.min(...ys), hi = Math.max(...ys), pad = 3;
  const x = (i) => pad + (i / (ys.length - 1)) * (canvas.width - 2 * pad);
  const y = (v) => canvas.height - pad - ((v - lo) / (hi - lo || 1)) * (canvas.height - 2 * pad);
  ctx.strokeStyle = ys[ys.length - 1] >= ys[0] ? "#0a8f4a" : "#c62828"; ctx.lineWidth = 1.5;
  ctx.beginPath(); ys.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v)))); ctx.stroke();
}
function onBotEvent(ev) {
  if (ev.kind === "equity") {
    const c = (state.curves[ev.id] = state.curves[ev.id] || []);
    c.push([Number(ev.ts_ms), Number(ev.equity)]);
    if (c.length > 2000) c.splice(0, c.length - 2000);
    const tr = document.querySelector(`#bots tr[data-bot="${CSS.escape(String(ev.id))}"]`);
    if (tr) sparkline(tr.querySelector("canvas"), c);
    return;
  }
  if (ev.kind !== "status" || !ev.id) return;
  state.bots[ev.id] = { ...state.bots[ev.id], ...ev };
  const tr = document.querySelector(`#bots tr[data-bot="${CSS.escape(String(ev.id))}"]`);
  if (tr) fillBotRow(tr, state.bots[ev.id]);
  if (!$("#farm").hidden) renderKpis();
}

// ------------------------------------------------------------------ bot detail
async function loadBot(id) {
  await loadMarkets();
  $("#bot-title").textContent = id;
  try {
    const [status, metrics, trades] = await Promise.all([
      api("GET", `/api/v1/bots/${encodeURIComponent(id)}`),
      api("GET", `/api/v1/bots/${encodeURIComponent(id)}/metrics`),
      api("GET", `/api/v1/bots/${encodeURIComponent(id)}/trades`),
    ]);
    const sym = status.symbol, q = quoteOf(sym);
    renderBotActions(id, status);
    $("#bot-info").innerHTML = `${badge(status.state)} ${esc(status.strategy)} on ${esc(sym)}, ${esc(status.timeframe)} candles, capital ${money(status.capital)} ${esc(q)}, worker ${esc(status.worker || "none")}.<br>How it trades: ${strategyWhy(status.strategy)}.`;
    $("#bot-kpis").innerHTML = [
      card("Equity", `${money(metrics.equity)} ${esc(q)}`, `started with ${money(metrics.capital)}`),
      card("Return", signed(metrics.total_return, pct(metrics.total_return))),
      card("Net PnL", signed(Number(metrics.equity) - Number(metrics.capital), money(Number(metrics.equity) - Number(metrics.capital))), `realized ${money(metrics.realized_pnl)} − fees ${money(metrics.fees)}, open ${money(metrics.unrealized_pnl)}`),
      card("Position", `${amount(sym, metrics.position)} ${esc(baseOf(sym))}`),
      card("Trades", String(metrics.trades), `win rate ${metrics.win_rate === null ? "–" : pct(metrics.win_rate)}`),
      card("Max drawdown", pct(metrics.max_drawdown)),
      metrics.equity_curve.rows.length >= 100 && metrics.sharpe !== null
        ? card("Sharpe", fmt(metrics.sharpe, 2), "annualised")
        : card("Sharpe", "–", "after 100 candles: too few to mean anything"),
    ].join("");
    const eq = newChart($("#bot-equity"));
    const line = eq.addSeries(LWC().AreaSeries, { lineColor: "#1a4d99", topColor: "rgba(26,77,153,.25)", bottomColor: "rgba(26,77,153,0)", priceFormat: { type: "price", precision: 2, minMove: 0.01 } });
    line.setData(dedupe(metrics.equity_curve.rows.map((r) => ({ time: Math.floor(r[0] / 1000), value: r[1] }))));
    eq.timeScale().fitContent();
    const candles = await api("GET", `/api/v1/exchange/candles?symbol=${encodeURIComponent(sym)}&timeframe=${encodeURIComponent(status.timeframe)}&limit=500`);
    const chart = newChart($("#bot-candles"), null, priceDecimals(sym, candles.rows.at(-1)?.[4]));
    const series = chart.addSeries(LWC().CandlestickSeries, { priceFormat: priceFormat(sym, candles.rows.at(-1)?.[4]) });
    series.setData(candleData(candles.rows));
    const first = candles.rows.length ? candles.rows[0][0] : 0;
    const markers = [];
    for (const t of trades) {
      if (t.entry_ts_ms >= first) markers.push({ time: Math.floor(t.entry_ts_ms / 1000), position: t.side === "long" ? "belowBar" : "aboveBar", color: t.side === "long" ? "#0a8f4a" : "#c62828", shape: t.side === "long" ? "arrowUp" : "arrowDown", text: `${t.side} ${price(sym, t.entry_price)}` });
      if (t.exit_ts_ms && t.exit_ts_ms >= first) markers.push({ time: Math.floor(t.exit_ts_ms / 1000), position: "aboveBar", color: Number(t.pnl) >= 0 ? "#0a8f4a" : "#c62828", shape: "circle", text: `exit ${money(t.pnl)}` });
    }
    markers.sort((a, b) => a.time - b.time);
    markers.forEach((mk, i) => { if (i < markers.length - 6) mk.text = ""; }); // labels on the latest only
    LWC().createSeriesMarkers(series, markers);
    chart.timeScale().fitContent();
    const body = $("#bot-trades tbody"); body.replaceChildren();
    for (const t of trades.slice().reverse()) {
      body.append(row([cell(esc(t.side)), cell(when(t.entry_ts_ms)), cell(price(sym, t.entry_price), "num"), cell(amount(sym, t.amount), "num"),
        cell(t.exit_ts_ms ? when(t.exit_ts_ms) : "open"), cell(t.exit_price ? price(sym, t.exit_price) : "–", "num"), cell(money(t.fee), "num"), cell(signed(t.pnl, money(t.pnl)), "num")]));
    }
    if (!trades.length) body.append(row([cell('<span class="muted">no trades yet: the strategy has not entered a position</span>')]));
  } catch (e) { $("#bot-info").textContent = e.message; }
}
function renderBotActions(id, status) {
  const box = $("#bot-actions"); box.replaceChildren();
  if (!["trader", "admin"].includes(state.role)) return; // viewers only look
  const stopping = status.desired !== "stopped";
  const b = document.createElement("button");
  b.textContent = stopping ? "Stop this bot" : "Start this bot";
  b.title = stopping ? "its worker stops the strategy, saves its state and frees its lease" : "a worker picks it up within seconds";
  b.onclick = async () => {
    try { await api("POST", `/api/v1/bots/${encodeURIComponent(id)}/${stopping ? "stop" : "start"}`); loadBot(id); }
    catch (e) { box.append(Object.assign(document.createElement("span"), { className: "error", textContent: ` ${e.message}` })); }
  };
  box.append(b);
}
function dedupe(points) {
  const out = [];
  for (const p of points) { if (out.length && out[out.length - 1].time >= p.time) out[out.length - 1] = p; else out.push(p); }
  return out;
}

// ------------------------------------------------------------------ market
const FIB_COLORS = { 0: "#8a94a0", 0.236: "#f39c12", 0.382: "#e67e22", 0.5: "#9b59b6", 0.618: "#d35400", 0.786: "#c0392b", 1: "#8a94a0" };
const PATTERN_COLORS = ["#1a4d99", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#c0392b"];
async function loadMarket() {
  await loadMarkets();
  const form = new FormData($("#market-form"));
  const sym = form.get("symbol"), tf = form.get("timeframe"), limit = form.get("limit");
  const q = new URLSearchParams({ symbol: sym, timeframe: tf, limit });
  try {
    const t = await api("GET", `/api/v1/exchange/ticker?symbol=${encodeURIComponent(sym)}`);
    $("#ticker").innerHTML = [
      card(`${sym} last`, price(sym, t.last), `${when(t.timestamp_ms)}`),
      card("Bid / ask", `${price(sym, t.bid)} / ${price(sym, t.ask)}`, `spread ${price(sym, Number(t.ask) - Number(t.bid))}`),
      card("24 h change", signed(t.percentage, `${fmt(t.percentage, 2)} %`), `${price(sym, t.change)} ${esc(quoteOf(sym))}`),
      card("24 h range", `${price(sym, t.low)} – ${price(sym, t.high)}`),
    ].join("");
    const candles = await api("GET", `/api/v1/exchange/candles?${q}`);
    const chart = newChart($("#chart"), null, priceDecimals(sym, t.last));
    const series = chart.addSeries(LWC().CandlestickSeries, { priceFormat: priceFormat(sym, t.last) });
    series.setData(candleData(candles.rows));
    chart.timeScale().fitContent();
    const [fib, pats, cyc] = await Promise.allSettled([
      api("GET", `/api/v1/analysis/fibonacci?${q}`), api("GET", `/api/v1/analysis/patterns?${q}`), api("GET", `/api/v1/analysis/cycles?${q}`),
    ]);
    drawFibonacci(series, sym, fib);
    drawPatterns(chart, sym, tf, pats);
    showCycles(tf, cyc);
  } catch (e) { $("#ticker").innerHTML = card("Market", esc(e.message)); }
}
function drawFibonacci(series, sym, res) {
  const body = $("#fib-levels tbody"); body.replaceChildren();
  if (res.status !== "fulfilled") { $("#fib-summary").textContent = res.reason.message; return; }
  const swing = res.value.result.last_swing;
  if (!swing) { $("#fib-summary").textContent = "No confirmed swing yet: levels appear once the zig-zag confirms one."; return; }
  const dir = swing.end > swing.start ? "up" : "down";
  $("#fib-summary").textContent = `Last swing ${dir} from ${price(sym, swing.start)} to ${price(sym, swing.end)}; retracements measure how far price has given it back.`;
  for (const lv of swing.retracements) {
    const label = `${fmt(lv.ratio * 100, 1)} %`;
    series.createPriceLine({ price: lv.price, color: FIB_COLORS[lv.ratio] || "#f0b90b", lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title: `Fib ${label}` });
    body.append(row([cell(`Fib ${label}`), cell(price(sym, lv.price), "num")]));
  }
}
function drawPatterns(chart, sym, tf, res) {
  const body = $("#patterns tbody"); body.replaceChildren();
  if (res.status !== "fulfilled") { body.append(row([cell(esc(res.reason.message))])); return; }
  const r = res.value, tfS = TF_S[tf] || 60, lastS = Math.floor(r.last_ts_ms / 1000), n = r.candles;
  const all = [...r.result.completed.slice(-2), ...r.result.forming.slice(0, 1)]; // the latest: a readable chart
  all.forEach((p, k) => {
    const color = PATTERN_COLORS[k % PATTERN_COLORS.length];
    const points = [];
    p.bars.forEach((bar, i) => {
      if (bar >= 0 && p.prices[i] !== null) points.push({ time: lastS - (n - 1 - bar) * tfS, value: p.prices[i] });
    });
    if (points.length >= 2) {
      const line = chart.addSeries(LWC().LineSeries, { color, lineWidth: 2, lineStyle: p.status === "forming" ? 1 : 0, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false, priceFormat: priceFormat(sym, points[0].value) });
      line.setData(dedupe(points));
      LWC().createSeriesMarkers(line, points.map((pt, i) => ({ time: pt.time, position: "inBar", color, shape: "circle", size: 0.5, text: i === 0 ? `${p.label} X` : "XABCD"[i] })));
    }
    const prz = p.prz ? `${price(sym, p.prz[0])} – ${price(sym, p.prz[1])}` : "–";
    body.append(row([cell(`<span>■</span> ${esc(p.label)}`), cell(esc(p.direction)), cell(esc(p.status)), cell(fmt(p.score * 100, 0) + " %", "num"), cell(prz, "num")]));
    body.lastChild.firstChild.firstChild.style.color = color;
  });
  if (!all.length) body.append(row([cell('<span class="muted">no harmonic pattern in this window</span>')]));
}
function showCycles(tf, res) {
  const body = $("#cycle-peaks tbody"); body.replaceChildren();
  if (res.status !== "fulfilled") { $("#cycle-verdict").textContent = res.reason.message; return; }
  const c = res.value.result, tfS = TF_S[tf] || 60;
  const dur = (bars) => { const s = bars * tfS; return s >= 86400 ? `${fmt(s / 86400, 1)} days` : s >= 3600 ? `${fmt(s / 3600, 1)} hours` : `${fmt(s / 60, 0)} minutes`; };
  $("#cycle-verdict").innerHTML = c.significant
    ? `<strong>Significant cycle</strong> of ${fmt(c.dominant_period, 1)} bars (${dur(c.dominant_period)}), p = ${fmt(c.p_value, 3)} against red noise.`
    : `<strong>No significant cycle</strong>: the strongest period, ${c.dominant_period ? `${fmt(c.dominant_period, 1)} bars (${dur(c.dominant_period)})` : "none"}, is what red noise gives ${c.p_value === null ? "" : `${fmt(c.p_value * 100, 0)} % of the time`}. Do not time trades on it.`;
  for (const p of c.peaks || []) body.append(row([cell(`${fmt(p.period, 1)} bars (${dur(p.period)})`, "num"), cell(`${fmt(p.power_ratio, 2)} ×`, "num"), cell(fmt(p.p_value, 3), "num")]));
}

// ------------------------------------------------------------------ orders
async function suggestOrder() {
  const form = $("#order-form"), sym = form.symbol.value, m = state.markets[sym];
  try {
    const t = await api("GET", `/api/v1/exchange/ticker?symbol=${encodeURIComponent(sym)}`);
    const dp = priceDecimals(sym, t.last);
    const side = form.side.value;
    const ref = Number(side === "buy" ? t.bid || t.last : t.ask || t.last);
    const away = side === "buy" ? ref * 0.995 : ref * 1.005; // 0.5 % away from the market: rests in the book
    form.price.value = away.toFixed(dp);
    const da = amountDecimals(sym);
    const step = m ? Number(m.amount_step) : Math.pow(10, -da);
    const minCost = m && m.min_cost ? Number(m.min_cost) : 5;
    const target = Math.max(minCost * 4, 20) / away; // about 20 quote units: small, above the minimum cost
    const amt = Math.max(Math.ceil(target / step) * step, m && m.min_amount ? Number(m.min_amount) : 0);
    form.amount.value = amt.toFixed(da);
    $("#order-hint").textContent = `${sym} last ${price(sym, t.last)} (bid ${price(sym, t.bid)}, ask ${price(sym, t.ask)}). Suggested: a ${side} limit 0.5 % ${side === "buy" ? "below" : "above"} the market, ${amount(sym, amt)} ${baseOf(sym)} ≈ ${money(amt * away)} ${quoteOf(sym)}.`;
  } catch (e) { $("#order-hint").textContent = e.message; }
}
async function loadOrders() {
  await loadMarkets();
  if (!$("#order-form").price.value) await suggestOrder();
  const body = $("#order-list tbody");
  try {
    const orders = await api("GET", "/api/v1/exchange/orders?limit=50");
    body.replaceChildren();
    for (const o of orders.reverse()) {
      const tr = row([cell(when(o.timestamp_ms)), cell(esc(o.symbol)), cell(esc(o.side)), cell(esc(o.type)), cell(o.price === null ? "market" : price(o.symbol, o.price), "num"),
        cell(amount(o.symbol, o.amount), "num"), cell(amount(o.symbol, o.filled), "num"), cell(badge(o.status, o.status === "open" ? "running" : ""))]);
      const td = document.createElement("td");
      if (o.status === "open") {
        const b = document.createElement("button");
        b.textContent = "Cancel";
        b.onclick = async () => {
          try { await api("DELETE", `/api/v1/exchange/orders/${encodeURIComponent(o.id)}?symbol=${encodeURIComponent(o.symbol)}`); }
          catch (e) { $("#order-error").textContent = e.message; }
          loadOrders();
        };
        td.append(b);
      }
      tr.append(td); body.append(tr);
    }
  } catch (e) { $("#order-error").textContent = e.message; }
}

// ------------------------------------------------------------------ live feed
function connectFeed() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { $("#conn").className = "conn up"; $("#conn").title = "live feed connected"; };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data), d = msg.data || {};
    if (msg.channel === "tickers") { state.tickers[d.symbol] = d; renderTickers(); return; }
    if (msg.channel === "bots") {
      onBotEvent(d);
      if (d.kind !== "status") return;
      const before = state.prevState[d.id];
      state.prevState[d.id] = d.state;
      if (before === d.state) return; // refreshed numbers, not an event for people
      addEvent("bots", d.id, `${esc(d.id)} is ${badge(d.state)}${before ? ` (was ${esc(before)})` : ""}${d.halted ? `: ${esc(d.halted)}` : ""}`, d.symbol);
      return;
    }
    if (msg.channel === "orders") {
      const sym = d.symbol, what = d.price === null || d.price === undefined ? "at market" : `@ ${price(sym, d.price)}`;
      const filled = Number(d.filled) > 0 ? `, filled ${amount(sym, d.filled)}` : "";
      const bot = state.bots[d.bot_id];
      const why = d.status === "open" && bot ? `<br><span class="muted">Why: ${strategyWhy(bot.strategy)}.</span>` : "";
      addEvent("orders", d.bot_id, `${esc(d.side)} ${esc(d.type)} ${amount(sym, d.amount)} ${esc(sym)} ${what} — ${badge(d.status, d.status === "closed" ? "running" : "")}${filled}${d.reason ? ` (${esc(d.reason)})` : ""}${why}`, sym);
    }
  };
  ws.onclose = (ev) => {
    $("#conn").className = "conn down"; $("#conn").title = "live feed disconnected";
    if (ev.code !== 1008) setTimeout(connectFeed, 3000);
  };
}
function addEvent(kind, bot, html, symbol) {
  state.events.unshift({ at: Date.now(), kind, bot: bot || "", html, symbol: symbol || "" });
  if (state.events.length > 1000) state.events.length = 1000;
  if (!$("#feed").hidden) renderFeed();
}
function renderTickers() {
  if ($("#feed").hidden) return;
  $("#tickers").innerHTML = Object.values(state.tickers).sort((a, b) => String(a.symbol).localeCompare(String(b.symbol)))
    .map((t) => card(t.symbol, price(t.symbol, t.last), t.percentage !== undefined && t.percentage !== null ? signed(t.percentage, `${fmt(t.percentage, 2)} % 24 h`) : `updated ${clock(t.ts_ms || t.timestamp_ms)}`)).join("") || '<span class="muted">waiting for tickers…</span>';
}
function renderFeed() {
  renderTickers();
  const f = new FormData($("#feed-filter")), kind = f.get("kind"), text = String(f.get("text") || "").toLowerCase();
  const shown = state.events.filter((e) => (!kind || e.kind === kind) && (!text || e.bot.toLowerCase().includes(text) || e.symbol.toLowerCase().includes(text)));
  const body = $("#events tbody");
  body.replaceChildren(...shown.slice(0, 300).map((e) => row([cell(clock(e.at)), cell(badge(e.kind)), cell(esc(e.bot)), cell(e.html)])));
  if (!shown.length) body.append(row([cell('<span class="muted">no events yet: orders and bot state changes appear here as they happen</span>')]));
  $("#feed-count").textContent = `${shown.length} of ${state.events.length} events`;
}

// ------------------------------------------------------------------ learn
async function openContent(kind, id) {
  const path = kind === "glossary" ? `/api/v1/education/html/glossary/${encodeURIComponent(id)}` : `/api/v1/education/html/lessons/${encodeURIComponent(id)}`;
  try {
    const c = await api("GET", path);
    const meta = c.kind === "lesson" ? `<p class="muted">${esc(c.category)} · ${esc(c.difficulty)} · ${c.minutes} min${c.prerequisites.length ? " · after " + c.prerequisites.map((p) => `<a href="#/learn/lesson/${encodeURIComponent(p)}">${esc(p)}</a>`).join(", ") : ""}</p>` : '<p class="muted">glossary</p>';
    $("#lesson").innerHTML = `<h2>${esc(c.title)}</h2>${meta}${c.html}`; // html: rendered and sanitised on the server
  } catch (e) { $("#lesson").textContent = e.message; }
}

// ------------------------------------------------------------------ start
async function start() {
  try {
    const me = await api("GET", "/api/v1/auth/me");
    $("#who").textContent = `${me.user} (${me.role})`;
    state.role = me.role;
    api("GET", "/api/v1/bots").then((rows) => { for (const b of rows) state.bots[b.id] = { ...b, ...state.bots[b.id] }; }).catch(() => {});
    $("#tabs").hidden = false; $("#logout").hidden = false;
    await loadMarkets(); // precision first: the feed formats amounts and prices with it
    route();
    connectFeed();
  } catch {
    for (const id of PAGES) $(`#${id}`).hidden = id !== "login";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    try {
      await api("POST", "/api/v1/auth/login", { user: form.get("user"), password: form.get("password") });
      ev.target.reset(); start();
    } catch (e) { $("#login-error").textContent = e.message; }
  };
  $("#logout").onclick = async () => { await api("POST", "/api/v1/auth/logout").catch(() => {}); location.reload(); };
  window.addEventListener("hashchange", () => { if (!$("#tabs").hidden) route(); });
  $("#market-form").onsubmit = (ev) => { ev.preventDefault(); loadMarket(); };
  $("#order-form").symbol.onchange = suggestOrder;
  $("#order-form").side.onchange = suggestOrder;
  $("#order-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const order = { symbol: f.get("symbol"), side: f.get("side"), type: f.get("type"), amount: f.get("amount") };
    if (f.get("type") === "limit") order.price = f.get("price");
    try { await api("POST", "/api/v1/exchange/orders", order); $("#order-error").textContent = ""; }
    catch (e) { $("#order-error").textContent = e.message; }
    loadOrders();
  };
  $("#feed-filter").oninput = renderFeed;
  $("#feed-filter").onchange = renderFeed;
  $("#feed-filter").onsubmit = (ev) => ev.preventDefault();
  $("#search-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const q = new FormData(ev.target).get("q");
    try {
      const found = await api("GET", `/api/v1/education/search?q=${encodeURIComponent(q)}&kind=lesson`);
      const list = $("#hits"); list.replaceChildren();
      for (const hit of found.hits) {
        const li = document.createElement("li");
        li.innerHTML = `<a href="#/learn/lesson/${encodeURIComponent(hit.id)}">${esc(hit.title)}</a> <span class="muted">${esc(hit.difficulty || "")}</span>`;
        list.append(li);
      }
      if (!found.hits.length) list.innerHTML = '<li class="muted">nothing found</li>';
    } catch (e) { $("#hits").textContent = e.message; }
  };
  start();
});
