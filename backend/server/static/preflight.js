// Start with a preview: the legacy form first asks the server what the migration will meet
// (read-only preflight), shows it, and starts the run only when the person confirms.
import { $, api, h, handler, plural } from "./core.js";

const COUNTS = [
  ["models", "legacy models"],
  ["valid_hashes", "with a valid SHA-256"],
  ["uppercase_hashes", "with an upper-case SHA-256 (stored lower-case)"],
  ["missing_hashes", "without a hash (staged as pending models)"],
  ["invalid_hashes", "with an invalid hash (staged as pending models)"],
  ["duplicate_hashes", "sharing a hash with a lower legacy id (conflicts)"],
  ["tags", "tags"],
  ["images_referenced", "images referenced"],
  ["images_missing", "images missing"],
  ["images_outside", "image URLs outside the images folder"],
  ["model_files_missing", "model files missing (metadata still migrates)"],
  ["extra_invalid", "rows whose user data is not valid JSON"],
  ["fields_invalid", "rows with invalid fields"],
];
const KNOWN = new Set([...COUNTS.map(([key]) => key), "db_path", "images_dir", "schema_version", "warnings"]);

let pending = null; // the request body confirmed by "Start the migration"

function formBody() {
  const body = {
    kind: "legacy",
    legacy_db_path: $("legacy-db-path").value.trim(),
    legacy_images_dir: $("legacy-images-dir").value.trim(),
  };
  if ($("legacy-on-conflict").value) body.on_conflict = $("legacy-on-conflict").value;
  return body;
}

function summary(report, onConflict) {
  const staged = (report.missing_hashes || 0) + (report.invalid_hashes || 0);
  const hashed = (report.valid_hashes || 0) + (report.uppercase_hashes || 0);
  const duplicates = report.duplicate_hashes || 0;
  const conflicts = onConflict
    ? `${plural(duplicates, "duplicate", "duplicates")} decided with ${onConflict}`
    : `${plural(duplicates, "model waits", "models wait")} as a conflict for you to decide`;
  return `${plural(report.models, "legacy model", "legacy models")}: ${hashed - duplicates} will be imported ` +
    `into the library, ${staged} staged as pending models (no valid hash), ${conflicts}.`;
}

/** Any object-valued field the report grows (e.g. a type mapping) as a small table. */
function extraTables(report) {
  return Object.entries(report)
    .filter(([key, value]) => !KNOWN.has(key) && value && typeof value === "object" && !Array.isArray(value))
    .map(([key, value]) => h("table", { testid: `preflight-${key}` },
      h("caption", {}, key.replaceAll("_", " ")),
      h("tbody", {}, Object.entries(value).map(([from, to]) => h("tr", {},
        h("td", {}, from), h("td", {}, typeof to === "object" ? JSON.stringify(to) : String(to)))))));
}

async function preview() {
  const body = formBody();
  const params = new URLSearchParams({
    legacy_db_path: body.legacy_db_path, legacy_images_dir: body.legacy_images_dir,
  });
  pending = null;
  $("preflight-panel").hidden = true;
  const report = await api("GET", `/api/migration/preflight?${params}`);
  pending = body;
  $("preflight-heading").textContent = `What migrating ${report.db_path} will meet`;
  $("preflight-summary").textContent = summary(report, body.on_conflict);
  $("preflight-counts").replaceChildren(...COUNTS.filter(([key]) => key in report).map(([key, text]) =>
    h("tr", { className: report[key] && key !== "models" && key !== "valid_hashes" && key !== "tags"
      && key !== "images_referenced" ? "notable" : null },
    h("td", { className: "num", testid: `preflight-${key}` }, report[key]), h("td", {}, text))));
  const tables = extraTables(report);
  $("preflight-types").replaceChildren(...tables);
  $("preflight-types").hidden = tables.length === 0;
  $("preflight-problems").replaceChildren(...(report.warnings.length
    ? report.warnings.map((w, i) => h("li", { testid: `preflight-problem-${i}` }, w))
    : [h("li", { className: "muted" }, "No problems found.")]));
  $("preflight-panel").hidden = false;
  $("preflight-panel").focus();
}

export function initPreflight({ afterStart }) {
  const start = async () => {
    if (!pending) return;
    const body = pending;
    const run = await api("POST", "/api/migration/runs", body);
    pending = null;
    $("preflight-panel").hidden = true;
    await afterStart(run);
    $("action-result").textContent = `Started ${run.kind} run #${run.id}` + (run.resumed ? " (resumed)" : "") + ".";
  };
  $("legacy-form").addEventListener("submit", handler(preview));
  $("confirm-legacy").addEventListener("click", handler(start));
  $("cancel-legacy").addEventListener("click", () => {
    pending = null;
    $("preflight-panel").hidden = true;
  });
}
