"""Strict pydantic records: what crosses a boundary of the migration layer."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
)

from backend.database.migration.jsonsafe import loads_bounded
from backend.database.migration.record import Record as Record

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def normalize_sha256(value: object) -> str:
    """Return the lower-case form of a 64-hex SHA-256, or raise ValueError."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ValueError("sha256 must be exactly 64 hexadecimal characters")
    return value.lower()


def is_sha256(value: object) -> bool:
    """True when ``value`` is 64 hex characters (any case)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def normalize_tag(name: str) -> str:
    """The form tags are matched by: trimmed and lower-cased."""
    return name.strip().lower()


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Sha256 = Annotated[str, BeforeValidator(normalize_sha256)]
NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
TagName = Annotated[str, AfterValidator(lambda v: _non_empty(normalize_tag(v)))]


class ItemWarning(Record):
    """A non-fatal problem met while migrating one item (e.g. one bad image)."""

    code: str
    message: str
    file: str | None = None


class Prompts(Record):
    """Positive and negative prompts the user saved with a model."""

    positive: str = ""
    negative: str = ""


class _MetaBase(Record):
    description: str = ""
    community_links: str = ""
    prompts: Prompts = Field(default_factory=Prompts)
    extra: dict[str, Any] = Field(default_factory=dict)


class MetaJson(_MetaBase):
    """``models.meta_json``: user metadata plus ``images_count``; unmapped keys in ``extra``."""

    images_count: int = Field(default=0, ge=0)


class PendingMetaJson(_MetaBase):
    """``pending_import.meta_json``: like MetaJson but lists original image file names."""

    images: list[str] = Field(default_factory=list)


MetaT = TypeVar("MetaT", bound=_MetaBase)


def stored_meta(kind: type[MetaT], text: str) -> MetaT:
    """A stored ``meta_json`` as ``kind``, whatever the text: no stored value may fail a read.

    Nesting deeper than ``jsonsafe.MAX_DEPTH`` comes back as JSON text (strings); text that is
    not a meta object at all comes back whole as ``extra["unreadable_meta_json"]``.
    """
    try:
        return kind.model_validate_json(text)
    except ValidationError:
        pass
    try:
        data, _ = loads_bounded(text)
        return kind.model_validate(data)
    except (ValueError, ValidationError):  # ValidationError is a ValueError too
        return kind(extra={"unreadable_meta_json": text})


class Tag(Record):
    """A tag as stored in the library."""

    id: int
    name: TagName


class ModelRecord(Record):
    """A v2 library model."""

    sha256: Sha256
    path: NonEmptyStr
    name: str
    type: str
    """Empty only for a row the v2 app wrote without a type (shown under "others")."""
    size_bytes: int | None = Field(default=None, ge=0)
    created_at: int | None
    """None only for a row the v2 app wrote without a date."""
    meta: MetaJson = Field(default_factory=MetaJson)
    tags: list[str] = Field(default_factory=list)


class PendingModelRecord(Record):
    """A model waiting in ``pending_import``."""

    id: int
    path: str = Field(description="Empty only for a row an older version staged; never promoted.")
    sha256: Sha256 | None = None
    name: str
    type: str
    size_bytes: int | None = Field(default=None, ge=0)
    created_at: int | None
    meta: PendingMetaJson = Field(default_factory=PendingMetaJson)
    tags: list[str] = Field(default_factory=list)
