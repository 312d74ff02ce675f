"""``model-migrate verify [RUN] [--deep] [--json]``: the audit of a stage-1 run.

Exit codes: 0 every legacy row accounted for and nothing inconsistent; 3 decisions pending
(conflicts to resolve, failures to retry); 1 any inconsistency (each printed with its fix);
2 bad input (no such run, legacy DB unreadable).
"""

from __future__ import annotations

import sys
from collections import Counter

import click
from rich.console import Console
from rich.table import Table

from backend.cli.context import service_for
from backend.database.migration.audit.records import (
    RERUN,
    RERUN_RECIPE,
    AuditProblem,
    AuditReport,
)

SHOWN = 200
"""Problems printed in the human output (all of them are in ``--json``)."""


@click.command()
@click.argument("run_id", required=False, type=int)
@click.option("--deep", is_flag=True, help="Also decode every tier file (slower).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def verify(ctx: click.Context, run_id: int | None, deep: bool, as_json: bool) -> None:
    """Audit a stage-1 run (default: the newest): account for every legacy row."""
    with service_for(ctx) as service:
        report = service.audit(run_id, deep=deep)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        print_audit(Console(), report)
    sys.exit(report.exit_code)


def print_audit(out: Console, report: AuditReport) -> None:
    """The report for a person: outcomes, decisions, problems with fixes, the summary line."""
    out.print(f"[bold]Audit of run {report.run_id}[/bold]  legacy DB {report.legacy_db}")
    outcomes = Table("outcome", "legacy rows", title="Where the legacy rows went")
    for outcome, count in sorted(report.outcomes.items()):
        outcomes.add_row(outcome, str(count))
    out.print(outcomes)
    bad = Counter(b.code for row in report.rows for b in row.bad_images)
    if bad or report.combined_rows:
        notes = ", ".join(f"{n} {code}" for code, n in sorted(bad.items()))
        if notes:
            out.print(f"bad legacy images (migrated without them, as designed): {notes}")
        if report.combined_rows:
            out.print(
                f"{report.combined_rows} row(s) combined by override/merge: fields may differ,"
                " tags checked as a superset"
            )
    if report.needs_decision:
        table = Table("legacy id", "item", "state", "why", "what to run", title="Needs a decision")
        for need in report.needs_decision:
            table.add_row(
                str(need.legacy_id),
                str(need.item_id),
                need.state,
                need.reason,
                "\n".join(need.commands),
            )
        out.print(table)
    problems = report.problems()
    if problems:
        _print_problems(out, problems)
    c = report.counts
    out.print(
        f"checked {c.models_checked} models, {c.pending_checked} pending models,"
        f" {c.tier_files_checked} tier files ({c.tier_files_decoded} decoded),"
        f" {c.files_listed} directory entries in {c.seconds:.2f} s"
    )
    colour = "green" if report.ok else ("yellow" if report.exit_code == 3 else "red")
    out.print(f"[bold {colour}]{report.summary}[/bold {colour}]")


def _print_problems(out: Console, problems: list[AuditProblem]) -> None:
    table = Table("legacy id / file", "code", "problem", "what to do", title="Inconsistencies")
    for problem in problems[:SHOWN]:
        where = str(problem.legacy_id) if problem.legacy_id is not None else (problem.file or "")
        table.add_row(where, problem.code, problem.message, problem.fix)
    out.print(table)
    if len(problems) > SHOWN:
        out.print(f"… and {len(problems) - SHOWN} more (see --json)")
    if any(RERUN in p.fix for p in problems):
        out.print(RERUN_RECIPE)
