// The run's items as models: picture, name, type, state, warnings; filters and keyset paging;
// an item's history.
import { $, api, formatTime, h, handler, label, newest, thumb, view } from "./core.js";
import { openConflict } from "./conflict.js";

/** Set by dashboard.js: refresh the selected run after an action, select a run. */
export const hooks = { refreshSelected: async () => {}, selectRun: async () => {} };

const knownTypes = new Set();

function pageSize() {
  const n = Number.parseInt($("page-size").value, 10);
  return Number.isFinite(n) && n >= 1 ? Math.min(n, 1000) : 50;
}

/** Load a page of items: the first one (reset) or the current one again. */
export async function loadItems(reset) {
  if (view.runId === null) return;
  if (reset) view.pageStarts = [null];
  const after = view.pageStarts[view.pageStarts.length - 1];
  const params = new URLSearchParams({ limit: String(pageSize()) });
  if (view.filter) params.set("state", view.filter);
  if (view.type) params.set("type", view.type);
  if (view.query) params.set("q", view.query);
  if (after !== null) params.set("after", String(after));
  await newest("items", () => api("GET", `/api/migration/runs/${view.runId}/items?${params}`), (page) => {
    view.nextAfter = page.next_after;
    renderItems(page.items);
  });
}

export async function nextPage() {
  if (view.nextAfter === null) return;
  view.pageStarts.push(view.nextAfter);
  await loadItems(false);
}

export async function setFilters(changes) {
  if ("state" in changes) view.filter = changes.state;
  if ("type" in changes) view.type = changes.type.trim();
  if ("query" in changes) view.query = changes.query.trim();
  await loadItems(true);
}

/** Warnings as short labels (the message is the label's tooltip); repeated codes counted. */
export function warningLabels(item) {
  if (!item.warnings.length) return "—";
  const byCode = new Map();
  for (const w of item.warnings) {
    const seen = byCode.get(w.code) || [];
    seen.push(w.message);
    byCode.set(w.code, seen);
  }
  return h("div", { className: "labels" }, [...byCode].map(([code, messages]) => label(
    messages.length > 1 ? `${code} ×${messages.length}` : code,
    { className: "label warn", title: messages.join("\n"), testid: `warning-${item.id}-${code}` },
  )));
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
    actions.push(h("button", {
      type: "button", className: "primary", testid: `compare-item-${item.id}`,
      "aria-label": `Compare and decide item ${item.id}`,
      onclick: handler(() => openConflict(item.id)),
    }, "Compare…"));
    const strategies = ["override", "merge", "ignore", ...(item.kind === "legacy" ? [] : ["delete"])];
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

function sourceText(item) {
  return item.kind === "legacy" ? `legacy row ${item.source_key}` : `pending model ${item.source_key}`;
}

function renderItems(items) {
  for (const item of items) if (item.type) knownTypes.add(item.type);
  $("known-types").replaceChildren(...[...knownTypes].sort().map((t) => h("option", { value: t })));
  $("items-body").replaceChildren(...items.map((item) => h("tr", { testid: `item-row-${item.id}` },
    h("td", { className: "pic" }, thumb(item.thumbnail, item.name || `item ${item.id}`,
      { testid: `item-thumb-${item.id}` })),
    h("td", {},
      h("div", { className: "name", testid: `item-name-${item.id}` }, item.name || "(unknown model)"),
      h("div", { className: "muted small" }, `item #${item.id} · ${sourceText(item)}`)),
    h("td", { testid: `item-type-${item.id}` }, item.type || "—"),
    h("td", { testid: `item-state-${item.id}` },
      h("span", { className: `swatch s-${item.state}` }), h("span", { className: "state" }, item.state)),
    h("td", { testid: `item-warnings-${item.id}` }, warningLabels(item)),
    h("td", { testid: `item-error-${item.id}` },
      item.last_error_code ? `${item.last_error_code}: ${item.last_error || ""}` : "—"),
    h("td", {}, itemActions(item)),
  )));
  $("items-empty").hidden = items.length > 0;
  $("items-empty").textContent = view.type || view.query
    ? "No models match these filters." : "No items in this state.";
  $("items-next").disabled = view.nextAfter === null;
  const filter = view.filter ? `state ${view.filter}` : "all states";
  const more = (view.type ? ` · type ${view.type}` : "") + (view.query ? ` · name contains “${view.query}”` : "");
  $("items-page").textContent =
    `Page ${view.pageStarts.length} · ${items.length} item(s) · ${filter}${more}` +
    (view.nextAfter === null ? " · last page" : "");
}

export async function showItem(itemId) {
  const detail = await api("GET", `/api/migration/items/${itemId}`);
  const item = detail.item;
  $("item-panel").hidden = false;
  $("item-heading").textContent = `${item.name || "Item"} — item #${item.id} (run #${item.run_id}, ${sourceText(item)})`;
  const fields = [
    ["state", item.state], ["type", item.type || "—"], ["kind", item.kind], ["sha256", item.sha256 || "—"],
    ["attempts", `${item.attempts} / ${item.max_attempts}`],
    ["failed from", item.failed_from_state || "—"], ["strategy", item.strategy || "—"],
    ["last error", item.last_error_code ? `${item.last_error_code}: ${item.last_error}` : "—"],
    ["warnings", item.warnings.length ? h("ul", { className: "warnings" }, item.warnings.map((w) =>
      h("li", {}, `${w.code}: ${w.message}`))) : "—"],
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

export async function retryItem(itemId) {
  const result = await api("POST", `/api/migration/items/${itemId}/retry`);
  $("action-result").textContent = `Retried item #${result.retried.join(", #")}: back in the queue.`;
  await hooks.refreshSelected();
}

export async function resolveItem(itemId, strategy) {
  const item = await api("POST", `/api/migration/items/${itemId}/resolve`, { strategy });
  $("action-result").textContent = `Resolved item #${item.id} with ${strategy}: now ${item.state}.`;
  await hooks.refreshSelected();
  return item;
}
