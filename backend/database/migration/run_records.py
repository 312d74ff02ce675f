"""What a run is (its kind) and its derived status, the record ``model-migrate status`` prints;
:mod:`backend.database.migration.results` re-exports both with the other records."""

from __future__ import annotations

from enum import StrEnum

from backend.database.migration.record import Record


class RunKind(StrEnum):
    """What a run migrates; values are the strings stored in ``migration_runs.kind``."""

    LEGACY = "legacy"
    """Stage 1: the rows of a legacy v1 library."""
    PROMOTION = "promotion"
    """Stage 2: pending models promoted into the library."""


class RunStatusRecord(Record):
    """Aggregate state of a run, derived from its items."""

    run_id: int
    kind: RunKind
    counts: dict[str, int]
    total: int
    done: int
    waiting: int
    remaining: int
    rate: float
    eta_seconds: float | None
    resumable: bool
    finished: bool
