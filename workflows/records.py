"""Plain dataclasses the engine hands out: work items, events, runs and run status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class WorkItem:
    """One persisted state machine, detached from the database.

    The machine fires on it; steps may change ``sha256``, ``artifacts``, ``warnings`` and
    ``strategy``, which the store writes together with the state change. ``version`` is the
    fencing token read at claim time.
    """

    id: int
    run_id: int
    kind: str
    source_key: str
    sha256: str | None
    state: str
    failed_from_state: str | None
    attempts: int
    max_attempts: int
    crashes: int
    strategy: str | None
    artifacts: dict[str, Any] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    last_error_code: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class EventRow:
    """One entry of an item's history; ``seq`` counts 1, 2, 3… per item."""

    id: int
    item_id: int
    seq: int
    trigger: str
    from_state: str
    to_state: str
    attempt: int
    error_code: str | None
    error: str | None
    at: float
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunInfo:
    """A migration run as stored."""

    id: int
    kind: str
    fingerprint: str
    options: dict[str, Any]
    created_at: float
    finished_at: float | None


@dataclass(frozen=True)
class RunStatus:
    """A run's progress, derived from its items with aggregate queries.

    ``remaining`` counts WORKING items; ``done`` FINAL ones; ``waiting`` conflicted + failed.
    ``rate`` is items that reached a FINAL state per second over the last minute.
    """

    run_id: int
    counts: dict[str, int]
    total: int
    done: int
    waiting: int
    remaining: int
    rate: float
    eta_seconds: float | None
    resumable: bool
    finished: bool


@dataclass(frozen=True)
class Wakeup:
    """When a run may next have a claimable item: ``at`` (None: no WORKING item left) and
    how many WORKING items are leased by live drivers right now (``leased``)."""

    at: float | None
    leased: int
