"""Records of the audit: where every legacy row went, and what in the library is inconsistent.

Every inconsistency is an :class:`AuditProblem` with a stable ``code``, a message naming the
row or file, and a ``fix`` that says what to do about it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backend.database.migration.records import Record

Outcome = Literal[
    "model", "pending", "conflicted", "failed", "ignored", "deleted", "unfinished", "missing"
]
"""Where a legacy row went. ``model``: a library model (directly, or after its staged pending
row was promoted in stage 2); ``pending``: a pending_import row waiting for stage 2;
``conflicted`` / ``failed``: waiting for a person; ``ignored`` / ``deleted``: ended by a
decision; ``unfinished``: its item is still being worked on; ``missing``: nowhere (its item,
model or pending row is gone — always with a problem saying what to do)."""

ACCOUNTED: frozenset[str] = frozenset(
    {"model", "pending", "conflicted", "failed", "ignored", "deleted"}
)
"""Outcomes that account for a legacy row (we can say exactly where it is)."""

EXIT_CLEAN, EXIT_INCONSISTENT, EXIT_DECISIONS = 0, 1, 3

RERUN = "re-run stage 1 on a copy of the legacy DB"
"""The phrase fixes use; :data:`RERUN_RECIPE` spells it out once."""
RERUN_RECIPE = (
    "To re-run stage 1 on a copy of the legacy DB: `cp LEGACY.sqlite3 COPY.sqlite3 &&"
    " model-migrate legacy COPY.sqlite3 LEGACY_IMAGES_DIR` (a copy is a new run). It rewrites"
    " every model from its legacy row and re-renders its images: edits made in the v2 library to"
    " those models are lost, and rows without a valid hash are staged again as pending models"
    " (delete those that were already promoted). The library is backed up first."
)


class AuditProblem(Record):
    """One inconsistency: what is wrong, where, and what to do."""

    code: str
    message: str
    fix: str
    legacy_id: int | None = None
    file: str | None = None


class Decision(Record):
    """A person's (or ``--on-conflict``'s) decision recorded in an item's history."""

    item_id: int
    run_id: int
    strategy: str
    at: float
    """Unix time of the ``resolve`` event."""
    at_iso: str


class ConflictWith(Record):
    """The model a conflicted row collides with."""

    sha256: str
    legacy_id: int | None = None
    """The lower legacy id that owns the hash, when the collision is within the legacy DB."""
    existing_path: str | None = None
    model_exists: bool


class ImageNote(Record):
    """A warning recorded while migrating the row (a bad image, a missing model file...)."""

    code: str
    file: str | None = None
    message: str


class RowAudit(Record):
    """One legacy row: where it went and what is wrong with what it became."""

    legacy_id: int
    item_id: int | None = None
    state: str | None = None
    outcome: Outcome
    sha256: str | None = None
    pending_id: int | None = None
    promoted_by_item: int | None = None
    """Stage-2 item that promoted the row's pending model."""
    conflict_with: ConflictWith | None = None
    error_code: str | None = None
    error: str | None = None
    decision: Decision | None = None
    combined_by: str | None = None
    """``override`` or ``merge`` when the model also holds another source's data, so fields
    may legitimately differ from this row and its tags are checked as a superset."""
    images_count: int | None = None
    images_expected: int | None = None
    bad_images: list[ImageNote] = Field(default_factory=list)
    notes: list[ImageNote] = Field(default_factory=list)
    problems: list[AuditProblem] = Field(default_factory=list)


class NeedsDecision(Record):
    """A row that waits for a person: a conflict to resolve or a failure to retry."""

    legacy_id: int
    item_id: int
    run_id: int
    state: Literal["conflicted", "failed"]
    reason: str
    commands: list[str]


class AuditCounts(Record):
    """How much the audit looked at."""

    models_checked: int = 0
    pending_checked: int = 0
    tier_files_checked: int = 0
    tier_files_decoded: int = 0
    files_listed: int = 0
    seconds: float = 0.0


class AuditReport(Record):
    """The audit of one stage-1 run against the library as it is now."""

    run_id: int
    legacy_db: str
    images_dir: str
    deep: bool
    legacy_rows: int
    accounted: int
    outcomes: dict[str, int]
    combined_rows: int
    needs_decision: list[NeedsDecision]
    rows: list[RowAudit]
    library_problems: list[AuditProblem]
    problem_count: int
    counts: AuditCounts
    summary: str
    ok: bool
    exit_code: int

    def problems(self) -> list[AuditProblem]:
        """Every problem: per-row ones first (by legacy id), then library-wide ones."""
        return [p for row in self.rows for p in row.problems] + list(self.library_problems)


def summary_line(accounted: int, total: int, needs: list[NeedsDecision], problems: int) -> str:
    """The one line a person can trust: "N of N legacy models accounted for; K need a decision"."""
    ids = sorted({n.legacy_id for n in needs})
    shown = ", ".join(str(i) for i in ids[:10])
    if len(ids) > 10:
        shown += f", … (+{len(ids) - 10} more)"
    verb = "needs" if len(ids) == 1 else "need"
    text = f"{accounted} of {total} legacy models accounted for; {len(ids)} {verb} a decision"
    if ids:
        text += f" (legacy {'id' if len(ids) == 1 else 'ids'} {shown})"
    if problems:
        text += f"; {problems} inconsistenc{'y' if problems == 1 else 'ies'} to fix"
    return text


def build_report(
    *,
    run_id: int,
    legacy_db: str,
    images_dir: str,
    deep: bool,
    rows: list[RowAudit],
    needs: list[NeedsDecision],
    library_problems: list[AuditProblem],
    counts: AuditCounts,
) -> AuditReport:
    """Assemble the report: outcomes, the exit code (1 > 3 > 0) and the summary line."""
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    accounted = sum(1 for r in rows if r.outcome in ACCOUNTED)
    problem_count = sum(len(r.problems) for r in rows) + len(library_problems)
    if problem_count or accounted < len(rows):
        exit_code = EXIT_INCONSISTENT
    elif needs:
        exit_code = EXIT_DECISIONS
    else:
        exit_code = EXIT_CLEAN
    return AuditReport(
        run_id=run_id,
        legacy_db=legacy_db,
        images_dir=images_dir,
        deep=deep,
        legacy_rows=len(rows),
        accounted=accounted,
        outcomes=outcomes,
        combined_rows=sum(1 for r in rows if r.combined_by),
        needs_decision=needs,
        rows=rows,
        library_problems=library_problems,
        problem_count=problem_count,
        counts=counts,
        summary=summary_line(accounted, len(rows), needs, problem_count),
        ok=exit_code == EXIT_CLEAN,
        exit_code=exit_code,
    )
