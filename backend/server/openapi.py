"""The OpenAPI 3.1 document of the HTTP API, generated from the same pydantic models it validates
with (``schemas.py``) and returns (the service records)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from backend.database.migration.audit.records import AuditReport
from backend.database.migration.legacy.rows import LegacyPreflight
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.results import (
    AdvanceResult,
    ConflictPreview,
    HealthRecord,
    ItemDetail,
    ItemPage,
    ItemRecord,
    LegacyMigrationResult,
    PromotionResult,
    RetryResult,
    RunRecord,
    RunStatusRecord,
    ScanResult,
)
from backend.server.errors import ErrorResponse
from backend.server.schemas import (
    MAX_ID,
    AdvanceRequest,
    ImportModelsRequest,
    ItemsQuery,
    MigrateLegacyRequest,
    PendingModelQuery,
    PendingModelsResponse,
    PreflightQuery,
    ResolveRequest,
    RetryRequest,
    RunListResponse,
    ScanQuery,
    StartRunRequest,
)

REF = "#/components/schemas/{model}"
BODY_ERRORS = (400, 413, 415, 422)


@dataclass(frozen=True)
class Operation:
    """One endpoint as documented."""

    method: Literal["get", "post"]
    path: str
    operation_id: str
    summary: str
    response: type[BaseModel] | None  # None: a free-form JSON object
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = False
    query: type[BaseModel] | None = None
    ids: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    public: bool = False  # reachable without the API token


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/api/health", "health", "Database reachable, schema revision",
              HealthRecord, errors=(503,), public=True),
    Operation("get", "/api/openapi.json", "openapi", "This document", None),
    Operation("post", "/api/migration/migrate_legacy_db", "migrateLegacyDb",
              "Run (or resume) stage 1 to the end (v2 shape)", LegacyMigrationResult,
              body=MigrateLegacyRequest, body_required=True, errors=BODY_ERRORS),
    Operation("post", "/api/migration/import_models", "importModels",
              "Promote pending models; per-item result (v2 shape)", PromotionResult,
              status=207, body=ImportModelsRequest, body_required=True, errors=BODY_ERRORS),
    Operation("get", "/api/migration/pending_models", "pendingModels",
              "Every pending model (v2 shape)", PendingModelsResponse),
    Operation("get", "/api/migration/pending_model", "pendingModel", "One pending model",
              PendingModelRecord, query=PendingModelQuery, errors=(404, 422)),
    Operation("get", "/api/scan", "scan", "Register new model files under folders as pending",
              ScanResult, query=ScanQuery, errors=(422,)),
    Operation("get", "/api/migration/preflight", "preflight",
              "What a legacy run would meet (read-only): counts, staged rows, problems",
              LegacyPreflight, query=PreflightQuery, errors=(422,)),
    Operation("post", "/api/migration/runs", "startRun",
              "Start or resume a legacy or promotion run", RunRecord, status=201,
              body=StartRunRequest, body_required=True, errors=BODY_ERRORS),
    Operation("get", "/api/migration/runs", "listRuns", "Every run with its status",
              RunListResponse),
    Operation("get", "/api/migration/runs/{run_id}", "runStatus",
              "Counts per state, done/total, rate, ETA, resumable", RunStatusRecord,
              ids=("run_id",), errors=(404,)),
    Operation("post", "/api/migration/runs/{run_id}/advance", "advanceRun",
              "Run one batch; per-item transitions", AdvanceResult, body=AdvanceRequest,
              body_required=True, ids=("run_id",), errors=(404, *BODY_ERRORS)),
    Operation("get", "/api/migration/runs/{run_id}/items", "listItems",
              "A keyset page of a run's items", ItemPage, query=ItemsQuery, ids=("run_id",),
              errors=(404, 422)),
    Operation("get", "/api/migration/runs/{run_id}/audit", "auditRun",
              "Account for every legacy row of a stage-1 run", AuditReport, ids=("run_id",),
              errors=(404, 422)),
    Operation("post", "/api/migration/runs/{run_id}/retry", "retryRun",
              "Put every failed item back where it failed", RetryResult, body=RetryRequest,
              body_required=True, ids=("run_id",), errors=(404, *BODY_ERRORS)),
    Operation("get", "/api/migration/items/{item_id}", "itemDetail",
              "An item with its warnings and event history", ItemDetail, ids=("item_id",),
              errors=(404,)),
    Operation("get", "/api/migration/items/{item_id}/conflict", "conflictPreview",
              "A conflicted item's two models side by side and each strategy's result",
              ConflictPreview, ids=("item_id",), errors=(404, 409)),
    Operation("post", "/api/migration/items/{item_id}/retry", "retryItem",
              "Put a failed item back where it failed", RetryResult, body=RetryRequest,
              body_required=True, ids=("item_id",), errors=(404, 409, *BODY_ERRORS)),
    Operation("post", "/api/migration/items/{item_id}/resolve", "resolveItem",
              "Decide a conflicted item", ItemRecord, body=ResolveRequest, body_required=True,
              ids=("item_id",), errors=(404, 409, *BODY_ERRORS)),
)  # fmt: skip

_ERROR_TEXT = {
    400: "Malformed request (body not JSON, wrong content type)",
    401: "Missing or wrong API token",
    403: "Host, origin or path not allowed",
    404: "Unknown id or route",
    409: "Not allowed in the item's current state",
    413: "Body larger than 1 MiB",
    415: "A POST without Content-Type: application/json",
    422: "Well-formed request with invalid values",
    500: "Unexpected server error",
    503: "Library database unreachable or not at the schema head",
}


def _package_version() -> str:
    try:
        return version("model-library-migrator")
    except PackageNotFoundError:
        return "0"


def _components() -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        if op.response is not None:
            models.append((op.response, "serialization"))
    keys, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    return dict(keys), top.get("$defs", {})


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in prop:
            param["description"] = prop["description"]
        param["schema"] = prop
        if prop.get("type") == "array":
            param.update(style="form", explode=True)
        params.append(param)
    return params


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(op: Operation, keys: dict[Any, Any], token: bool) -> dict[str, Any]:
    ok_schema = keys[(op.response, "serialization")] if op.response else {"type": "object"}
    error_ref = keys[(ErrorResponse, "serialization")]
    responses: dict[str, Any] = {str(op.status): {"description": "OK", "content": _json(ok_schema)}}
    statuses = {403, 500, *op.errors}
    if token and not op.public:
        statuses.add(401)
    for status in sorted(statuses):
        schema = ok_schema if status == 503 else error_ref
        responses[str(status)] = {"description": _ERROR_TEXT[status], "content": _json(schema)}
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": responses,
    }
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
        for name in op.ids
    ]
    if op.query is not None:
        params.extend(_query_parameters(op.query))
    if params:
        doc["parameters"] = params
    if op.body is not None:
        body_schema = keys[(op.body, "validation")]
        doc["requestBody"] = {"required": op.body_required, "content": _json(body_schema)}
    if token and op.public:
        doc["security"] = []
    return doc


def build_document(*, token_required: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document; declares Bearer auth when the server requires a token."""
    keys, schemas = _components()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, keys, token_required)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Model Library Migrator",
            "version": _package_version(),
            "description": 'Errors are {"error": {"code", "message"}} with a 4xx status.',
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if token_required:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
