"""How ``verify`` shows an audit: the report as streamed JSON, or tables for a person."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.table import Table

from backend.database.migration.audit.catalogue import RERUN
from backend.database.migration.audit.records import AuditProblem, AuditReport, RowAudit

SHOWN = 200
"""Problems printed in the human output (all of them are in ``--json``)."""
RERUN_RECIPE = (
    "To re-run stage 1 on a copy of the legacy DB: `cp LEGACY.sqlite3 COPY.sqlite3 &&"
    " model-migrate legacy COPY.sqlite3 LEGACY_IMAGES_DIR` (a copy is a new run). It rewrites"
    " every model from its legacy row and re-renders its images: edits made in the v2 library to"
    " those models are lost, and rows without a valid hash are staged again as pending models"
    " (delete those that were already promoted). The library is backed up first."
)


class JsonRows:
    """Writes the report as one JSON document, each row as soon as it is audited."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    def add(self, row: RowAudit) -> None:
        """One row of the ``rows`` array."""
        self.out.write('{\n  "rows": [\n    ' if self.count == 0 else ",\n    ")
        self.out.write(row.model_dump_json())
        self.count += 1

    def close(self, report: AuditReport) -> None:
        """The rest of the report after the rows."""
        rest = report.model_dump_json(indent=2, exclude={"rows"})
        head = '{\n  "rows": [],\n' if self.count == 0 else "\n  ],\n"
        self.out.write(head + rest.removeprefix("{\n") + "\n")
        self.out.flush()


@dataclass
class RowDigest:
    """What the human output needs of the rows: bad image codes and the first problems."""

    bad_images: Counter[str] = field(default_factory=Counter)
    problems: list[AuditProblem] = field(default_factory=list)
    more: int = 0
    rerun: bool = False

    def add(self, row: RowAudit) -> None:
        """Tally one row."""
        if row.bad_images:
            self.bad_images.update(b.code for b in row.bad_images)
        for p in row.problems:
            self.add_problem(p)

    def add_problem(self, p: AuditProblem) -> None:
        """Keep a problem for the table (the first SHOWN) or count it."""
        self.rerun = self.rerun or RERUN in p.fix
        if len(self.problems) < SHOWN:
            self.problems.append(p)
        else:
            self.more += 1


def print_audit(out: Console, report: AuditReport, rows: RowDigest | None = None) -> None:
    """The report for a person: outcomes, decisions, problems with fixes, the summary line."""
    if rows is None:
        rows = RowDigest()
        for row in report.rows:
            rows.add(row)
    for p in report.library_problems:
        rows.add_problem(p)
    out.print(f"[bold]Audit of run {report.run_id}[/bold]  legacy DB {report.legacy_db}")
    outcomes = Table("outcome", "legacy rows", title="Where the legacy rows went")
    for outcome, count in sorted(report.outcomes.items()):
        outcomes.add_row(outcome, str(count))
    out.print(outcomes)
    notes = ", ".join(f"{n} {code}" for code, n in sorted(rows.bad_images.items()))
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
    if rows.problems:
        _print_problems(out, rows)
    c = report.counts
    out.print(
        f"checked {c.models_checked} models, {c.pending_checked} pending models,"
        f" {c.tier_files_checked} tier files ({c.tier_files_decoded} decoded),"
        f" {c.files_listed} directory entries in {c.seconds:.2f} s"
    )
    colour = {"clean": "green", "decisions_pending": "yellow"}.get(report.verdict, "red")
    out.print(f"[bold {colour}]{report.summary}[/bold {colour}]")


def _print_problems(out: Console, rows: RowDigest) -> None:
    table = Table("legacy id / file", "code", "problem", "what to do", title="Inconsistencies")
    for problem in rows.problems:
        where = str(problem.legacy_id) if problem.legacy_id is not None else (problem.file or "")
        table.add_row(where, problem.code, problem.message, problem.fix)
    out.print(table)
    if rows.more:
        out.print(f"… and {rows.more} more (see --json)")
    if rows.rerun:
        out.print(RERUN_RECIPE)
