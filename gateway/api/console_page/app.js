// The console page: reads /console/feed (an event stream) with fetch(), so that it can send the
// admin token, and shows it. Every value from the feed is set with textContent, never as markup:
// model names and providers are the callers' text.
"use strict";

const TOKEN_KEY = "gateway-console-token";
const RETRY_MS = 2000;
const MAX_ROWS = 100;
const $ = (id) => document.getElementById(id);

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
}

function cell(row, value, className) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : String(value);
  if (className) td.className = className;
  row.appendChild(td);
}

function fillTable(id, items, columns) {
  const body = $(id);
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    for (const column of columns) cell(tr, column(item));
    return tr;
  });
  body.replaceChildren(...rows);
}

const money = (cost) => (cost === null || cost === undefined ? null : cost.toFixed(6));
const triple = (p) => (p ? `${p.p50} / ${p.p95} / ${p.p99}` : "–");

function showSnapshot(s) {
  $("pid").textContent = String(s.pid);
  $("window").textContent = String(Math.round(s.window_seconds / 60));
  $("requests").textContent = String(s.requests);
  const last10 = s.requests_per_second.slice(-10).reduce((a, b) => a + b, 0);
  $("rate").textContent = (last10 / 10).toFixed(1);
  $("errors").textContent = String(s.errors);
  $("in-flight").textContent = String(s.in_flight);
  $("open-streams").textContent = String(s.open_streams);
  $("realtime").textContent = String(s.realtime_sessions);
  $("duration").textContent = triple(s.latency_ms.duration);
  $("first-token").textContent = triple(s.latency_ms.first_token);
  fillTable("errors-by-provider", Object.entries(s.errors_by_provider), [(e) => e[0], (e) => e[1]]);
  fillTable("models", s.models, [
    (m) => m.model, (m) => m.requests, (m) => m.input_tokens, (m) => m.output_tokens, (m) => money(m.cost),
  ]);
  fillTable("breakers", s.breakers, [
    (b) => b.provider, (b) => b.model, (b) => b.base_url, (b) => b.state, (b) => b.error_rate, (b) => b.in_flight,
  ]);
  for (const tr of $("breakers").children) tr.children[3].className = tr.children[3].textContent;
  drawChart(s.requests_per_second, s.errors_per_second);
  if (s.recent) {
    $("recent").replaceChildren();
    for (const row of s.recent) addRequest(row);
  }
}

function addRequest(r) {
  const tr = document.createElement("tr");
  if (r.status >= 500 || r.status === 429 || r.outcome === "upstream_error") tr.className = "error";
  cell(tr, new Date(r.time * 1000).toLocaleTimeString());
  cell(tr, r.provider);
  cell(tr, r.model);
  cell(tr, r.family);
  cell(tr, r.status);
  cell(tr, r.outcome);
  cell(tr, r.duration_ms);
  cell(tr, r.first_token_ms);
  cell(tr, `${r.input_tokens ?? "–"} / ${r.output_tokens ?? "–"}`);
  cell(tr, money(r.cost));
  const body = $("recent");
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
}

function drawChart(requests, errors) {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1, ...requests);
  const step = width / requests.length;
  const bars = (values, color) => {
    ctx.fillStyle = color;
    values.forEach((v, i) => {
      const h = (v / top) * (height - 16);
      ctx.fillRect(i * step, height - h, Math.max(step - 1, 1), h);
    });
  };
  bars(requests, "#5b8def");
  bars(errors, "#d9433a");
  ctx.fillStyle = "#5b6575";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(`max ${top}/s`, 4, 12);
}

function handle(block) {
  let event = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;
  const value = JSON.parse(data);
  if (event === "snapshot") showSnapshot(value);
  else if (event === "request") addRequest(value);
}

function askToken(message) {
  setStatus("admin token needed", "down");
  $("token-note").textContent = message;
  $("token-form").hidden = false;
  $("token").focus();
}

async function connect() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let response;
  try {
    response = await fetch("/console/feed", { headers, cache: "no-store" });
  } catch (error) {
    return retry("gateway unreachable");
  }
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => null);
    return askToken(body && body.error ? body.error.message : `HTTP ${response.status}`);
  }
  if (!response.ok) return retry(`feed refused: HTTP ${response.status}`);
  setStatus("live", "live");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handle(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    // the connection broke: reconnect below
  }
  retry("feed ended");
}

function retry(reason) {
  setStatus(`${reason}; reconnecting`, "down");
  setTimeout(connect, RETRY_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    $("token-form").hidden = true;
    connect();
  });
  connect();
});
