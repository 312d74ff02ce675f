// The audit of a legacy run (what `model-migrate verify` prints): the one-line summary, where
// the rows went, what waits for a decision, and the problems grouped by kind with their fix.
import { $, api, h, label, plural } from "./core.js";

function problemGroups(report) {
  const groups = new Map();
  const problems = [...report.rows.flatMap((r) => r.problems), ...report.library_problems];
  for (const p of problems) {
    if (!groups.has(p.code)) groups.set(p.code, { code: p.code, fixes: new Set(), problems: [] });
    const group = groups.get(p.code);
    group.fixes.add(p.fix);
    group.problems.push(p);
  }
  return [...groups.values()].sort((a, b) => b.problems.length - a.problems.length);
}

function problemCard(group) {
  return h("article", { className: "group error", testid: `audit-group-${group.code}` },
    h("div", { className: "row" },
      label(group.code, { className: "label bad" }),
      h("strong", { testid: `audit-count-${group.code}` }, plural(group.problems.length, "problem", "problems"))),
    h("p", {}, h("strong", {}, "Fix: "), h("span", { testid: `audit-fix-${group.code}` }, [...group.fixes].join(" · "))),
    h("ul", { className: "affected" }, group.problems.slice(0, 20).map((p) => h("li", {},
      p.legacy_id !== null && p.legacy_id !== undefined ? `legacy id ${p.legacy_id}: ` : "",
      p.message))));
}

export async function openAudit(runId) {
  $("audit-heading").textContent = `Audit of run #${runId} — checking…`;
  const report = await api("GET", `/api/migration/runs/${runId}/audit`);
  $("audit-heading").textContent = `Audit of run #${runId}`;
  $("audit-summary").textContent = report.summary;
  $("audit-summary").className = `result ${report.ok ? "ok" : report.verdict === "decisions_pending" ? "attention" : "bad"}`;
  $("audit-outcomes").replaceChildren(...Object.entries(report.outcomes).map(([outcome, n]) =>
    h("li", { testid: `audit-outcome-${outcome}` }, `${outcome}: ${n}`)));
  $("audit-decisions").replaceChildren(...(report.needs_decision.length
    ? report.needs_decision.map((d) => h("li", { testid: `audit-decision-${d.legacy_id}` },
      label(d.state, { className: `label ${d.state === "failed" ? "bad" : "warn"}` }),
      ` legacy id ${d.legacy_id} (item #${d.item_id}): ${d.reason}`,
      d.commands.length ? h("div", {}, h("code", {}, d.commands.join("  |  "))) : null))
    : [h("li", { className: "muted" }, "Nothing waits for a decision.")]));
  const groups = problemGroups(report);
  $("audit-problems").replaceChildren(...(groups.length
    ? groups.map(problemCard)
    : [h("p", { className: "muted", testid: "audit-no-problems" }, "No inconsistency found.")]));
  $("audit-panel").hidden = false;
  $("audit-panel").scrollIntoView({ block: "start" });
  $("audit-panel").focus();
}

export function initAudit() {
  $("close-audit").addEventListener("click", () => { $("audit-panel").hidden = true; });
}
