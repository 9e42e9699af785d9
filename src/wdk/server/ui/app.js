// wdk web UI: a small hand-written script (no build step, no dependencies).
// Everything about runs comes from /api with the bearer token kept in sessionStorage; live
// updates are Server-Sent Events read with fetch() so the token travels in a header, never
// in a URL. All text goes into the page through textContent, never as HTML.
"use strict";

const BASE = document.body.dataset.base || "";
const TOKEN_KEY = "wdk.token";
const STATUSES = ["pending", "running", "blocked", "completed", "failed", "cancelled"];
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const main = document.getElementById("main");
let pageAbort = new AbortController();

// ---- helpers -------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function headers(extra) {
  const out = { accept: "application/json", ...(extra || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) out.authorization = `Bearer ${token}`;
  return out;
}

async function api(path, opts = {}) {
  const init = { method: opts.method || "GET", headers: headers(), signal: opts.signal };
  if (opts.body !== undefined) {
    init.body = JSON.stringify(opts.body);
    init.headers["content-type"] = "application/json";
  }
  const resp = await fetch(BASE + path, init);
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: text }; }
  if (resp.status === 401) { showGate("The token was refused."); throw new ApiError(401, body); }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// Server-Sent Events over fetch: calls onEvent(name, data) per event until aborted; reconnects.
async function sse(path, onEvent, signal) {
  const live = document.getElementById("live");
  while (!signal.aborted) {
    try {
      const resp = await fetch(BASE + path, { headers: headers({ accept: "text/event-stream" }), signal });
      if (resp.status === 401) { showGate("The token was refused."); return; }
      if (resp.status === 404 || resp.status === 400) return; // nothing to follow
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      live.hidden = false;
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let name = "message", id = null;
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) name = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
            else if (line.startsWith("id: ")) id = Number(line.slice(4));
          }
          if (data.length) {
            const stop = onEvent(name, JSON.parse(data.join("\n")), id);
            if (stop === false) { reader.cancel(); return; }
          }
        }
      }
    } catch (err) {
      if (signal.aborted) return;
    }
    live.hidden = true;
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, 1000)); // reconnect back-off
  }
}

function fmtTime(sec) {
  if (sec === null || sec === undefined) return "";
  return new Date(sec * 1000).toISOString().replace("T", " ").replace("Z", "");
}

function fmtDur(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  return m < 60 ? `${m} m ${Math.round((ms % 60000) / 1000)} s` : `${Math.floor(m / 60)} h ${m % 60} m`;
}

function runDuration(run) {
  if (!run.started_at && !run.created_at) return null;
  const start = run.started_at || run.created_at;
  const end = run.completed_at || (TERMINAL.has(run.status) ? start : Date.now() / 1000);
  return (end - start) * 1000;
}

function shortWorkflow(id) { return (id || "").split("//").slice(1).join(" · ") || id; }

function badge(status) { return h("span", { class: `badge s-${status}`, "data-status": status }, status); }

function copyButton(text, label) {
  return h("button", {
    class: "copy", type: "button", title: `Copy ${label || text}`, "aria-label": `Copy ${label || "value"}`,
    onclick: async (e) => {
      e.preventDefault(); e.stopPropagation();
      const btn = e.currentTarget;
      let ok = false;
      try { await navigator.clipboard.writeText(text); ok = true; } catch (_) {
        // No clipboard API outside secure contexts (plain http on another host): the old way.
        const area = h("textarea", { style: "position:fixed;opacity:0" }, text);
        document.body.append(area);
        area.select();
        try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
        area.remove();
      }
      btn.textContent = ok ? "copied" : "select it";
      setTimeout(() => { btn.textContent = "copy"; }, 1200);
    },
  }, "copy");
}

function jsonBlock(value, cls) {
  return h("pre", { class: `json ${cls || ""}` }, value === undefined ? "" : JSON.stringify(value, null, 2));
}

function link(path, ...children) {
  return h("a", { href: BASE + path, "data-nav": true }, ...children);
}

// ---- routing and the token gate ------------------------------------------------------------
function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  document.getElementById("live").hidden = true;
  const path = location.pathname.slice(BASE.length) || "/";
  const m = path.match(/^\/runs\/([^/]+)$/);
  main.replaceChildren();
  if (m) runPage(decodeURIComponent(m[1]), pageAbort.signal);
  else runsPage(pageAbort.signal);
}

function navigate(path) {
  history.pushState(null, "", BASE + path);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href").slice(BASE.length) || "/");
});
window.addEventListener("popstate", route);

function showGate(message) {
  pageAbort.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById("signout").hidden = true;
  const form = document.getElementById("gate").content.firstElementChild.cloneNode(true);
  main.replaceChildren(form);
  const err = form.querySelector("#token-error");
  if (message && message !== "none") { err.textContent = message; err.hidden = false; }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.querySelector("#token-input").value.trim());
    start();
  });
  form.querySelector("#token-input").focus();
}

async function start() {
  // Probe: does the API want a token, and is ours right? Nothing is shown before this.
  const resp = await fetch(BASE + "/api/runs?limit=1", { headers: headers() });
  if (resp.status === 401) {
    showGate(sessionStorage.getItem(TOKEN_KEY) ? "That token was refused." : "none");
    return;
  }
  document.getElementById("signout").hidden = !sessionStorage.getItem(TOKEN_KEY);
  route();
}

document.getElementById("signout").addEventListener("click", () => showGate("none"));

// ---- runs list -----------------------------------------------------------------------------
function runsPage(signal) {
  const params = new URLSearchParams(location.search);
  const state = {
    status: params.get("status") || "",
    workflow: params.get("workflow") || "",
    prefix: params.get("prefix") || "",
    cursors: [], // cursors of the pages before the current one ("" = first page)
    cursor: params.get("cursor") || "",
  };
  const workflows = new Set();
  const statusSel = h("select", { id: "f-status", "aria-label": "Status" },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s }, s)));
  statusSel.value = state.status;
  const wfList = h("datalist", { id: "workflows" });
  const wfInput = h("input", { id: "f-workflow", list: "workflows", placeholder: "workflow id", value: state.workflow, "aria-label": "Workflow" });
  const prefixInput = h("input", { id: "f-prefix", placeholder: "run id prefix", value: state.prefix, "aria-label": "Run id prefix", spellcheck: "false" });
  const tbody = h("tbody", { id: "runs-body" });
  const info = h("span", { class: "muted", id: "runs-info" });
  const newer = h("button", { id: "newer", class: "ghost", type: "button" }, "← Newer");
  const older = h("button", { id: "older", class: "ghost", type: "button" }, "Older →");
  main.append(
    h("section", { class: "toolbar" },
      h("h1", {}, "Runs"), statusSel, wfInput, wfList, prefixInput, info),
    h("table", { class: "runs" },
      h("thead", {}, h("tr", {}, ["Status", "Run", "Workflow", "Created", "Duration"].map((t) => h("th", {}, t)))),
      tbody),
    h("div", { class: "pager" }, newer, older),
  );

  let feedAbort = null;
  let nextCursor = null;

  function render(page) {
    nextCursor = page.cursor;
    tbody.replaceChildren(...page.runs.map((r) => {
      workflows.add(r.workflow_id);
      return h("tr", { "data-run": r.run_id },
        h("td", {}, badge(r.status)),
        h("td", { class: "id" }, link(`/runs/${encodeURIComponent(r.run_id)}`, r.run_id), copyButton(r.run_id, "run id")),
        h("td", { title: r.workflow_id }, shortWorkflow(r.workflow_id)),
        h("td", { class: "time" }, fmtTime(r.created_at)),
        h("td", { class: "num" }, fmtDur(runDuration(r))));
    }));
    if (!page.runs.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No runs match.")));
    wfList.replaceChildren(...[...workflows].sort().map((w) => h("option", { value: w })));
    newer.disabled = state.cursors.length === 0;
    older.disabled = !page.cursor;
    info.textContent = state.cursor ? `page ${state.cursors.length + 1}` : "live";
  }

  function query(extra) {
    const q = new URLSearchParams();
    if (state.status) q.set("status", state.status);
    if (state.workflow) q.set("workflow", state.workflow);
    if (state.prefix) q.set("prefix", state.prefix);
    for (const [k, v] of Object.entries(extra || {})) if (v) q.set(k, v);
    return q.toString();
  }

  function load() {
    if (feedAbort) feedAbort.abort();
    feedAbort = new AbortController();
    signal.addEventListener("abort", () => feedAbort.abort());
    history.replaceState(null, "", `${BASE}/${query({ cursor: state.cursor }) ? "?" + query({ cursor: state.cursor }) : ""}`);
    if (!state.cursor) {
      // First page: live. The server sends it now and again whenever it changes.
      sse(`/api/runs/feed?${query()}`, (name, data) => { if (name === "runs") render(data); }, feedAbort.signal);
    } else {
      api(`/api/runs?${query({ cursor: state.cursor })}`, { signal: feedAbort.signal }).then(render, showError);
    }
  }

  let typing = null;
  const refilter = () => {
    state.status = statusSel.value;
    state.workflow = wfInput.value.trim();
    state.prefix = prefixInput.value.trim();
    state.cursors = []; state.cursor = "";
    load();
  };
  statusSel.addEventListener("change", refilter);
  for (const input of [wfInput, prefixInput]) {
    input.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refilter, 250); });
  }
  older.addEventListener("click", () => { if (!nextCursor) return; state.cursors.push(state.cursor); state.cursor = nextCursor; load(); });
  newer.addEventListener("click", () => { state.cursor = state.cursors.pop() || ""; load(); });
  load();
}

function showError(err) {
  if (err && err.name === "AbortError") return;
  if (err instanceof ApiError && err.status === 401) return;
  main.prepend(h("p", { class: "error banner" }, String(err && err.message ? err.message : err)));
}

// ---- run page ------------------------------------------------------------------------------
function runPage(runId, signal) {
  const head = h("section", { class: "run-head", id: "run-head" });
  const timeline = h("section", { class: "panel", id: "timeline" });
  const detail = h("section", { class: "panel", id: "detail", hidden: true });
  const hooksBox = h("section", { class: "panel", id: "hooks" });
  const streamsBox = h("section", { class: "panel", id: "streams" });
  const eventsBox = h("section", { class: "panel", id: "events" });
  main.append(head, timeline, detail, hooksBox, streamsBox, eventsBox);

  const st = { run: null, steps: [], events: [], selected: null, streams: new Map(), hooksKey: "" };
  const eventsBody = h("tbody", {});
  eventsBox.append(h("h2", {}, "Event log"), h("table", { class: "events" },
    h("thead", {}, h("tr", {}, ["seq", "type", "correlation id", "at", "data"].map((t) => h("th", {}, t)))), eventsBody));
  const streamTabs = h("div", { class: "tabs" });
  const streamView = h("div", { class: "stream-view" });
  streamsBox.append(h("h2", {}, "Streams"), streamTabs, streamView);

  // One refresh at a time: a change that comes during one runs another right after it.
  let refreshing = null, again = false;
  function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = load().finally(() => {
      refreshing = null;
      if (again) { again = false; refresh(); }
    });
    return refreshing;
  }

  async function load() {
    const [steps, events] = await Promise.all([
      api(`/api/runs/${encodeURIComponent(runId)}/steps`, { signal }),
      api(`/api/runs/${encodeURIComponent(runId)}/events?after=${st.events.length ? st.events[st.events.length - 1].seq : 0}&limit=5000`, { signal }),
    ]);
    st.steps = steps.steps;
    st.events.push(...events.events);
    for (const ev of events.events) eventsBody.append(eventRow(ev));
    renderTimeline();
    if (st.selected) renderDetail(st.selected);
    refreshHooks();
    refreshStreams();
  }

  function renderHead() {
    const run = st.run;
    const actions = h("div", { class: "actions" });
    if (!TERMINAL.has(run.status)) {
      actions.append(h("button", { id: "cancel", class: "danger", type: "button", onclick: async (e) => {
        if (!confirm(`Cancel run ${run.run_id}?`)) return;
        e.currentTarget.disabled = true;
        try { await api(`/api/runs/${encodeURIComponent(run.run_id)}/cancel`, { method: "POST" }); } catch (err) { showError(err); }
      } }, "Cancel run"));
    }
    if (run.status === "blocked") {
      actions.append(h("button", { id: "retry", type: "button", onclick: async () => {
        try { await api(`/api/runs/${encodeURIComponent(run.run_id)}/retry`, { method: "POST" }); } catch (err) { showError(err); }
      } }, "Retry"));
    }
    const forkStep = h("input", { id: "fork-step", type: "number", min: 0, placeholder: "from step", "aria-label": "Fork from step", class: "small" });
    actions.append(forkStep, h("button", { id: "fork", class: "ghost", type: "button", onclick: async () => {
      const body = forkStep.value === "" ? {} : { from_step: Number(forkStep.value) };
      try {
        const out = await api(`/api/runs/${encodeURIComponent(run.run_id)}/fork`, { method: "POST", body });
        navigate(`/runs/${encodeURIComponent(out.run_id)}`);
      } catch (err) { showError(err); }
    } }, "Fork"));
    const facts = h("dl", { class: "facts" },
      h("dt", {}, "workflow"), h("dd", { title: run.workflow_id }, run.workflow_id),
      h("dt", {}, "created"), h("dd", {}, fmtTime(run.created_at)),
      h("dt", {}, "duration"), h("dd", {}, fmtDur(runDuration(run))),
      h("dt", {}, "deployment"), h("dd", { id: "deployment" }, run.deployment_id || "—"),
      run.forked_from ? [h("dt", {}, "forked from"), h("dd", {}, link(`/runs/${encodeURIComponent(run.forked_from)}`, run.forked_from))] : null);
    const outcome = [];
    if (run.status === "completed") outcome.push(h("h3", {}, "Result"), jsonBlock(run.output, "output"));
    if (run.status === "failed" && run.error) outcome.push(h("h3", {}, "Error"), h("pre", { class: "error-box" }, `${run.error.type ? run.error.type + ": " : ""}${run.error.message}`));
    if (run.status === "blocked" && run.blocked) outcome.push(h("h3", {}, "Blocked"), h("pre", { class: "error-box" }, `${run.blocked.code}: ${run.blocked.message}${run.blocked.location ? "\n  at " + run.blocked.location : ""}`));
    head.replaceChildren(
      h("div", { class: "title" }, badge(run.status), h("h1", { class: "id", id: "run-id" }, run.run_id), copyButton(run.run_id, "run id")),
      actions, facts, ...outcome);
  }

  // Timeline rows: steps (one bar per attempt), sleeps and hooks (from the event log).
  function timelineRows() {
    const rows = st.steps.map((s) => ({
      kind: "step", key: s.correlation_id, label: s.name, status: s.status,
      bars: s.attempts.map((a) => ({ start: a.started_at, end: a.ended_at, cls: a.error ? "failed" : (s.status === "completed" ? "completed" : s.status), title: `attempt ${a.attempt}` })),
      start: s.started_at, end: s.completed_at, step: s,
    }));
    const other = new Map();
    for (const ev of st.events) {
      const cid = ev.correlation_id;
      const d = ev.data || {};
      if (ev.type === "wait_created") other.set(cid, { kind: "sleep", key: cid, label: "sleep", status: "waiting", start: ev.at, planned: d.resume_at, end: null, seq: ev.seq });
      else if (ev.type === "hook_created") other.set(cid, { kind: "hook", key: cid, label: `${d.kind || "hook"} ${String(d.token || "").slice(0, 10)}`, status: "waiting", start: ev.at, end: null, seq: ev.seq });
      else if (other.has(cid) && (ev.type === "wait_completed" || ev.type === "hook_received" || ev.type === "hook_disposed")) {
        const row = other.get(cid);
        if (row.end === null) { row.end = ev.at; row.status = ev.type === "hook_disposed" ? "disposed" : "completed"; }
      }
    }
    for (const row of other.values()) row.bars = [{ start: row.start, end: row.end, cls: row.kind, title: row.kind }];
    const all = rows.concat([...other.values()]);
    all.sort((a, b) => (a.start ?? Infinity) - (b.start ?? Infinity));
    return all;
  }

  function renderTimeline() {
    const rows = timelineRows();
    const run = st.run;
    const now = Date.now() / 1000;
    const t0 = Math.min(run.started_at || run.created_at, ...rows.map((r) => r.start ?? Infinity));
    let t1 = run.completed_at || now;
    for (const r of rows) for (const b of r.bars) t1 = Math.max(t1, b.end ?? (TERMINAL.has(run.status) ? t0 : now), r.planned ?? 0);
    const span = Math.max(t1 - t0, 0.001);
    const pct = (t) => `${(((t - t0) / span) * 100).toFixed(3)}%`;
    const body = h("div", { class: "gantt" });
    for (const r of rows) {
      const track = h("div", { class: "track" });
      if (r.planned && !r.end) {
        track.append(h("span", { class: "bar planned", style: `left:${pct(r.start)};width:${(((r.planned - r.start) / span) * 100).toFixed(3)}%`, title: `until ${fmtTime(r.planned)}` }));
      }
      for (const b of r.bars) {
        if (b.start === null || b.start === undefined) continue;
        const end = b.end ?? (TERMINAL.has(run.status) ? run.completed_at || b.start : now);
        const width = Math.max(((end - b.start) / span) * 100, 0.4);
        track.append(h("span", { class: `bar b-${b.cls}`, style: `left:${pct(b.start)};width:${width.toFixed(3)}%`, title: `${b.title}: ${fmtDur((end - b.start) * 1000)}` }));
      }
      const dur = r.end && r.start ? fmtDur((r.end - r.start) * 1000) : (r.status === "waiting" || r.status === "running" ? "…" : "");
      const row = h("div", { class: `row k-${r.kind}${st.selected === r.key ? " selected" : ""}`, "data-key": r.key, "data-kind": r.kind, tabindex: 0, role: "button",
        onclick: () => { st.selected = r.key; renderTimeline(); renderDetail(r.key); } },
        h("span", { class: "label", title: r.step ? r.step.step_id : r.label }, h("span", { class: `dot s-${r.status}` }), r.label,
          r.step && r.step.attempts.length > 1 ? h("span", { class: "retries" }, ` ×${r.step.attempts.length}`) : null),
        track, h("span", { class: "dur" }, dur));
      body.append(row);
    }
    if (!rows.length) body.append(h("p", { class: "muted" }, "No steps yet."));
    timeline.replaceChildren(h("h2", {}, "Timeline ", h("span", { class: "muted" }, `${fmtDur(span * 1000)} · ${st.steps.length} steps`)), body);
  }

  function renderDetail(key) {
    const step = st.steps.find((s) => s.correlation_id === key);
    detail.hidden = false;
    if (!step) {
      const evs = st.events.filter((e) => e.correlation_id === key);
      detail.replaceChildren(h("h2", {}, key), ...evs.map((e) => h("div", {}, h("strong", {}, e.type), " ", fmtTime(e.at), jsonBlock(e.data))));
      return;
    }
    const attempts = h("table", { class: "attempts" }, h("thead", {}, h("tr", {}, ["#", "started", "ended", "took", "error"].map((t) => h("th", {}, t)))),
      h("tbody", {}, step.attempts.map((a) => h("tr", {},
        h("td", {}, a.attempt), h("td", {}, fmtTime(a.started_at)), h("td", {}, fmtTime(a.ended_at)),
        h("td", { class: "num" }, a.ended_at ? fmtDur((a.ended_at - a.started_at) * 1000) : "…"),
        h("td", {}, a.error ? h("details", {}, h("summary", {}, `${a.error.type}: ${a.error.message}`), h("pre", { class: "stack" }, a.error.stack || "")) : "")))));
    detail.replaceChildren(...[
      h("div", { class: "title" }, badge(step.status), h("h2", { id: "detail-name" }, step.name), h("code", { class: "muted" }, step.step_id)),
      h("p", { class: "muted" }, `${step.correlation_id} · ${fmtDur(step.duration_ms)}`),
      h("h3", {}, "Input"), jsonBlock(step.input, "input"),
      step.status === "completed" ? [h("h3", {}, "Output"), jsonBlock(step.output, "output")] : null,
      step.error ? [h("h3", {}, "Error"), h("pre", { class: "error-box" }, `${step.error.type}: ${step.error.message}`), h("pre", { class: "stack" }, step.error.stack || "")] : null,
      h("h3", {}, "Attempts"), attempts].flat().filter(Boolean));
  }

  function eventRow(ev) {
    return h("tr", {}, h("td", { class: "num" }, ev.seq), h("td", {}, ev.type), h("td", { class: "id" }, ev.correlation_id || ""),
      h("td", { class: "time" }, fmtTime(ev.at)),
      h("td", {}, ev.data === null ? "" : h("details", {}, h("summary", {}, JSON.stringify(ev.data).slice(0, 80)), jsonBlock(ev.data))));
  }

  async function refreshHooks() {
    const { hooks } = await api(`/api/runs/${encodeURIComponent(runId)}/hooks`, { signal });
    const key = hooks.map((x) => x.token).join(",");
    if (key === st.hooksKey && hooksBox.childElementCount) return;
    st.hooksKey = key;
    const items = await Promise.all(hooks.map(hookCard));
    hooksBox.replaceChildren(h("h2", {}, "Live hooks"), ...(items.length ? items : [h("p", { class: "muted" }, "No live hooks.")]));
  }

  async function hookCard(hook) {
    const card = h("div", { class: "hook", "data-token": hook.token },
      h("div", {}, h("strong", {}, hook.kind), " ", h("code", { class: "id" }, hook.token), copyButton(hook.token, "token")),
      hook.metadata !== null ? jsonBlock(hook.metadata) : null);
    if (hook.kind === "webhook") { card.append(h("p", {}, "URL: ", h("code", {}, hook.url))); return card; }
    let schema = null;
    try { schema = (await api(`/api/hooks/${encodeURIComponent(hook.token)}/schema`, { signal })).schema; } catch (_) { /* shown as raw JSON */ }
    card.append(resumeForm(hook, schema));
    return card;
  }

  function resumeForm(hook, schema) {
    const errors = h("ul", { class: "error form-errors" });
    const fields = [];
    const props = schema && schema.type === "object" && schema.properties ? schema.properties : null;
    const form = h("form", { class: "resume" });
    if (props) {
      for (const [name, prop] of Object.entries(props)) {
        const required = (schema.required || []).includes(name);
        let input;
        if (prop.type === "boolean") input = h("input", { type: "checkbox", name });
        else if (prop.enum) input = h("select", { name }, prop.enum.map((v) => h("option", { value: JSON.stringify(v) }, String(v))));
        else if (prop.type === "integer" || prop.type === "number") input = h("input", { type: "number", name, step: prop.type === "integer" ? 1 : "any", required });
        else if (prop.type === "string") input = h("input", { type: "text", name, required });
        else input = h("textarea", { name, rows: 2, placeholder: "JSON" });
        fields.push({ name, prop, input });
        form.append(h("label", {}, h("span", {}, `${prop.title || name}${required ? " *" : ""}`), input));
      }
    } else {
      const input = h("textarea", { name: "payload", rows: 3, placeholder: '{"approved": true}', class: "payload" });
      fields.push({ name: null, input });
      form.append(h("label", {}, h("span", {}, "Payload (JSON)"), input));
    }
    form.append(h("button", { type: "submit" }, "Resume hook"), errors);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      let payload;
      try {
        if (!props) payload = fields[0].input.value.trim() === "" ? null : JSON.parse(fields[0].input.value);
        else {
          payload = {};
          for (const f of fields) {
            const el = f.input;
            if (el.type === "checkbox") payload[f.name] = el.checked;
            else if (el.tagName === "SELECT") payload[f.name] = JSON.parse(el.value);
            else if (el.value === "") continue;
            else if (el.type === "number") payload[f.name] = Number(el.value);
            else if (el.tagName === "TEXTAREA") payload[f.name] = JSON.parse(el.value);
            else payload[f.name] = el.value;
          }
        }
      } catch (err) { errors.append(h("li", {}, `not JSON: ${err.message}`)); return; }
      try {
        await api(`/api/hooks/${encodeURIComponent(hook.token)}`, { method: "POST", body: payload });
        form.replaceChildren(h("p", { class: "ok" }, "Delivered."));
      } catch (err) {
        const list = err.body && err.body.errors;
        if (list && list.length) for (const x of list) errors.append(h("li", {}, `${(x.loc || []).join(".") || "(payload)"}: ${x.msg}`));
        else errors.append(h("li", {}, err.message));
      }
    });
    return form;
  }

  async function refreshStreams() {
    const { streams } = await api(`/api/runs/${encodeURIComponent(runId)}/streams`, { signal });
    for (const s of streams) {
      if (st.streams.has(s.namespace)) continue;
      const list = h("ol", { class: "chunks", start: 0, "data-namespace": s.namespace });
      const tab = h("button", { type: "button", class: "tab", "data-namespace": s.namespace, onclick: () => select(s.namespace) }, s.namespace);
      st.streams.set(s.namespace, { list, tab });
      streamTabs.append(tab);
      if (st.streams.size === 1) select(s.namespace);
      sse(`/api/runs/${encodeURIComponent(runId)}/stream?namespace=${encodeURIComponent(s.namespace)}&startIndex=${list.childElementCount}`, (name, data) => {
        if (name === "end") { tab.classList.add("closed"); return false; }
        list.append(h("li", {}, typeof data === "string" ? data : JSON.stringify(data)));
        return true;
      }, signal);
    }
    if (!st.streams.size) streamView.replaceChildren(h("p", { class: "muted" }, "No streams."));
  }

  function select(ns) {
    for (const [name, s] of st.streams) s.tab.classList.toggle("active", name === ns);
    streamView.replaceChildren(st.streams.get(ns).list);
  }

  let lastSeq = -1;
  sse(`/api/runs/${encodeURIComponent(runId)}/changes`, (name, data) => {
    if (name !== "run" || !data.run) return;
    st.run = data.run;
    renderHead();
    if (data.seq !== lastSeq) { lastSeq = data.seq; refresh().catch(showError); }
    else renderTimeline();
  }, signal).catch(showError);
  api(`/api/runs/${encodeURIComponent(runId)}`, { signal }).catch((err) => {
    if (err.status === 404) main.replaceChildren(h("p", { class: "error banner" }, err.message));
  });
}

start();
