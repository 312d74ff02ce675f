// A conflict side by side: the library's model and the incoming one, each strategy's result
// as the server computes it, and one click (or key) to decide.
import { $, STRATEGIES, api, formatSize, h, handler, label, thumb } from "./core.js";
import { resolveItem } from "./items.js";

const state = { itemId: null, preview: null, chosen: null };

const FIELDS = [
  ["name", "Name"], ["type", "Type"], ["path", "Path"], ["size_bytes", "Size"], ["tags", "Tags"],
  ["description", "Description"], ["community_links", "Links"],
  ["prompts.positive", "Positive prompt"], ["prompts.negative", "Negative prompt"],
  ["images_count", "Images"],
];

function value(model, field) {
  if (field.startsWith("prompts.")) return model.prompts[field.slice(8)];
  return model[field];
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function shown(field, v) {
  if (field === "size_bytes") return formatSize(v);
  if (field === "tags") return v.length ? h("span", { className: "labels" }, v.map((t) => label(t))) : "—";
  if (field === "images_count") return String(v);
  return v === "" || v === null || v === undefined ? "—" : String(v);
}

/** One model as a card: pictures, then its fields; `other` marks the fields that differ. */
function modelCard(model, other, prefix) {
  const pictures = model.images.slice(0, 6).map((ref, i) =>
    thumb(ref, `${model.name}, image ${i + 1}`, { className: "thumb big", testid: `${prefix}-image-${i}` }));
  const count = model.images.length > 6 ? h("span", { className: "muted" }, `+${model.images.length - 6} more`) : null;
  return [
    h("p", { className: "muted" }, h("span", { testid: `${prefix}-source` }, model.source),
      ` · sha256 ${model.sha256.slice(0, 12)}…`),
    h("div", { className: "pictures" }, pictures.length ? pictures : h("span", { className: "muted" }, "no images"), count),
    h("dl", { className: "record" }, FIELDS.flatMap(([field, title]) => {
      const differs = other && !same(value(model, field), value(other, field));
      return [
        h("dt", { className: differs ? "differs" : null }, title),
        h("dd", { className: differs ? "differs" : null, testid: `${prefix}-${field.replace(".", "-")}` },
          shown(field, value(model, field))),
      ];
    })),
  ];
}

function choose(strategy) {
  const preview = state.preview.strategies.find((s) => s.strategy === strategy);
  if (!preview || !preview.allowed) return;
  state.chosen = strategy;
  for (const button of $("strategy-buttons").children) {
    button.setAttribute("aria-checked", String(button.dataset.strategy === strategy));
  }
  const changes = preview.changes.length
    ? h("table", { testid: "preview-changes" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Now"),
        h("th", { scope: "col" }, "After"))),
      h("tbody", {}, preview.changes.map((c) => h("tr", { testid: `preview-change-${c.field.replace(".", "-")}` },
        h("td", {}, c.field), h("td", {}, shown(c.field, c.before)), h("td", {}, shown(c.field, c.after))))))
    : h("p", { className: "muted", testid: "preview-no-change" }, "The library model does not change.");
  $("strategy-preview").replaceChildren(
    h("p", { className: "result", testid: "preview-summary" }, preview.summary),
    changes,
    h("details", { open: true },
      h("summary", {}, "The library model afterwards"),
      h("div", { testid: "preview-result" }, modelCard(preview.result, state.preview.library, "result"))),
  );
  $("resolve-conflict").disabled = false;
  $("resolve-conflict").textContent = `Resolve with ${strategy}`;
}

export async function openConflict(itemId) {
  const preview = await api("GET", `/api/migration/items/${itemId}/conflict`);
  state.itemId = itemId;
  state.preview = preview;
  state.chosen = null;
  $("conflict-heading").textContent =
    `Conflict: ${preview.incoming.name} — item #${itemId} (${preview.incoming.source})`;
  $("conflict-library").replaceChildren(...modelCard(preview.library, preview.incoming, "library"));
  $("conflict-incoming").replaceChildren(...modelCard(preview.incoming, preview.library, "incoming"));
  $("strategy-buttons").replaceChildren(...preview.strategies.map((s, i) => h("button", {
    type: "button", role: "radio", "aria-checked": "false", testid: `strategy-${s.strategy}`,
    "data-strategy": s.strategy, disabled: !s.allowed, title: s.summary,
    "aria-keyshortcuts": String(i + 1), onclick: () => choose(s.strategy),
  }, `${i + 1} · ${s.strategy}`)));
  $("strategy-preview").replaceChildren(
    h("p", { className: "muted" }, "Choose a decision to see the library model it makes."));
  $("resolve-conflict").disabled = true;
  $("resolve-conflict").textContent = "Resolve";
  $("conflict-panel").hidden = false;
  $("conflict-panel").scrollIntoView({ block: "start" });
  $("conflict-panel").focus();
}

function closeConflict() {
  $("conflict-panel").hidden = true;
  state.itemId = null;
}

export function initConflict() {
  $("close-conflict").addEventListener("click", closeConflict);
  $("resolve-conflict").addEventListener("click", handler(async () => {
    if (!state.chosen) return;
    const itemId = state.itemId;
    closeConflict();
    await resolveItem(itemId, state.chosen);
  }));
  $("conflict-panel").addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
    if (event.key === "Escape") {
      closeConflict();
      return;
    }
    const index = Number.parseInt(event.key, 10) - 1;
    if (index >= 0 && index < STRATEGIES.length && state.preview) {
      choose(STRATEGIES[index]);
      if (state.chosen === STRATEGIES[index]) $("resolve-conflict").focus();
    }
  });
}
