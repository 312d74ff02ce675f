"""Records of the audit: where every legacy row went, and what in the library is inconsistent.

Every inconsistency is an :class:`AuditProblem` with a stable ``code``, a message naming the
row or file, and a ``fix`` that says what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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

Verdict = Literal["clean", "decisions_pending", "inconsistent"]
"""``inconsistent``: a problem, or a row not accounted for; ``decisions_pending``: conflicts to
resolve or failures to retry, nothing else; ``clean``: neither."""


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
    """Every legacy row, by legacy id (empty when the caller took them one by one instead)."""
    library_problems: list[AuditProblem]
    problem_count: int
    counts: AuditCounts
    summary: str
    verdict: Verdict
    ok: bool

    def problems(self) -> list[AuditProblem]:
        """Every problem: per-row ones first (by legacy id), then library-wide ones."""
        return [p for row in self.rows for p in row.problems] + list(self.library_problems)


@dataclass
class RowTally:
    """What the report keeps of the rows once they have been handed on."""

    rows: int = 0
    accounted: int = 0
    problems: int = 0
    combined: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    needs: list[NeedsDecision] = field(default_factory=list)

    def add(self, row: RowAudit) -> None:
        """Count one audited row."""
        self.rows += 1
        self.accounted += row.outcome in ACCOUNTED
        self.problems += len(row.problems)
        self.combined += row.combined_by is not None
        self.outcomes[row.outcome] = self.outcomes.get(row.outcome, 0) + 1


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
    tally: RowTally,
    rows: list[RowAudit],
    library_problems: list[AuditProblem],
    counts: AuditCounts,
    **run: Any,
) -> AuditReport:
    """Assemble the report: outcomes, the verdict and the summary line; ``run`` holds run_id,
    legacy_db, images_dir and deep."""
    problem_count = tally.problems + len(library_problems)
    verdict: Verdict = "clean"
    if problem_count or tally.accounted < tally.rows:
        verdict = "inconsistent"
    elif tally.needs:
        verdict = "decisions_pending"
    return AuditReport(
        **run,
        legacy_rows=tally.rows,
        accounted=tally.accounted,
        outcomes=dict(sorted(tally.outcomes.items())),
        combined_rows=tally.combined,
        needs_decision=tally.needs,
        rows=rows,
        library_problems=library_problems,
        problem_count=problem_count,
        counts=counts,
        summary=summary_line(tally.accounted, tally.rows, tally.needs, problem_count),
        verdict=verdict,
        ok=verdict == "clean",
    )
