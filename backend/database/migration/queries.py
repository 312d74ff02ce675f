"""Read-only use cases: health, runs, items and pending models as records."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from backend.database import schema
from backend.database.migration.errors import InvalidInputError, NotFoundError
from backend.database.migration.library import LibraryRepository
from backend.database.migration.mapping import STATES, run_record
from backend.database.migration.preview import conflict_preview as preview_conflict
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.resources import run_info
from backend.database.migration.results import (
    ConflictPreview,
    EventRecord,
    HealthRecord,
    ItemDetail,
    ItemPage,
    RunRecord,
    RunStatusRecord,
)
from backend.database.migration.run_reads import list_runs as read_runs
from backend.database.migration.runs import get_item
from backend.database.migration.summary import items_page, summarize
from backend.database.migration.wiring import Wiring


def health(wiring: Wiring) -> HealthRecord:
    """Whether the library database answers, and whether its schema is at head."""
    head = schema.head_revision()
    try:
        revision = schema.current_revision(wiring.engine)
    except SQLAlchemyError:
        return HealthRecord(ok=False, database=False, schema_revision=None, head_revision=head)
    return HealthRecord(
        ok=revision == head, database=True, schema_revision=revision, head_revision=head
    )


def get_run(wiring: Wiring, run_id: int) -> RunRecord:
    """A run as created."""
    return run_record(run_info(wiring.store, run_id))


def list_runs(wiring: Wiring) -> list[RunStatusRecord]:
    """Every run with its status, newest first."""
    return read_runs(wiring.engine)


def list_items(
    wiring: Wiring,
    run_id: int,
    *,
    state: str | None,
    limit: int,
    after: int | None,
    type_: str | None = None,
    query: str | None = None,
) -> ItemPage:
    """A keyset page of a run's items as models, optionally of one state and type, with a
    name containing ``query``."""
    run_info(wiring.store, run_id)
    if not 1 <= limit <= 1000:
        raise InvalidInputError("limit must be between 1 and 1000")
    if state is not None and state not in STATES:
        raise InvalidInputError(f"unknown state {state!r}; one of {', '.join(STATES)}")
    return items_page(
        wiring.store, wiring.models, run_id, state=state, limit=limit, after=after,
        type_=type_, query=query,
    )  # fmt: skip


def item_detail(wiring: Wiring, item_id: int) -> ItemDetail:
    """An item (as a model) with its warnings and full event history."""
    item = get_item(wiring.store, item_id)
    events = [
        EventRecord.model_validate(e, from_attributes=True) for e in wiring.store.events(item_id)
    ]
    return ItemDetail(item=summarize(wiring.models, [item])[0], events=events)


def conflict_preview(wiring: Wiring, item_id: int) -> ConflictPreview:
    """A conflicted item's two models side by side and what each strategy would make."""
    return preview_conflict(wiring.store, wiring.models, item_id)


def pending_models(wiring: Wiring) -> list[PendingModelRecord]:
    """Every pending model with its tags."""
    with wiring.sessions() as session:
        return LibraryRepository(session).list_pending()


def pending_model(wiring: Wiring, pending_id: int) -> PendingModelRecord:
    """One pending model."""
    with wiring.sessions() as session:
        row = LibraryRepository(session).get_pending(pending_id)
    if row is None:
        raise NotFoundError(f"no pending model with id {pending_id}")
    return row
