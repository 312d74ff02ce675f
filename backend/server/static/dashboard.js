// Migration dashboard: talks to the public JSON API only (/api/migration/...).
// No framework, no build step: ES modules served as they are.
import {
  $, STATES, api, clearError, formatEta, formatRate, h, handler, newest, setToken, showError, view,
} from "./core.js";
import { hooks, loadItems, nextPage, setFilters } from "./items.js";
import { loadGroups } from "./groups.js";
import { initConflict } from "./conflict.js";
import { initAudit, openAudit } from "./audit.js";
import { initPreflight } from "./preflight.js";

const POLL_MS = 1000;
const live = { timer: null, running: false, stop: false, progress: [] };

// --- runs ------------------------------------------------------------------------------------

function runStatusText(status) {
  if (!status.finished) return "in progress";
  if (status.waiting > 0) return `finished — ${status.waiting} waiting (conflicted/failed)`;
  return "finished";
}

function stackedBar(status) {
  const bar = h("div", {
    className: "bar", role: "img",
    "aria-label": STATES.filter((s) => status.counts[s]).map((s) => `${s} ${status.counts[s]}`).join(", ") || "empty",
  });
  for (const state of STATES) {
    const n = status.counts[state] || 0;
    if (!n) continue;
    const seg = h("span", { className: `s-${state}`, title: `${state}: ${n}` });
    seg.style.flexGrow = String(n); // CSSOM, allowed by the page's CSP
    bar.append(seg);
  }
  return bar;
}

function renderRuns(runs) {
  $("runs-empty").textContent = "No runs yet — start one below.";
  $("runs-empty").hidden = runs.length > 0;
  $("runs-table").hidden = runs.length === 0;
  $("runs-body").replaceChildren(...runs.map((s) => h("tr",
    { testid: `run-row-${s.run_id}`, className: s.run_id === view.runId ? "selected" : null },
    h("td", {}, `#${s.run_id}`),
    h("td", {}, s.kind),
    h("td", { testid: `run-progress-${s.run_id}` }, `${s.done} / ${s.total}`),
    h("td", {}, stackedBar(s)),
    h("td", {}, formatRate(s.rate)),
    h("td", {}, formatEta(s.eta_seconds)),
    h("td", { testid: `run-resumable-${s.run_id}` }, s.resumable ? "yes" : "no"),
    h("td", { testid: `run-status-${s.run_id}` }, runStatusText(s)),
    h("td", {}, h("button", {
      type: "button", testid: `open-run-${s.run_id}`, "aria-label": `Open run ${s.run_id}`,
      onclick: handler(() => selectRun(s.run_id, s.kind)),
    }, "Open")),
  )));
  const selected = runs.find((s) => s.run_id === view.runId);
  if (selected) renderRunSummary(selected);
  schedulePoll(runs.some((s) => !s.finished));
}

async function loadRuns() {
  const data = await newest("runs", () => api("GET", "/api/migration/runs"), (d) => renderRuns(d.runs));
  return data.runs;
}

function renderRunSummary(status) {
  $("run-heading").textContent = `Run #${status.run_id} (${status.kind})`;
  $("run-summary").textContent =
    `${status.done} / ${status.total} done · ${status.waiting} waiting · ${status.remaining} remaining · ` +
    `${formatRate(status.rate)} · ETA ${formatEta(status.eta_seconds)} · ` +
    `resumable: ${status.resumable ? "yes" : "no"} · ${runStatusText(status)}`;
  $("run-bar").replaceWith(Object.assign(stackedBar(status), { id: "run-bar" }));
  $("run-counts").replaceChildren(...STATES.filter((s) => status.counts[s]).map((s) =>
    h("li", { testid: `count-${s}` }, h("span", { className: `swatch s-${s}` }), `${s}: ${status.counts[s]}`)));
  // Progress the page has shown, in order (a test reads it to see the run move).
  if (live.progress.at(-1) !== status.done) live.progress.push(status.done);
  document.body.dataset.progress = live.progress.join(",");
  const wasFinished = view.runFinished;
  view.runFinished = status.finished;
  $("live-status").textContent = status.finished
    ? `Finished at ${new Date().toLocaleTimeString()} — no longer updating.`
    : `Live: updating every second · last update ${new Date().toLocaleTimeString()}` +
      (status.rate > 0 ? "" : " · waiting for a driver (Advance, Run to the end, or `model-migrate worker`)");
  if (wasFinished === false && status.finished && !live.running) {
    // The run just finished under someone else's driver: show its final items once.
    Promise.all([loadItems(false), loadGroups()]).catch(showError);
  }
}

async function selectRun(runId, kind) {
  view.runId = runId;
  view.runKind = kind;
  view.runFinished = null;
  live.progress = [];
  $("run-panel").hidden = false;
  $("advance-table").hidden = true;
  $("conflict-panel").hidden = true;
  $("audit-panel").hidden = true;
  $("open-audit").hidden = kind !== "legacy";
  $("action-result").textContent = "";
  for (const row of $("runs-body").rows) {
    row.classList.toggle("selected", row.dataset.testid === `run-row-${runId}`);
  }
  renderRunSummary(await api("GET", `/api/migration/runs/${runId}`));
  await Promise.all([loadItems(true), loadGroups()]);
}

async function refreshSelected() {
  await loadRuns();
  renderRunSummary(await api("GET", `/api/migration/runs/${view.runId}`));
  await Promise.all([loadItems(false), loadGroups()]);
}
hooks.refreshSelected = refreshSelected;
hooks.selectRun = selectRun;

// --- live ------------------------------------------------------------------------------------

function schedulePoll(active) {
  window.clearTimeout(live.timer);
  live.timer = null;
  $("auto-refresh").textContent = active ? "A run is active: refreshing every second." : "";
  if (!active) return;
  live.timer = window.setTimeout(() => loadRuns().catch(showError), POLL_MS);
}

// --- actions ---------------------------------------------------------------------------------

function batchBody() {
  const size = Number.parseInt($("batch-size").value, 10);
  return Number.isFinite(size) ? { batch_size: size } : {};
}

function showBatch(result) {
  $("advance-body").replaceChildren(...result.items.map((r) => h("tr", { testid: `advance-item-${r.item_id}` },
    h("td", {}, `#${r.item_id}`),
    h("td", {}, r.source_key),
    h("td", { testid: `advance-states-${r.item_id}` }, `${r.from_state} → ${r.to_state}`),
    h("td", {}, r.transitions.join(", ") || "—"),
    h("td", { testid: `advance-error-${r.item_id}` }, r.error_code ? `${r.error_code}: ${r.error || ""}` : "—"),
  )));
  $("advance-table").hidden = result.items.length === 0;
  renderRunSummary(result.status);
}

async function advance() {
  const result = await api("POST", `/api/migration/runs/${view.runId}/advance`, batchBody());
  showBatch(result);
  const s = result.status;
  $("action-result").textContent = result.items.length
    ? `Advanced ${result.items.length} item(s) of run #${result.run_id}: now ${s.done} / ${s.total} done.`
    : `Nothing to advance in run #${result.run_id}: ${s.done} / ${s.total} done, ${s.waiting} waiting.`;
  await loadRuns();
  await Promise.all([loadItems(false), loadGroups()]);
}

/** Advance batch after batch from the browser until nothing can move (or Stop). */
async function runToEnd() {
  live.running = true;
  live.stop = false;
  $("stop-run").hidden = false;
  let batches = 0;
  let result = null;
  try {
    while (!live.stop) {
      result = await api("POST", `/api/migration/runs/${view.runId}/advance`, batchBody());
      batches += 1;
      showBatch(result);
      await loadItems(false);
      if (result.status.finished || result.items.length === 0) break;
    }
  } finally {
    live.running = false;
    $("stop-run").hidden = true;
  }
  const s = result.status;
  $("action-result").textContent = live.stop
    ? `Stopped after ${batches} batch(es): ${s.done} / ${s.total} done.`
    : `Ran ${batches} batch(es): ${s.done} / ${s.total} done, ${s.waiting} waiting.`;
  await loadRuns();
  await loadGroups();
}

async function retryAll() {
  const result = await api("POST", `/api/migration/runs/${view.runId}/retry`);
  $("action-result").textContent = result.retried.length
    ? `Retried ${result.retried.length} failed item(s): #${result.retried.join(", #")}.`
    : `No failed items to retry in run #${view.runId}.`;
  await refreshSelected();
}

async function startPromotion() {
  const raw = $("promotion-ids").value.trim();
  const body = { kind: "promotion" };
  if (raw) {
    const ids = raw.split(/[\s,]+/).filter(Boolean).map(Number);
    if (ids.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new Error(`Pending model ids must be positive whole numbers, got "${raw}".`);
    }
    body.ids = ids;
  }
  if ($("promotion-strategy").value) body.strategy = $("promotion-strategy").value;
  const run = await api("POST", "/api/migration/runs", body);
  await loadRuns();
  await selectRun(run.id, run.kind);
  $("action-result").textContent = `Started ${run.kind} run #${run.id}.`;
}

// --- wiring ----------------------------------------------------------------------------------

function init() {
  const filter = $("state-filter");
  filter.append(...STATES.map((s) => h("option", { value: s }, s)));
  $("promotion-form").addEventListener("submit", handler(startPromotion));
  $("refresh-runs").addEventListener("click", handler(loadRuns));
  $("advance-batch").addEventListener("click", handler(advance));
  $("run-to-end").addEventListener("click", handler(runToEnd));
  $("stop-run").addEventListener("click", () => { live.stop = true; });
  $("retry-all").addEventListener("click", handler(retryAll));
  $("open-audit").addEventListener("click", handler(() => openAudit(view.runId)));
  $("items-first").addEventListener("click", handler(() => loadItems(true)));
  $("items-next").addEventListener("click", handler(nextPage));
  filter.addEventListener("change", handler(() => setFilters({ state: filter.value })));
  $("type-filter").addEventListener("change", handler(() => setFilters({ type: $("type-filter").value })));
  $("name-search").addEventListener("change", handler(() => setFilters({ query: $("name-search").value })));
  $("token-form").addEventListener("submit", handler(async () => {
    setToken($("token-input").value.trim());
    await loadRuns();
    $("token-form").hidden = true;
  }));
  initPreflight({ afterStart: async (run) => {
    await loadRuns();
    await selectRun(run.id, run.kind);
  } });
  initConflict();
  initAudit();
  window.addEventListener("error", (event) => showError(event.error || event.message));
  window.addEventListener("unhandledrejection", (event) => showError(event.reason));
  document.body.dataset.ready = "1";
  document.body.dataset.loadedAt = String(Date.now());
  clearError();
  loadRuns().catch(showError);
}

init();
