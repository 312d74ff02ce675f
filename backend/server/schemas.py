"""The HTTP contract: request models, v2 response shapes, and how a request becomes a model.

Bodies are validated strictly (``"5"`` is not an integer); query strings leniently (every query
value is text). Every filesystem path must be absolute, printable as a file name, and inside the
import roots when those are set (:func:`backend.server.security.within_roots`, 403).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_origin

from flask import request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationInfo,
    model_validator,
)
from werkzeug.routing import IntegerConverter, Map, ValidationError

from backend.database.migration.conflicts import LEGACY_STRATEGIES, Strategy
from backend.database.migration.records import PendingModelRecord
from backend.database.migration.results import RunKind, RunStatusRecord
from backend.server.errors import MalformedBodyError
from backend.server.security import within_roots
from backend.server.state import api_state
from workflows.machine import State

MAX_ID = 2**63 - 1
"""Largest id the database can hold (signed 64-bit); larger ones are 404 / 422, never 500."""
MAX_BATCH = 10_000
MAX_IDS = 10_000
MAX_PATH = 4096

if TYPE_CHECKING:
    StrategyName = str
    LegacyStrategyName = str
    ItemState = str
else:  # the same Literal types as spelled out by hand, derived from the one vocabulary
    StrategyName = Literal[tuple(s.value for s in Strategy)]
    LegacyStrategyName = Literal[tuple(s.value for s in LEGACY_STRATEGIES)]
    ItemState = Literal[tuple(s.value for s in State)]
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _checked_path(value: str, info: ValidationInfo) -> str:
    """An absolute, usable path, resolved, and inside the import roots (403 otherwise)."""
    if "\x00" in value:
        raise ValueError("a path must not contain NUL characters")
    try:
        encoded = os.fsencode(value)
    except UnicodeError as exc:
        raise ValueError("a path must be valid text") from exc
    if not os.path.isabs(value):
        raise ValueError(f"{value!r} is not an absolute path")
    if any(len(part) > 255 for part in encoded.split(b"/")):
        raise ValueError("a path component is longer than 255 bytes")
    roots = (info.context or {}).get("import_roots")
    resolved = within_roots(Path(value), roots)
    try:
        resolved.exists()
    except OSError as exc:
        raise ValueError(f"cannot access {value}: {exc.strerror}") from exc
    return str(resolved)


ApiPath = Annotated[
    str,
    Field(min_length=1, max_length=MAX_PATH, pattern="^/"),
    AfterValidator(_checked_path),
]
Extension = Annotated[str, Field(pattern=r"^\.?[A-Za-z0-9_+-]{1,16}$")]


class BodyModel(BaseModel):
    """A JSON body: unknown fields are errors, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """A query string: unknown parameters are ignored, text is converted."""

    model_config = ConfigDict(extra="ignore")


# --- bodies -----------------------------------------------------------------------------------


class LegacyPaths(BodyModel):
    """Where the legacy v1 library is."""

    legacy_db_path: ApiPath = Field(description="Absolute path of the legacy SQLite file.")
    legacy_images_dir: ApiPath = Field(description="Absolute path of the legacy images folder.")
    on_conflict: LegacyStrategyName | None = Field(
        default=None, description="What to do with a second legacy row of the same hash."
    )

    @property
    def legacy_db(self) -> Path:
        return Path(self.legacy_db_path)

    @property
    def images_dir(self) -> Path:
        return Path(self.legacy_images_dir)


class MigrateLegacyRequest(LegacyPaths):
    """``POST /api/migration/migrate_legacy_db``: run (or resume) stage 1 to the end."""


class ImportModelsRequest(BodyModel):
    """``POST /api/migration/import_models``: promote pending models (v2 shape).

    Ids that are not integers or name no pending model come back as ``failed`` entries.
    """

    id: list[Any] = Field(max_length=MAX_IDS, description="Pending model ids.")
    conflict_strategy: StrategyName | None = None


class LegacyRunRequest(LegacyPaths):
    """Start (or resume) a stage-1 run."""

    kind: Literal[RunKind.LEGACY]


class PromotionRunRequest(BodyModel):
    """Add pending models (all when ``ids`` is absent) to the open promotion run."""

    kind: Literal[RunKind.PROMOTION]
    ids: list[DbId] | None = Field(default=None, max_length=MAX_IDS)
    strategy: StrategyName | None = None


class StartRunRequest(
    RootModel[Annotated[LegacyRunRequest | PromotionRunRequest, Field(discriminator="kind")]]
):
    """``POST /api/migration/runs``."""


class AdvanceRequest(BodyModel):
    """``POST /api/migration/runs/{id}/advance``: one batch (at most 256 items by default);
    ``{}`` or an empty body with the JSON content type."""

    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH)


class RetryRequest(BodyModel):
    """``POST …/retry``: nothing to say; send ``{}`` (the JSON content type is what counts)."""


class ResolveRequest(BodyModel):
    """``POST /api/migration/items/{id}/resolve``."""

    strategy: StrategyName


# --- query strings ----------------------------------------------------------------------------


class PendingModelQuery(QueryModel):
    """``GET /api/migration/pending_model?id=N``."""

    id: DbId


class ScanQuery(QueryModel):
    """``GET /api/scan?dir=/models&dir=/more&ext=.safetensors``."""

    dir: list[ApiPath] = Field(min_length=1, max_length=64, description="Folder (repeatable).")
    ext: list[Extension] = Field(
        default_factory=list, max_length=32, description="File extension (repeatable)."
    )

    @model_validator(mode="before")
    @classmethod
    def _needs_dirs(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dir"):
            raise ValueError("give at least one folder to scan: ?dir=/absolute/path (repeatable)")
        return data

    @property
    def dirs(self) -> list[Path]:
        return [Path(d) for d in self.dir]


class ItemsQuery(QueryModel):
    """``GET /api/migration/runs/{id}/items?state=&limit=&after=`` (keyset pagination)."""

    state: ItemState | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    after: int | None = Field(default=None, ge=0, le=MAX_ID)
    type: str | None = Field(
        default=None, min_length=1, max_length=64, description="Only models of this type."
    )
    q: str | None = Field(
        default=None, max_length=200, description="Only models whose name contains this text."
    )


class PreflightQuery(QueryModel):
    """``GET /api/migration/preflight?legacy_db_path=&legacy_images_dir=``: what a legacy run
    would meet, read-only."""

    legacy_db_path: ApiPath = Field(description="Absolute path of the legacy SQLite file.")
    legacy_images_dir: ApiPath = Field(description="Absolute path of the legacy images folder.")

    @property
    def legacy_db(self) -> Path:
        return Path(self.legacy_db_path)

    @property
    def images_dir(self) -> Path:
        return Path(self.legacy_images_dir)


# --- responses that are not service records ---------------------------------------------------


class PendingModelSummary(BaseModel):
    """One entry of the v2 ``pending_models`` list."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    image: str | None = Field(description="First original image, relative to the images dir.")
    type: str
    tags: list[str]

    @classmethod
    def from_record(cls, record: PendingModelRecord) -> PendingModelSummary:
        images = record.meta.images
        return cls(
            id=record.id,
            name=record.name,
            image=f"pending/{images[0]}" if images else None,
            type=record.type,
            tags=record.tags,
        )


class PendingModelsResponse(BaseModel):
    """``GET /api/migration/pending_models`` (v2 shape)."""

    model_config = ConfigDict(extra="forbid")

    models: list[PendingModelSummary]

    @classmethod
    def from_records(cls, records: Sequence[PendingModelRecord]) -> PendingModelsResponse:
        return cls(models=[PendingModelSummary.from_record(r) for r in records])


class RunListResponse(BaseModel):
    """``GET /api/migration/runs``: every run with its status, newest first."""

    model_config = ConfigDict(extra="forbid")

    runs: list[RunStatusRecord]


# --- turning a request into a model -----------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _context() -> dict[str, Any]:
    return {"import_roots": api_state().settings.import_roots}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError included
        raise MalformedBodyError(f"the body is not valid JSON: {exc}") from exc


def parse_body(model: type[M]) -> M:
    """The JSON body as ``model``; an empty body counts as ``{}``.

    400 for a non-JSON content type or malformed JSON, 413 past MAX_CONTENT_LENGTH (raised by
    Werkzeug while reading), 422 when the values do not fit, 403 for a path outside the roots.
    """
    raw = request.get_data(cache=True)
    if request.content_type and not request.is_json:
        raise MalformedBodyError(
            f"expected Content-Type: application/json, got {request.content_type!r}"
        )
    data = _load_json(raw) if raw.strip() else {}
    return model.model_validate(data, context=_context())


def parse_query(model: type[M]) -> M:
    """The query string as ``model``: list fields take every value, others the first."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in request.args:
            continue
        many = get_origin(info.annotation) is list
        data[name] = request.args.getlist(name) if many else request.args.get(name)
    return model.model_validate(data, context=_context())


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer that fits a 64-bit column; anything else is a 404."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(MAX_ID)):  # also keeps int() away from 4,300-digit strings
            raise ValidationError()
        result: int = super().to_python(value)
        return result
