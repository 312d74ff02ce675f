"""``model-migrate verify [RUN] [--deep] [--json]``: the audit of a stage-1 run.

Rows are printed (``--json``) or tallied as the audit hands them on, never all held at once.
Exit codes: 0 every legacy row accounted for and nothing inconsistent; 3 decisions pending
(conflicts to resolve, failures to retry); 1 any inconsistency (each printed with its fix);
2 bad input (no such run, legacy DB unreadable).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from backend.cli.context import service_for
from backend.cli.exits import ExitCode

if TYPE_CHECKING:
    from backend.database.migration.audit.records import AuditReport, Verdict

EXIT_CODES: dict[Verdict, ExitCode] = {
    "clean": ExitCode.OK,
    "decisions_pending": ExitCode.LEFT_OVER,
    "inconsistent": ExitCode.ERROR,
}


def exit_code(report: AuditReport) -> ExitCode:
    """What ``verify`` exits with for this report."""
    return EXIT_CODES[report.verdict]


@click.command()
@click.argument("run_id", required=False, type=int)
@click.option("--deep", is_flag=True, help="Also decode every tier file (slower).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def verify(ctx: click.Context, run_id: int | None, deep: bool, as_json: bool) -> None:
    """Audit a stage-1 run (default: the newest): account for every legacy row."""
    from rich.console import Console

    from backend.cli.report import JsonRows, RowDigest, print_audit

    rows: JsonRows | RowDigest = JsonRows(sys.stdout) if as_json else RowDigest()
    with service_for(ctx) as service:
        report = service.audit(run_id, deep=deep, on_row=rows.add)
    if isinstance(rows, JsonRows):
        rows.close(report)
    else:
        print_audit(Console(), report, rows)
    sys.exit(exit_code(report))
