// Omega Bot Farm dashboard: plain JavaScript, no build step. Talks to the same-origin API with
// the session cookie; unsafe requests echo the CSRF token (X-CSRF-Token) from the omega_csrf cookie.
"use strict";

const $ = (sel) => document.querySelector(sel);

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

function show(tab) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  if (tab === "overview") loadOverview();
  if (tab === "market") loadMarket();
  if (tab === "orders") loadOrders();
}

function text(el, value) { el.textContent = value; }

async function loadOverview() {
  try {
    const farm = await api("GET", "/api/v1/bots/farm");
    text($("#farm-status"), JSON.stringify(farm));
    const bots = await api("GET", "/api/v1/bots");
    $("#bots tbody").replaceChildren();
    for (const bot of Array.isArray(bots) ? bots : Object.values(bots)) renderBot(bot, true);
  } catch (e) { text($("#farm-status"), e.message); }
  try { text($("#balance"), JSON.stringify((await api("GET", "/api/v1/exchange/balance")).assets, null, 1)); }
  catch (e) { text($("#balance"), e.message); }
}

// One row per bot; live "bots" events (status and equity samples) update the cells they carry.
function renderBot(bot, create) {
  let tr = document.querySelector(`#bots tr[data-bot="${CSS.escape(String(bot.id))}"]`);
  if (!tr) {
    if (!create) return;
    tr = document.createElement("tr"); tr.dataset.bot = bot.id;
    for (const field of ["id", "state", "equity", "realized_pnl"]) {
      const td = document.createElement("td"); td.dataset.field = field; tr.append(td);
    }
    $("#bots tbody").append(tr);
  }
  for (const td of tr.children) {
    if (td.dataset.field in bot) td.textContent = bot[td.dataset.field] ?? "";
  }
}

function drawChart(rows, levels) {
  const canvas = $("#chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!rows.length) return;
  const prices = rows.flatMap((r) => [r[2], r[3]]).concat(levels);
  const lo = Math.min(...prices), hi = Math.max(...prices), pad = 20;
  const y = (p) => pad + (hi - p) / (hi - lo || 1) * (canvas.height - 2 * pad);
  const w = (canvas.width - 2 * pad) / rows.length;
  rows.forEach((r, i) => {
    const [, open, high, low, close] = r, x = pad + i * w + w / 2;
    ctx.strokeStyle = ctx.fillStyle = close >= open ? "#0a8f4a" : "#c62828";
    ctx.beginPath(); ctx.moveTo(x, y(high)); ctx.lineTo(x, y(low)); ctx.stroke();
    ctx.fillRect(x - w * 0.35, y(Math.max(open, close)), w * 0.7, Math.max(1, Math.abs(y(open) - y(close))));
  });
  ctx.setLineDash([4, 4]); ctx.strokeStyle = "#f0b90b";
  for (const level of levels) {
    ctx.beginPath(); ctx.moveTo(pad, y(level)); ctx.lineTo(canvas.width - pad, y(level)); ctx.stroke();
  }
  ctx.setLineDash([]);
}

async function loadMarket() {
  const form = new FormData($("#market-form"));
  const q = new URLSearchParams({ symbol: form.get("symbol"), timeframe: form.get("timeframe"), limit: "200" });
  try {
    const t = await api("GET", `/api/v1/exchange/ticker?symbol=${encodeURIComponent(form.get("symbol"))}`);
    text($("#ticker"), `${t.symbol}  last ${t.last}  bid ${t.bid}  ask ${t.ask}`);
    const candles = await api("GET", `/api/v1/exchange/candles?${q}`);
    let levels = [];
    try {
      const fib = await api("GET", `/api/v1/analysis/fibonacci?${q}`);
      const swing = fib.result.last_swing;
      levels = swing ? swing.retracements.map((l) => l.price) : [];
      text($("#analysis"), swing ? `last swing ${swing.start} → ${swing.end}` : "no confirmed swing yet");
    } catch (e) { text($("#analysis"), e.message); }
    drawChart(candles.rows, levels);
  } catch (e) { text($("#ticker"), e.message); }
}

async function loadOrders() {
  const body = $("#order-list tbody");
  try {
    const orders = await api("GET", "/api/v1/exchange/orders?limit=50");
    body.replaceChildren();
    for (const o of orders.reverse()) {
      const tr = document.createElement("tr");
      for (const v of [o.id, o.symbol, o.side, o.price, o.amount, o.status]) {
        const td = document.createElement("td"); td.textContent = v ?? ""; tr.append(td);
      }
      const td = document.createElement("td");
      if (o.status === "open") {
        const b = document.createElement("button");
        b.textContent = "Cancel";
        b.onclick = async () => {
          try { await api("DELETE", `/api/v1/exchange/orders/${encodeURIComponent(o.id)}?symbol=${encodeURIComponent(o.symbol)}`); }
          catch (e) { text($("#order-error"), e.message); }
          loadOrders();
        };
        td.append(b);
      }
      tr.append(td); body.append(tr);
    }
  } catch (e) { text($("#order-error"), e.message); }
}

function connectFeed() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.channel === "bots" && msg.data && msg.data.id) renderBot(msg.data, msg.data.kind === "status");
    const li = document.createElement("li");
    li.textContent = ev.data.slice(0, 300);
    $("#events").prepend(li);
    while ($("#events").children.length > 100) $("#events").lastChild.remove();
  };
  ws.onclose = (ev) => { if (ev.code !== 1008) setTimeout(connectFeed, 3000); };
}

async function start() {
  try {
    const me = await api("GET", "/api/v1/auth/me");
    text($("#who"), `${me.user} (${me.role})`);
    $("#tabs").hidden = false; $("#logout").hidden = false;
    show("overview");
    connectFeed();
  } catch { show("login"); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const form = new FormData(ev.target);
    try {
      await api("POST", "/api/v1/auth/login", { user: form.get("user"), password: form.get("password") });
      ev.target.reset(); start();
    } catch (e) { text($("#login-error"), e.message); }
  };
  $("#logout").onclick = async () => { await api("POST", "/api/v1/auth/logout").catch(() => {}); location.reload(); };
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => show(b.dataset.tab);
  $("#market-form").onsubmit = (ev) => { ev.preventDefault(); loadMarket(); };
  $("#order-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const order = { symbol: f.get("symbol"), side: f.get("side"), type: f.get("type"), amount: f.get("amount") };
    if (f.get("type") === "limit") order.price = f.get("price");
    try { await api("POST", "/api/v1/exchange/orders", order); text($("#order-error"), ""); }
    catch (e) { text($("#order-error"), e.message); }
    loadOrders();
  };
  $("#search-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const q = new FormData(ev.target).get("q");
    const found = await api("GET", `/api/v1/education/search?q=${encodeURIComponent(q)}&kind=lesson`);
    const list = $("#hits"); list.replaceChildren();
    for (const hit of found.hits) {
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = "#"; a.textContent = hit.title;
      a.onclick = async (e) => {
        e.preventDefault();
        const lesson = await api("GET", `/api/v1/education/lessons/${encodeURIComponent(hit.id)}`);
        text($("#lesson"), `${lesson.title}\n\n${lesson.body}`);
      };
      li.append(a); list.append(li);
    }
  };
  start();
});
