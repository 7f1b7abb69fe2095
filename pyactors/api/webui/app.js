// The pyactors web UI: draws the leading master's HTTP API every two seconds.
// Everything taken from the state is set as text (textContent, attribute
// values through the DOM, never innerHTML), so names, ids and labels cannot
// become markup. Paths are relative to the page, so a proxy may mount it
// under a prefix.
//
// A master with credentials answers 401: the page then shows its sign-in
// form, trades the principal and secret (HTTP Basic, once) for a bearer
// token at auth/token, or takes a token as given, and keeps the token in
// sessionStorage (this tab only, gone when it closes; never the secret).
// Every request says X-Requested-With, so that the master challenges with
// Bearer and the browser never opens its own password dialog.
"use strict";

const POLL_MS = 2000;
const REQUEST_TIMEOUT_MS = 10000;
const PAGE_SIZE = 50;
const STATES = [
  "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
  "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
  "TASK_LOST", "TASK_DROPPED", "TASK_UNREACHABLE", "TASK_GONE",
];
const LIVE_STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"];
const RESOURCES = [
  { name: "cpus", label: "CPUs", format: formatNumber },
  { name: "mem", label: "Memory", format: formatMegabytes },
  { name: "disk", label: "Disk", format: formatMegabytes },
];
const PALETTE = [
  "#2f6fb3", "#e07b24", "#3a9b5c", "#c0392b", "#8e5fb8",
  "#8c6d46", "#d35d9e", "#6b7b8c", "#a8a424", "#1fa3b3",
];
const SVG_NS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "pyactors.token";

const view = { state: "", framework: "", page: 0 };
const colors = new Map();
let timer = null;
let inFlight = false;
let again = false;

// ------------------------------------------------------------------ helpers

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function formatNumber(value) {
  const number = Number(value) || 0;
  return Number.isInteger(number) ? String(number) : number.toFixed(2).replace(/\.?0+$/, "");
}

function formatMegabytes(value) {
  const mb = Number(value) || 0;
  if (mb >= 1024 * 1024) return `${formatNumber(mb / (1024 * 1024))} TB`;
  if (mb >= 1024) return `${formatNumber(mb / 1024)} GB`;
  return `${formatNumber(mb)} MB`;
}

function formatPercent(fraction) {
  const percent = 100 * (Number(fraction) || 0);
  return `${percent < 10 ? Math.round(percent * 10) / 10 : Math.round(percent)}%`;
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s / 60}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function formatTime(epochSeconds) {
  if (!epochSeconds) return "";
  const date = new Date(epochSeconds * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function shortState(state) {
  return String(state).replace(/^TASK_/, "").toLowerCase();
}

function stateClass(state) {
  return `state state-${shortState(state).replace(/[^a-z]/g, "")}`;
}

function colorOf(frameworkId) {
  if (!colors.has(frameworkId)) colors.set(frameworkId, PALETTE[colors.size % PALETTE.length]);
  return colors.get(frameworkId);
}

function count(counts, states) {
  return states.reduce((sum, state) => sum + (Number(counts[state]) || 0), 0);
}

// A bar of `used` (and, lighter, `offered`) out of `total`, with its numbers.
function bar(used, offered, total, format) {
  const share = (value) => (total > 0 ? Math.min(100, (100 * value) / total) : 0);
  const usedPart = el("span", { class: "used", style: { width: `${share(used)}%` } });
  const offeredPart = el("span", { class: "offered", style: { width: `${share(offered)}%` } });
  const title = `${format(used)} used, ${format(offered)} offered, of ${format(total)}`;
  return el(
    "div",
    { class: "meter", title },
    el("div", { class: "bar" }, usedPart, offeredPart),
    el("span", { class: "figures" }, `${format(used)} / ${format(total)}`),
  );
}

// ------------------------------------------------------------------ fetching

// The master wants credentials: the sign-in form is shown.
class SignInNeeded extends Error {}

function requestHeaders() {
  const headers = { "X-Requested-With": "pyactors-webui" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

async function getJSON(path) {
  const controller = new AbortController();
  const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(path, {
      signal: controller.signal,
      cache: "no-store",
      headers: requestHeaders(),
    });
    if (response.status === 401) throw new SignInNeeded("this master requires credentials");
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.message ? body.message : response.statusText;
      throw new Error(`${path}: ${response.status} ${message}`);
    }
    return body;
  } catch (error) {
    if (error.name === "AbortError") throw new Error(`${path}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw error;
  } finally {
    clearTimeout(timeout);
  }
}

function tasksPath() {
  const query = new URLSearchParams({ limit: PAGE_SIZE, offset: view.page * PAGE_SIZE, order: "des" });
  if (view.state) query.set("state", view.state);
  if (view.framework) query.set("framework_id", view.framework);
  return `master/tasks?${query}`;
}

async function refresh() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  clearTimeout(timer);
  let signInWanted = false;
  try {
    const [stateSummary, metrics, shares, tasks] = await Promise.all([
      getJSON("master/state-summary"),
      getJSON("metrics/snapshot"),
      getJSON("master/shares"),
      getJSON(tasksPath()),
    ]);
    // A view changed meanwhile asks again at once: draw only the answer to it.
    if (!again) render(stateSummary, metrics, shares, tasks);
    document.getElementById("problem").hidden = true;
    setStatus("live", `live · updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof SignInNeeded) {
      signInWanted = true;
    } else {
      const problem = document.getElementById("problem");
      problem.textContent = `Cannot read the master's state (${error.message}); retrying.`;
      problem.hidden = false;
      setStatus("offline", "offline");
    }
  } finally {
    inFlight = false;
    if (signInWanted) {
      // No polling until signed in.
      again = false;
      askToSignIn(sessionStorage.getItem(TOKEN_KEY) ? "Your sign-in has expired: sign in again." : "");
    } else if (again) {
      again = false;
      refresh();
    } else {
      timer = setTimeout(refresh, POLL_MS);
    }
  }
}

function setStatus(kind, text) {
  const status = document.getElementById("status");
  status.className = `status status-${kind}`;
  status.textContent = text;
}

// ------------------------------------------------------------------ drawing

function render(stateSummary, metrics, shares, tasks) {
  const frameworks = stateSummary.frameworks || [];
  const agents = stateSummary.slaves || [];
  document.getElementById("master").textContent =
    `master ${stateSummary.hostname || ""} · up ${formatDuration(metrics["master/uptime_secs"])}`;
  renderTotals(agents, frameworks, metrics);
  renderAgents(agents);
  const latest = latestShares(shares);
  renderChart(shares);
  renderFrameworks(frameworks, latest);
  renderFilters(frameworks);
  renderTasks(tasks.tasks || [], frameworks);
}

function renderTotals(agents, frameworks, metrics) {
  const byState = {};
  for (const framework of frameworks) {
    for (const state of STATES) byState[state] = (byState[state] || 0) + (Number(framework[state]) || 0);
  }
  const active = agents.filter((agent) => agent.active).length;
  const connected = frameworks.filter((framework) => framework.connected).length;
  const chips = STATES.filter((state) => byState[state] > 0).map((state) =>
    el(
      "button",
      { type: "button", class: `chip ${stateClass(state)}`, data: { state }, title: `Show ${state} tasks` },
      `${shortState(state)} `,
      el("b", {}, byState[state]),
    ),
  );
  const cards = [
    el("div", { class: "card", id: "total-agents" },
      el("h3", {}, "Agents"),
      el("div", { class: "big" }, active),
      el("div", { class: "muted" }, agents.length > active ? `${agents.length - active} unreachable` : "all reachable")),
    el("div", { class: "card", id: "total-frameworks" },
      el("h3", {}, "Frameworks"),
      el("div", { class: "big" }, connected),
      el("div", { class: "muted" }, frameworks.length > connected ? `${frameworks.length - connected} disconnected` : "all connected")),
    el("div", { class: "card", id: "total-tasks" },
      el("h3", {}, "Tasks"),
      el("div", { class: "big" }, count(byState, LIVE_STATES)),
      el("div", { class: "chips" }, chips.length ? chips : el("span", { class: "muted" }, "none yet"))),
    el("div", { class: "card wide", id: "total-resources" },
      el("h3", {}, "Resources",
        el("span", { class: "legend" }, el("i", { class: "used" }), "used ", el("i", { class: "offered" }), "offered")),
      RESOURCES.map((resource) =>
        el("div", { class: "resource-row" },
          el("span", { class: "resource-name" }, resource.label),
          bar(metrics[`master/${resource.name}_used`], metrics[`master/${resource.name}_offered`],
            metrics[`master/${resource.name}_total`], resource.format),
          el("span", { class: "percent" }, formatPercent(metrics[`master/${resource.name}_percent`])),
        ))),
  ];
  document.getElementById("totals").replaceChildren(...cards);
  for (const chip of chips) chip.addEventListener("click", () => setView({ state: chip.dataset.state, page: 0 }));
}

function renderAgents(agents) {
  document.getElementById("agents-count").textContent = agents.length;
  const rows = agents.map((agent) => {
    const resources = agent.resources || {};
    const used = agent.used_resources || {};
    const offered = agent.offered_resources || {};
    return el(
      "tr",
      { class: agent.active ? "" : "unreachable", data: { agentId: agent.id } },
      el("td", { class: "mono" }, agent.id, agent.active ? null : el("span", { class: "badge bad" }, "unreachable")),
      el("td", {}, agent.hostname),
      RESOURCES.map((resource) =>
        el("td", {}, bar(used[resource.name] || 0, offered[resource.name] || 0, resources[resource.name] || 0, resource.format))),
      el("td", { class: "num" }, count(agent, LIVE_STATES)),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No agents registered.")));
  document.querySelector("#agents tbody").replaceChildren(...rows);
}

// The last sample's share of each framework: its largest over its roles.
function latestShares(shares) {
  const latest = new Map();
  for (const series of shares.series || []) {
    const values = series.shares || [];
    const value = values.length ? values[values.length - 1] : null;
    if (value === null || value === undefined) continue;
    latest.set(series.framework_id, Math.max(latest.get(series.framework_id) || 0, value));
  }
  return latest;
}

function renderFrameworks(frameworks, latest) {
  document.getElementById("frameworks-count").textContent = frameworks.length;
  const rows = frameworks.map((framework) => {
    const used = framework.used_resources || {};
    return el(
      "tr",
      { data: { frameworkId: framework.id } },
      el("td", {}, el("span", { class: "swatch", style: { background: colorOf(framework.id) } })),
      el("td", {},
        el("div", {}, framework.name, framework.connected ? null : el("span", { class: "badge bad" }, "disconnected")),
        el("div", { class: "mono muted small" }, framework.id)),
      el("td", {}, (framework.roles || []).join(", ")),
      el("td", { class: "num" }, latest.has(framework.id) ? formatPercent(latest.get(framework.id)) : "–"),
      el("td", { class: "num" }, count(framework, LIVE_STATES)),
      el("td", { class: "num" }, formatNumber(used.cpus)),
      el("td", { class: "num" }, formatMegabytes(used.mem)),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No frameworks registered.")));
  document.querySelector("#frameworks tbody").replaceChildren(...rows);
}

// The smallest round step (at most five to the top) and the top of an axis
// that shows values up to `highest`.
function niceScale(highest, steps) {
  for (const step of steps) if (highest <= step * 5) return { step, top: Math.max(step, Math.ceil(highest / step - 1e-9) * step) };
  const step = steps[steps.length - 1];
  return { step, top: Math.ceil(highest / step) * step };
}

function formatAgo(seconds) {
  if (seconds === 0) return "now";
  return seconds % 60 === 0 ? `−${seconds / 60}m` : `−${seconds}s`;
}

function renderChart(shares) {
  const chart = document.getElementById("shares-chart");
  const width = 640, height = 220, left = 46, right = 14, top = 12, bottom = 26;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const times = shares.times || [];
  const keep = Number(shares.window_seconds) || 600;
  const end = times.length ? times[times.length - 1] : 0;
  // A young master's few samples fill the width; the span grows to the window.
  const span = Math.min(keep, Math.max(60, times.length ? end - times[0] : 0));
  document.getElementById("shares-window").textContent =
    `last ${formatDuration(span)} (up to ${formatDuration(keep)}), a sample every ${formatDuration(shares.interval_seconds)}`;
  const series = shares.series || [];
  const x = (time) => left + plotWidth * (1 - Math.min(span, end - time) / span);
  let highest = 0;
  for (const line of series) for (const value of line.shares) if (value !== null) highest = Math.max(highest, value);
  const yScale = niceScale(highest || 0.1, [0.01, 0.02, 0.05, 0.1, 0.2, 0.25]);
  const y = (value) => top + plotHeight * (1 - value / yScale.top);
  const nodes = [];
  for (let value = 0; value <= yScale.top + 1e-9; value += yScale.step) {
    nodes.push(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    nodes.push(svg("text", { class: "axis", x: left - 6, y: y(value) + 4, "text-anchor": "end" }, formatPercent(value)));
  }
  const xStep = niceScale(span, [10, 15, 30, 60, 120, 300, 600]).step;
  for (let ago = 0; ago <= span + 1e-9; ago += xStep) {
    nodes.push(svg("text", { class: "axis", x: x(end - ago), y: height - 8, "text-anchor": "middle" },
      formatAgo(ago)));
  }
  const multiRole = new Set();
  const seen = new Set();
  for (const line of series) {
    if (seen.has(line.framework_id)) multiRole.add(line.framework_id);
    seen.add(line.framework_id);
  }
  series.forEach((line) => {
    const color = colorOf(line.framework_id);
    const label = multiRole.has(line.framework_id) ? `${line.name} (${line.role})` : line.name;
    const group = svg("g", { class: "series", "data-framework-id": line.framework_id });
    group.append(svg("title", {}, `${label}: ${line.role}`));
    let path = "";
    let pen = "M";
    let last = null;
    line.shares.forEach((value, index) => {
      if (value === null || value === undefined) {
        pen = "M";
        return;
      }
      path += `${pen}${x(times[index]).toFixed(1)},${y(value).toFixed(1)}`;
      pen = "L";
      last = [x(times[index]), y(value)];
    });
    if (path) group.append(svg("path", { d: path, stroke: color, class: "line" }));
    if (last) group.append(svg("circle", { cx: last[0], cy: last[1], r: 3, fill: color }));
    nodes.push(group);
  });
  if (!times.length) {
    nodes.push(svg("text", { class: "axis", x: left + plotWidth / 2, y: top + plotHeight / 2, "text-anchor": "middle" },
      "No samples yet"));
  }
  chart.replaceChildren(...nodes);
}

function renderFilters(frameworks) {
  const stateSelect = document.getElementById("state-filter");
  const totals = {};
  for (const framework of frameworks) {
    if (view.framework && framework.id !== view.framework) continue;
    for (const state of STATES) totals[state] = (totals[state] || 0) + (Number(framework[state]) || 0);
  }
  if (stateSelect.options.length !== STATES.length + 1) {
    stateSelect.replaceChildren(el("option", { value: "" }), ...STATES.map((state) => el("option", { value: state })));
  }
  const all = STATES.reduce((sum, state) => sum + (totals[state] || 0), 0);
  stateSelect.options[0].textContent = `All states (${all})`;
  STATES.forEach((state, index) => {
    stateSelect.options[index + 1].textContent = `${shortState(state)} (${totals[state] || 0})`;
  });
  stateSelect.value = view.state;

  const frameworkSelect = document.getElementById("framework-filter");
  const ids = ["", ...frameworks.map((framework) => framework.id)];
  if (view.framework && !ids.includes(view.framework)) ids.push(view.framework);
  const current = Array.from(frameworkSelect.options, (option) => option.value);
  if (current.join("\n") !== ids.join("\n")) {
    frameworkSelect.replaceChildren(...ids.map((id) => el("option", { value: id })));
  }
  const names = new Map(frameworks.map((framework) => [framework.id, framework.name]));
  Array.from(frameworkSelect.options).forEach((option) => {
    option.textContent = option.value ? `${names.get(option.value) || "(gone)"} · ${option.value}` : "All frameworks";
  });
  frameworkSelect.value = view.framework;

  const matching = view.state ? totals[view.state] || 0 : all;
  const first = view.page * PAGE_SIZE;
  document.getElementById("tasks-count").textContent = matching;
  document.getElementById("page-range").textContent =
    matching ? `${Math.min(first + 1, matching)}–${Math.min(first + PAGE_SIZE, matching)} of ${matching}` : "";
  document.getElementById("newer").disabled = view.page === 0;
  document.getElementById("older").disabled = first + PAGE_SIZE >= matching;
}

function renderTasks(tasks, frameworks) {
  const names = new Map(frameworks.map((framework) => [framework.id, framework.name]));
  const rows = tasks.map((task) => {
    const resources = task.resources || {};
    const logs = (stream) =>
      el("a", { href: `tasks/${encodeURIComponent(task.id)}/logs/${stream}?format=text`, target: "_blank", rel: "noopener" }, stream);
    const labels = (task.labels || []).map((label) => el("span", { class: "label" }, `${label.key}=${label.value}`));
    return el(
      "tr",
      { data: { taskId: task.id, state: task.state, frameworkId: task.framework_id } },
      el("td", { class: "mono task-id" }, task.id),
      el("td", { class: "task-name" }, el("span", {}, task.name), labels),
      el("td", {}, el("span", { class: stateClass(task.state) }, shortState(task.state))),
      el("td", { title: task.framework_id }, names.get(task.framework_id) || task.framework_id),
      el("td", { class: "mono" }, task.slave_id),
      el("td", { class: "num" }, formatNumber(resources.cpus)),
      el("td", { class: "num" }, formatMegabytes(resources.mem)),
      el("td", { class: "muted" }, formatTime(task.launched_time)),
      el("td", { class: "logs" }, logs("stdout"), " ", logs("stderr")),
    );
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No tasks match.")));
  document.querySelector("#tasks tbody").replaceChildren(...rows);
}

// ------------------------------------------------------------------ signing in

function base64(text) {
  // btoa takes Latin-1 only: encode the UTF-8 bytes.
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function askToSignIn(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  setStatus("offline", "sign-in needed");
  document.getElementById("signed-in").hidden = true;
  document.querySelector("main").hidden = true;
  const error = document.getElementById("login-error");
  error.textContent = message;
  error.hidden = !message;
  document.getElementById("login").hidden = false;
  document.getElementById("login-principal").focus();
}

function signedIn(principal) {
  document.getElementById("login").hidden = true;
  document.getElementById("login-secret").value = "";
  document.getElementById("login-token").value = "";
  document.querySelector("main").hidden = false;
  const who = document.getElementById("signed-in");
  document.getElementById("principal").textContent = principal || "";
  who.hidden = false;
  refresh();
}

async function signIn(event) {
  event.preventDefault();
  const principal = document.getElementById("login-principal").value;
  const secret = document.getElementById("login-secret").value;
  const token = document.getElementById("login-token").value.trim();
  const error = document.getElementById("login-error");
  error.hidden = true;
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(`${TOKEN_KEY}.principal`, "");
    signedIn("");
    return;
  }
  try {
    const response = await fetch("auth/token", {
      method: "POST",
      cache: "no-store",
      headers: {
        "X-Requested-With": "pyactors-webui",
        Authorization: `Basic ${base64(`${principal}:${secret}`)}`,
      },
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const said = response.status === 401 ? "Wrong principal or secret." : (body && body.message) || response.statusText;
      throw new Error(said);
    }
    sessionStorage.setItem(TOKEN_KEY, body.token);
    sessionStorage.setItem(`${TOKEN_KEY}.principal`, body.principal);
    signedIn(body.principal);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

function signOut() {
  sessionStorage.removeItem(`${TOKEN_KEY}.principal`);
  askToSignIn("");
}

// A log link is a plain navigation, which cannot carry the token: with one,
// the log is fetched with it and shown from memory instead.
async function openLog(event) {
  const link = event.target.closest("td.logs a");
  if (!link || !sessionStorage.getItem(TOKEN_KEY)) return;
  event.preventDefault();
  const response = await fetch(link.getAttribute("href"), { cache: "no-store", headers: requestHeaders() });
  if (response.status === 401) {
    askToSignIn("Your sign-in has expired: sign in again.");
    return;
  }
  const text = await response.text();
  const blob = new Blob([text], { type: "text/plain;charset=utf-8" });
  window.open(URL.createObjectURL(blob), "_blank", "noopener");
}

// ------------------------------------------------------------------ the view

function readHash() {
  const query = new URLSearchParams(location.hash.replace(/^#/, ""));
  const state = query.get("state") || "";
  view.state = STATES.includes(state) ? state : "";
  view.framework = query.get("framework") || "";
  view.page = Math.max(0, parseInt(query.get("page") || "0", 10) || 0);
}

function setView(change) {
  Object.assign(view, change);
  const query = new URLSearchParams();
  if (view.state) query.set("state", view.state);
  if (view.framework) query.set("framework", view.framework);
  if (view.page) query.set("page", view.page);
  const fragment = query.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${fragment ? `#${fragment}` : ""}`);
  refresh();
}

function start() {
  readHash();
  document.getElementById("state-filter").addEventListener("change", (event) =>
    setView({ state: event.target.value, page: 0 }));
  document.getElementById("framework-filter").addEventListener("change", (event) =>
    setView({ framework: event.target.value, page: 0 }));
  document.getElementById("newer").addEventListener("click", () => setView({ page: Math.max(0, view.page - 1) }));
  document.getElementById("older").addEventListener("click", () => setView({ page: view.page + 1 }));
  window.addEventListener("hashchange", () => {
    readHash();
    refresh();
  });
  document.getElementById("login").addEventListener("submit", signIn);
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("tasks").addEventListener("click", openLog);
  if (sessionStorage.getItem(TOKEN_KEY)) {
    signedIn(sessionStorage.getItem(`${TOKEN_KEY}.principal`));
  } else {
    refresh();
  }
}

start();
