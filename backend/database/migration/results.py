"""Records the service returns about runs, items, and batch results."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from backend.database.migration.records import ItemWarning, Prompts, Record
from backend.database.migration.run_records import RunKind as RunKind
from backend.database.migration.run_records import RunStatusRecord as RunStatusRecord


class RunRecord(Record):
    """A migration run as created."""

    id: int
    kind: RunKind
    source_fingerprint: str
    options: dict[str, Any]
    created_at: float
    finished_at: float | None = None
    resumed: bool = False
    backup_path: str | None = None


class EventRecord(Record):
    """One transition of an item."""

    id: int
    item_id: int
    seq: int
    trigger: str
    from_state: str
    to_state: str
    attempt: int
    error_code: str | None = None
    error: str | None = None
    at: float
    detail: dict[str, Any] = Field(default_factory=dict)


class ItemRecord(Record):
    """One item of a run: the persisted state machine of one legacy row or pending model."""

    id: int
    run_id: int
    kind: RunKind
    source_key: str
    sha256: str | None
    state: str
    failed_from_state: str | None
    attempts: int
    max_attempts: int
    strategy: str | None
    last_error_code: str | None
    last_error: str | None
    warnings: list[ItemWarning]
    artifacts: dict[str, Any]
    name: str | None = None
    """The model's name as a person knows it (library model, pending row or legacy row)."""
    type: str | None = None
    """The model's type: the v2 library tab it appears under."""
    thumbnail: str | None = None
    """An image reference (see :data:`IMAGE_REF_HELP`), or None when the model has none."""


class ItemDetail(Record):
    """An item with its full event history."""

    item: ItemRecord
    events: list[EventRecord]


class ItemPage(Record):
    """A keyset page of items; pass ``next_after`` as ``after`` for the next page."""

    items: list[ItemRecord]
    next_after: int | None


class ItemReportRecord(Record):
    """What one batch did to one item."""

    item_id: int
    source_key: str
    from_state: str
    to_state: str
    transitions: list[str]
    error_code: str | None = None
    error: str | None = None


class AdvanceResult(Record):
    """Per-item result of one batch, and the run's status after it."""

    run_id: int
    items: list[ItemReportRecord]
    status: RunStatusRecord


class RetryResult(Record):
    """Items put back to the state they failed from."""

    retried: list[int]


class ConflictEntry(Record):
    """A pending model that collides with a library model (v2 shape)."""

    pending: dict[str, Any]
    existing: dict[str, Any]


class FailedEntry(Record):
    """A requested id that could not be promoted (v2 shape)."""

    id: Any
    error: str


class PromotionResult(Record):
    """Per-item result of a promotion batch, in the v2 ``import_models`` shape plus the run."""

    run_id: int | None
    total: int
    success: list[int] = Field(default_factory=list)
    conflict: list[ConflictEntry] = Field(default_factory=list)
    ignored: list[int] = Field(default_factory=list)
    deleted: list[int] = Field(default_factory=list)
    failed: list[FailedEntry] = Field(default_factory=list)


class ScanResult(Record):
    """What a scan of model folders found."""

    scanned: int
    added: int
    skipped: int
    added_paths: list[str] = Field(default_factory=list)


class LegacyMigrationResult(Record):
    """Result of a whole stage-1 run, in the v2 ``migrate_legacy_db`` shape plus the run."""

    status: str
    run_id: int
    db_migration: dict[str, int]
    counts: dict[str, int]
    backup_path: str | None = None


class HealthRecord(Record):
    """Whether the library database answers, and at which schema revision."""

    ok: bool
    database: bool
    schema_revision: str | None
    head_revision: str


IMAGE_REF_HELP = (
    "An image of the library data folder: `images/<sha256>_<seq>_<tier>.webp` (a published"
    " tier), `pending/<file>` (an original in images/pending) or `legacy/<run>/<file>` (an"
    " image in that legacy run's images folder); the dashboard serves each read-only."
)


class ModelSide(Record):
    """One side of a conflict: the library's model or the incoming one."""

    source: str
    """Where it comes from: ``library``, ``legacy row N`` or ``pending model N``."""
    sha256: str
    name: str
    type: str
    path: str
    size_bytes: int | None
    tags: list[str]
    description: str
    community_links: str
    prompts: Prompts
    images_count: int
    images: list[str] = Field(description=IMAGE_REF_HELP)


FieldValue = str | int | list[str] | None


class FieldChange(Record):
    """A field of the library model that a strategy would change."""

    field: str
    before: FieldValue
    after: FieldValue


class StrategyPreview(Record):
    """What one strategy would do: the library model afterwards and the fields it changes."""

    strategy: str
    allowed: bool
    summary: str
    result: ModelSide | None = None
    """The library model after the decision (None when the strategy is not allowed)."""
    changes: list[FieldChange] = Field(default_factory=list)


class ConflictPreview(Record):
    """A conflicted item: the two models side by side and every strategy's outcome."""

    item_id: int
    run_id: int
    kind: str
    library: ModelSide
    incoming: ModelSide
    strategies: list[StrategyPreview]
