// Failures and warnings grouped by cause: per error or warning code, how many models, the
// message, which models, and "Retry these" for failures.
import { $, api, h, handler, label, newest, plural, view } from "./core.js";
import { hooks } from "./items.js";

const PAGE = 1000;
const MAX_PAGES = 50; // 50,000 items: beyond that the groups say they are partial
const SHOWN = 12;

async function everyItem(runId) {
  const all = [];
  let after = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (after !== null) params.set("after", String(after));
    const data = await api("GET", `/api/migration/runs/${runId}/items?${params}`);
    all.push(...data.items);
    after = data.next_after;
    if (after === null) return { items: all, partial: false };
  }
  return { items: all, partial: true };
}

function add(groups, key, kind, code, message, item) {
  if (!groups.has(key)) groups.set(key, { kind, code, messages: new Set(), items: [] });
  const group = groups.get(key);
  group.messages.add(message);
  if (!group.items.includes(item)) group.items.push(item);
}

/** Groups: failed items by error code, then warnings by code; largest first. */
export function groupItems(items) {
  const groups = new Map();
  for (const item of items) {
    if (item.state === "failed") {
      add(groups, `error:${item.last_error_code}`, "error", item.last_error_code, item.last_error || "", item);
    }
    for (const w of item.warnings) add(groups, `warning:${w.code}`, "warning", w.code, w.message, item);
  }
  return [...groups.values()].sort((a, b) =>
    (a.kind === b.kind ? b.items.length - a.items.length : a.kind === "error" ? -1 : 1));
}

function groupCard(group) {
  const id = `${group.kind}-${group.code}`;
  const messages = [...group.messages];
  const verb = group.kind === "error" ? "failed" : "warned";
  const names = group.items.slice(0, SHOWN).map((item) =>
    h("li", {}, item.name || `item #${item.id}`, h("span", { className: "muted" }, ` (item #${item.id})`)));
  if (group.items.length > SHOWN) names.push(h("li", { className: "muted" }, `… and ${group.items.length - SHOWN} more`));
  const retry = group.kind === "error" ? h("button", {
    type: "button", testid: `retry-group-${group.code}`,
    "aria-label": `Retry the ${group.items.length} models that failed with ${group.code}`,
    onclick: handler(() => retryGroup(group)),
  }, `Retry these ${group.items.length}`) : null;
  return h("article", { className: `group ${group.kind}`, testid: `group-${id}` },
    h("div", { className: "row" },
      label(group.code, { className: `label ${group.kind === "error" ? "bad" : "warn"}` }),
      h("strong", { testid: `group-count-${id}` }, `${plural(group.items.length, "model", "models")} ${verb}`),
      retry),
    h("p", { className: "message", testid: `group-message-${id}` }, messages[0]),
    messages.length > 1 ? h("p", { className: "muted" }, `(${messages.length} different messages; first shown)`) : null,
    h("ul", { className: "affected", testid: `group-models-${id}` }, names));
}

export async function loadGroups() {
  if (view.runId === null) return;
  const runId = view.runId;
  await newest("groups", () => everyItem(runId), ({ items, partial }) => {
    const groups = groupItems(items);
    $("groups-empty").hidden = groups.length > 0;
    $("groups").replaceChildren(
      ...(partial ? [h("p", { className: "muted" }, `Grouped from the first ${items.length} items only.`)] : []),
      ...groups.map(groupCard));
  });
}

/** Retry every failed item of a group through the item retry endpoint, one by one. */
async function retryGroup(group) {
  const retried = [];
  const refused = [];
  for (const item of group.items) {
    try {
      const result = await api("POST", `/api/migration/items/${item.id}/retry`);
      retried.push(...result.retried);
    } catch (err) {
      refused.push(`#${item.id}: ${err.message}`);
    }
  }
  $("action-result").textContent =
    `Retried ${plural(retried.length, "model", "models")} that failed with ${group.code}` +
    (retried.length ? `: #${retried.join(", #")}.` : ".") +
    (refused.length ? ` Not retried: ${refused.join("; ")}.` : "");
  await hooks.refreshSelected();
}
