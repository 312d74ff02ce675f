"""HTTP controllers of the migration API. Each one parses the request into a model from
``schemas.py``, makes ONE MigrationService call and returns the record as JSON.

No SQL, no sessions, no row mapping, no try/except here: failures are exceptions that
``backend/server/errors.py`` turns into ``{"error": {"code", "message"}}`` responses.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.sansio.blueprints import BlueprintSetupState

from backend.database.migration.service import MigrationService
from backend.server.schemas import (
    AdvanceRequest,
    IdConverter,
    ImportModelsRequest,
    ItemsQuery,
    LegacyRunRequest,
    MigrateLegacyRequest,
    PendingModelQuery,
    PendingModelsResponse,
    PreflightQuery,
    ResolveRequest,
    RetryRequest,
    RunListResponse,
    ScanQuery,
    StartRunRequest,
    parse_body,
    parse_query,
)
from backend.server.state import api_state

Json = dict[str, Any]
bp = Blueprint("migration", __name__)


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["id"] = IdConverter


def service() -> MigrationService:
    """The service of the app handling this request."""
    return api_state().service


@bp.get("/api/health")
def health() -> tuple[Json, int]:
    record = service().health()
    return record.model_dump(mode="json"), 200 if record.ok else 503


@bp.get("/api/openapi.json")
def openapi() -> Json:
    return api_state().openapi


# --- v2 endpoints -----------------------------------------------------------------------------


@bp.post("/api/migration/migrate_legacy_db")
def migrate_legacy_db() -> Json:
    body = parse_body(MigrateLegacyRequest)
    result = service().migrate_legacy(body.legacy_db, body.images_dir, on_conflict=body.on_conflict)
    return result.model_dump(mode="json")


@bp.post("/api/migration/import_models")
def import_models() -> tuple[Json, int]:
    body = parse_body(ImportModelsRequest)
    result = service().promote_batch(body.id, body.conflict_strategy)
    return result.model_dump(mode="json"), 207


@bp.get("/api/migration/pending_models")
def pending_models() -> Json:
    records = service().pending_models()
    return PendingModelsResponse.from_records(records).model_dump(mode="json")


@bp.get("/api/migration/pending_model")
def pending_model() -> Json:
    query = parse_query(PendingModelQuery)
    return service().pending_model(query.id).model_dump(mode="json")


@bp.get("/api/scan")
def scan() -> Json:
    query = parse_query(ScanQuery)
    return service().scan(query.dirs, query.ext or None).model_dump(mode="json")


# --- runs -------------------------------------------------------------------------------------


@bp.get("/api/migration/preflight")
def preflight() -> Json:
    query = parse_query(PreflightQuery)
    return service().preflight(query.legacy_db, query.images_dir).model_dump(mode="json")


@bp.post("/api/migration/runs")
def start_run() -> tuple[Json, int]:
    body = parse_body(StartRunRequest).root
    if isinstance(body, LegacyRunRequest):
        run = service().start_legacy_run(
            body.legacy_db, body.images_dir, on_conflict=body.on_conflict
        )
    else:
        run = service().start_promotion_run(body.ids, body.strategy)
    return run.model_dump(mode="json"), 201


@bp.get("/api/migration/runs")
def list_runs() -> Json:
    return RunListResponse(runs=service().list_runs()).model_dump(mode="json")


@bp.get("/api/migration/runs/<id:run_id>")
def run_status(run_id: int) -> Json:
    return service().run_status(run_id).model_dump(mode="json")


@bp.get("/api/migration/runs/<id:run_id>/audit")
def audit_run(run_id: int) -> Json:
    return service().audit(run_id).model_dump(mode="json")


@bp.post("/api/migration/runs/<id:run_id>/advance")
def advance(run_id: int) -> Json:
    body = parse_body(AdvanceRequest)
    return service().advance(run_id, body.batch_size).model_dump(mode="json")


@bp.get("/api/migration/runs/<id:run_id>/items")
def list_items(run_id: int) -> Json:
    query = parse_query(ItemsQuery)
    page = service().list_items(
        run_id,
        state=query.state,
        limit=query.limit,
        after=query.after,
        type=query.type,
        query=query.q,
    )
    return page.model_dump(mode="json")


@bp.post("/api/migration/runs/<id:run_id>/retry")
def retry_run(run_id: int) -> Json:
    parse_body(RetryRequest)
    return service().retry(run_id=run_id).model_dump(mode="json")


@bp.get("/api/migration/items/<id:item_id>")
def item_detail(item_id: int) -> Json:
    return service().item_detail(item_id).model_dump(mode="json")


@bp.get("/api/migration/items/<id:item_id>/conflict")
def conflict_preview(item_id: int) -> Json:
    return service().conflict_preview(item_id).model_dump(mode="json")


@bp.post("/api/migration/items/<id:item_id>/retry")
def retry_item(item_id: int) -> Json:
    parse_body(RetryRequest)
    return service().retry(item_id=item_id).model_dump(mode="json")


@bp.post("/api/migration/items/<id:item_id>/resolve")
def resolve(item_id: int) -> Json:
    body = parse_body(ResolveRequest)
    return service().resolve(item_id, body.strategy).model_dump(mode="json")
