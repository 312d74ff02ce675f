// Migration dashboard: talks to the public JSON API only (/api/migration/...).
// No framework, no build step. Text from the server is always set with textContent.
"use strict";

(() => {
  const STATES = [
    "pending", "imported", "images_processed", "tags_synced", "promoted",
    "staged", "conflicted", "failed", "ignored", "deleted",
  ];
  const STRATEGIES = ["override", "merge", "ignore", "delete"];
  const REFRESH_MS = 2000;
  const TOKEN_KEY = "model-migrate-token";

  const view = {
    runId: null, // the selected run
    runKind: null,
    filter: "",
    pageStarts: [null], // `after` of each page shown so far (keyset paging)
    nextAfter: null,
    refreshTimer: null,
    actions: 0, // handled user actions; body[data-actions] lets a test wait for one to finish
    token: window.sessionStorage.getItem(TOKEN_KEY),
  };

  const $ = (id) => document.getElementById(id);

  /** Build an element: h("td", {testid: "x", className: "y"}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "testid") el.dataset.testid = value;
      else if (key === "className") el.className = value;
      else if (key === "onclick") el.addEventListener("click", value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Call the API; a non-2xx answer becomes an ApiError carrying the API's error.message. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    // Every POST is JSON, even without a payload: the server refuses any other content type.
    const payload = method === "GET" ? undefined : JSON.stringify(body === undefined ? {} : body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (view.token) headers.Authorization = `Bearer ${view.token}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: payload,
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, "network_error", `Cannot reach the server: ${err.message}`);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 401) $("token-form").hidden = false;
      const detail = data && data.error;
      throw new ApiError(
        response.status,
        detail && detail.code ? detail.code : `http_${response.status}`,
        detail && detail.message ? detail.message : `${response.status} ${response.statusText}`,
      );
    }
    if (data === null) {
      throw new ApiError(response.status, "bad_response", "The server did not answer with JSON.");
    }
    return data;
  }

  function showError(err) {
    const box = $("error");
    if (err instanceof ApiError) {
      box.textContent = `Error: ${err.message}` + (err.status ? ` (${err.code}, HTTP ${err.status})` : "");
    } else {
      box.textContent = `Unexpected error in the page: ${err && err.message ? err.message : err}`;
    }
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
  }

  /** Wrap an event handler: prevent the default, show errors, disable the control meanwhile. */
  function handler(fn) {
    return async (event) => {
      event.preventDefault();
      const control = event.currentTarget;
      const button = control instanceof HTMLFormElement
        ? control.querySelector("button[type=submit]") : control;
      clearError();
      if (button) button.disabled = true;
      document.body.dataset.busy = "1";
      try {
        await fn(event);
      } catch (err) {
        showError(err);
      } finally {
        if (button) button.disabled = false;
        document.body.dataset.busy = "0";
        if (control === $("items-next")) control.disabled = view.nextAfter === null;
        view.actions += 1;
        document.body.dataset.actions = String(view.actions);
      }
    };
  }

  // --- formatting ------------------------------------------------------------------------------

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 1) return "< 1 s";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function formatRate(rate) {
    return `${rate.toFixed(rate >= 10 ? 0 : 1)} items/s`;
  }

  function formatTime(epoch) {
    return new Date(epoch * 1000).toLocaleString();
  }

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

  function countsList(status, list) {
    list.replaceChildren(...STATES.filter((s) => status.counts[s]).map((s) =>
      h("li", { testid: `count-${s}` }, h("span", { className: `swatch s-${s}` }), `${s}: ${status.counts[s]}`)));
  }

  // --- runs ------------------------------------------------------------------------------------

  function renderRuns(runs) {
    const body = $("runs-body");
    $("runs-empty").textContent = "No runs yet — start one below.";
    $("runs-empty").hidden = runs.length > 0;
    $("runs-table").hidden = runs.length === 0;
    body.replaceChildren(...runs.map((s) => h("tr",
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
    scheduleRefresh(runs.some((s) => !s.finished));
  }

  async function loadRuns() {
    const data = await api("GET", "/api/migration/runs");
    renderRuns(data.runs);
    return data.runs;
  }

  function scheduleRefresh(active) {
    window.clearTimeout(view.refreshTimer);
    view.refreshTimer = null;
    $("auto-refresh").textContent = active ? "A run is active: refreshing every 2 s." : "";
    if (!active) return;
    view.refreshTimer = window.setTimeout(async () => {
      try {
        await loadRuns();
      } catch (err) {
        showError(err);
      }
    }, REFRESH_MS);
  }

  function renderRunSummary(status) {
    $("run-heading").textContent = `Run #${status.run_id} (${status.kind})`;
    $("run-summary").textContent =
      `${status.done} / ${status.total} done · ${status.waiting} waiting · ${status.remaining} remaining · ` +
      `${formatRate(status.rate)} · ETA ${formatEta(status.eta_seconds)} · ` +
      `resumable: ${status.resumable ? "yes" : "no"} · ${runStatusText(status)}`;
    $("run-bar").replaceWith(Object.assign(stackedBar(status), { id: "run-bar" }));
    countsList(status, $("run-counts"));
  }

  async function selectRun(runId, kind) {
    view.runId = runId;
    view.runKind = kind;
    $("run-panel").hidden = false;
    $("advance-table").hidden = true;
    $("action-result").textContent = "";
    for (const row of $("runs-body").rows) {
      row.classList.toggle("selected", row.dataset.testid === `run-row-${runId}`);
    }
    renderRunSummary(await api("GET", `/api/migration/runs/${runId}`));
    await loadItems(true);
  }

  async function refreshSelected() {
    await loadRuns();
    renderRunSummary(await api("GET", `/api/migration/runs/${view.runId}`));
    await loadItems(false);
  }

  // --- items -----------------------------------------------------------------------------------

  function pageSize() {
    const n = Number.parseInt($("page-size").value, 10);
    return Number.isFinite(n) && n >= 1 ? Math.min(n, 1000) : 50;
  }

  /** Load a page of items: the first one (reset) or the current one again. */
  async function loadItems(reset) {
    if (reset) view.pageStarts = [null];
    const after = view.pageStarts[view.pageStarts.length - 1];
    const params = new URLSearchParams({ limit: String(pageSize()) });
    if (view.filter) params.set("state", view.filter);
    if (after !== null) params.set("after", String(after));
    const page = await api("GET", `/api/migration/runs/${view.runId}/items?${params}`);
    view.nextAfter = page.next_after;
    renderItems(page.items);
  }

  async function nextPage() {
    if (view.nextAfter === null) return;
    view.pageStarts.push(view.nextAfter);
    await loadItems(false);
  }

  function warningsList(warnings) {
    if (!warnings.length) return "—";
    return h("ul", { className: "warnings" }, warnings.map((w) =>
      h("li", {}, `${w.code}: ${w.message}`)));
  }

  function itemActions(item) {
    const actions = [h("button", {
      type: "button", testid: `show-item-${item.id}`, "aria-label": `History of item ${item.id}`,
      onclick: handler(() => showItem(item.id)),
    }, "History")];
    if (item.state === "failed") {
      actions.push(h("button", {
        type: "button", testid: `retry-item-${item.id}`, "aria-label": `Retry item ${item.id}`,
        onclick: handler(() => retryItem(item.id)),
      }, "Retry"));
    }
    if (item.state === "conflicted") {
      const strategies = item.kind === "legacy" ? STRATEGIES.filter((s) => s !== "delete") : STRATEGIES;
      const select = h("select", {
        testid: `resolve-strategy-${item.id}`, "aria-label": `Strategy for item ${item.id}`,
      }, strategies.map((s) => h("option", { value: s }, s)));
      actions.push(select, h("button", {
        type: "button", testid: `resolve-item-${item.id}`, "aria-label": `Resolve item ${item.id}`,
        onclick: handler(() => resolveItem(item.id, select.value)),
      }, "Resolve"));
    }
    return h("div", { className: "row" }, actions);
  }

  function renderItems(items) {
    $("items-body").replaceChildren(...items.map((item) => h("tr", { testid: `item-row-${item.id}` },
      h("td", {}, `#${item.id}`),
      h("td", {}, item.source_key),
      h("td", { testid: `item-state-${item.id}` },
        h("span", { className: `swatch s-${item.state}` }), h("span", { className: "state" }, item.state)),
      h("td", {}, `${item.attempts} / ${item.max_attempts}`),
      h("td", { testid: `item-error-${item.id}` },
        item.last_error_code ? `${item.last_error_code}: ${item.last_error || ""}` : "—"),
      h("td", { testid: `item-warnings-${item.id}` }, warningsList(item.warnings)),
      h("td", {}, itemActions(item)),
    )));
    $("items-empty").hidden = items.length > 0;
    $("items-next").disabled = view.nextAfter === null;
    const filter = view.filter ? `state ${view.filter}` : "all states";
    $("items-page").textContent =
      `Page ${view.pageStarts.length} · ${items.length} item(s) · ${filter}` +
      (view.nextAfter === null ? " · last page" : "");
  }

  async function showItem(itemId) {
    const detail = await api("GET", `/api/migration/items/${itemId}`);
    const item = detail.item;
    $("item-panel").hidden = false;
    $("item-heading").textContent = `Item #${item.id} (run #${item.run_id}, source ${item.source_key})`;
    const fields = [
      ["state", item.state], ["kind", item.kind], ["sha256", item.sha256 || "—"],
      ["attempts", `${item.attempts} / ${item.max_attempts}`],
      ["failed from", item.failed_from_state || "—"], ["strategy", item.strategy || "—"],
      ["last error", item.last_error_code ? `${item.last_error_code}: ${item.last_error}` : "—"],
      ["warnings", warningsList(item.warnings)],
      ["artifacts", h("pre", {}, JSON.stringify(item.artifacts, null, 2))],
    ];
    $("item-record").replaceChildren(...fields.flatMap(([name, value]) => [
      h("dt", {}, name), h("dd", { testid: `item-field-${name.replace(" ", "-")}` }, value),
    ]));
    $("events-body").replaceChildren(...detail.events.map((e) => h("tr", { testid: `event-${e.seq}` },
      h("td", {}, e.seq),
      h("td", {}, formatTime(e.at)),
      h("td", { testid: `event-trigger-${e.seq}` }, e.trigger),
      h("td", {}, `${e.from_state} → ${e.to_state}`),
      h("td", {}, e.attempt),
      h("td", {}, e.error_code ? `${e.error_code}: ${e.error || ""}` : "—"),
      h("td", {}, Object.keys(e.detail).length ? h("pre", {}, JSON.stringify(e.detail)) : "—"),
    )));
    $("item-panel").scrollIntoView({ block: "nearest" });
  }

  // --- actions ---------------------------------------------------------------------------------

  async function startLegacy() {
    const body = {
      kind: "legacy",
      legacy_db_path: $("legacy-db-path").value.trim(),
      legacy_images_dir: $("legacy-images-dir").value.trim(),
    };
    if ($("legacy-on-conflict").value) body.on_conflict = $("legacy-on-conflict").value;
    const run = await api("POST", "/api/migration/runs", body);
    await loadRuns();
    await selectRun(run.id, run.kind);
    $("action-result").textContent = `Started ${run.kind} run #${run.id}` + (run.resumed ? " (resumed)" : "") + ".";
  }

  async function startPromotion() {
    const raw = $("promotion-ids").value.trim();
    const body = { kind: "promotion" };
    if (raw) {
      const ids = raw.split(/[\s,]+/).filter(Boolean).map(Number);
      if (ids.some((n) => !Number.isInteger(n) || n < 1)) {
        throw new ApiError(0, "bad_input", `Pending model ids must be positive whole numbers, got "${raw}".`);
      }
      body.ids = ids;
    }
    if ($("promotion-strategy").value) body.strategy = $("promotion-strategy").value;
    const run = await api("POST", "/api/migration/runs", body);
    await loadRuns();
    await selectRun(run.id, run.kind);
    $("action-result").textContent = `Started ${run.kind} run #${run.id}.`;
  }

  async function advance() {
    const size = Number.parseInt($("batch-size").value, 10);
    const body = Number.isFinite(size) ? { batch_size: size } : {};
    const result = await api("POST", `/api/migration/runs/${view.runId}/advance`, body);
    $("advance-body").replaceChildren(...result.items.map((r) => h("tr", { testid: `advance-item-${r.item_id}` },
      h("td", {}, `#${r.item_id}`),
      h("td", {}, r.source_key),
      h("td", { testid: `advance-states-${r.item_id}` }, `${r.from_state} → ${r.to_state}`),
      h("td", {}, r.transitions.join(", ") || "—"),
      h("td", { testid: `advance-error-${r.item_id}` }, r.error_code ? `${r.error_code}: ${r.error || ""}` : "—"),
    )));
    $("advance-table").hidden = result.items.length === 0;
    const s = result.status;
    $("action-result").textContent = result.items.length
      ? `Advanced ${result.items.length} item(s) of run #${result.run_id}: now ${s.done} / ${s.total} done.`
      : `Nothing to advance in run #${result.run_id}: ${s.done} / ${s.total} done, ${s.waiting} waiting.`;
    renderRunSummary(s);
    await loadRuns();
    await loadItems(false);
  }

  async function retryItem(itemId) {
    const result = await api("POST", `/api/migration/items/${itemId}/retry`);
    $("action-result").textContent = `Retried item #${result.retried.join(", #")}: back in the queue.`;
    await refreshSelected();
  }

  async function retryAll() {
    const result = await api("POST", `/api/migration/runs/${view.runId}/retry`);
    $("action-result").textContent = result.retried.length
      ? `Retried ${result.retried.length} failed item(s): #${result.retried.join(", #")}.`
      : `No failed items to retry in run #${view.runId}.`;
    await refreshSelected();
  }

  async function resolveItem(itemId, strategy) {
    const item = await api("POST", `/api/migration/items/${itemId}/resolve`, { strategy });
    $("action-result").textContent = `Resolved item #${item.id} with ${strategy}: now ${item.state}.`;
    await refreshSelected();
  }

  // --- wiring ----------------------------------------------------------------------------------

  function init() {
    const filter = $("state-filter");
    filter.append(...STATES.map((s) => h("option", { value: s }, s)));
    $("legacy-form").addEventListener("submit", handler(startLegacy));
    $("promotion-form").addEventListener("submit", handler(startPromotion));
    $("refresh-runs").addEventListener("click", handler(loadRuns));
    $("advance-batch").addEventListener("click", handler(advance));
    $("retry-all").addEventListener("click", handler(retryAll));
    $("items-first").addEventListener("click", handler(() => loadItems(true)));
    $("items-next").addEventListener("click", handler(nextPage));
    filter.addEventListener("change", handler(() => {
      view.filter = filter.value;
      return loadItems(true);
    }));
    $("token-form").addEventListener("submit", handler(async () => {
      view.token = $("token-input").value.trim() || null;
      if (view.token) window.sessionStorage.setItem(TOKEN_KEY, view.token);
      await loadRuns();
      $("token-form").hidden = true;
    }));
    window.addEventListener("error", (event) => showError(event.error || event.message));
    window.addEventListener("unhandledrejection", (event) => showError(event.reason));
    document.body.dataset.ready = "1";
    loadRuns().catch(showError);
  }

  init();
})();
