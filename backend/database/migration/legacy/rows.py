"""Typed legacy rows and the pure parsing of a v1 row: hashes, extra_json, image URLs.

Nothing here opens a file: image URLs are resolved by string checks and ``os.path.realpath``.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.database.migration.jsonsafe import MAX_DEPTH, loads_bounded
from backend.database.migration.legacy.fields import FieldNotes, put
from backend.database.migration.records import ItemWarning, Prompts, is_sha256, normalize_tag
from backend.database.migration.types import TypeMapping

HashKind = Literal["valid", "uppercase", "missing", "invalid"]

MEDIA_PREFIX = "/media/"


class LegacyImageRef(BaseModel):
    """One image URL of a legacy row; ``path`` is set only when it resolves inside the folder."""

    model_config = ConfigDict(frozen=True)

    url: str
    path: Path | None = None
    warning: ItemWarning | None = None


class LegacyModel(BaseModel):
    """One legacy ``models`` row, typed. Row-level warnings here; image warnings on each ref."""

    model_config = ConfigDict(frozen=True)

    legacy_id: int
    path: str
    name: str
    type: str
    size_bytes: int | None = None
    hash_raw: str
    hash_kind: HashKind
    sha256: str | None = None
    created_at: int
    description: str = ""
    community_links: str = ""
    prompts: Prompts = Field(default_factory=Prompts)
    extra: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    images: list[LegacyImageRef] = Field(default_factory=list)
    warnings: list[ItemWarning] = Field(default_factory=list)

    def all_warnings(self) -> list[ItemWarning]:
        """Row warnings followed by the warnings of its image URLs."""
        return [*self.warnings, *(i.warning for i in self.images if i.warning is not None)]


class LegacyPreflight(BaseModel):
    """What a legacy library holds and what will need attention, before anything is migrated."""

    db_path: str
    images_dir: str
    schema_version: int | None
    models: int
    valid_hashes: int
    uppercase_hashes: int
    missing_hashes: int
    invalid_hashes: int
    duplicate_hashes: int
    tags: int
    images_referenced: int
    images_missing: int
    images_outside: int
    model_files_missing: int
    extra_invalid: int
    fields_invalid: int
    empty_paths: int = 0
    invalid_ids: int = 0
    type_mapping: list[TypeMapping] = Field(default_factory=list)
    """Legacy type → the v2 tab it lands in, with how many rows."""
    warnings: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- pure parsing


def classify_hash(raw: str) -> tuple[HashKind, str | None]:
    """Kind of a legacy ``hash_hex`` and, for 64 hex characters, its lower-case form."""
    if not raw.strip():
        return "missing", None
    if is_sha256(raw):
        return ("valid" if raw == raw.lower() else "uppercase"), raw.lower()
    return "invalid", None


_put = put


class ParsedExtra(BaseModel):
    """The user part of a legacy row, taken from ``extra_json``."""

    description: str = ""
    community_links: str = ""
    image_urls: list[str] = Field(default_factory=list)
    prompts: Prompts = Field(default_factory=Prompts)
    extra: dict[str, Any] = Field(default_factory=dict)
    warnings: list[ItemWarning] = Field(default_factory=list)


def _field_invalid(key: str, value: Any) -> ItemWarning:
    return ItemWarning(
        code="legacy_field_invalid",
        message=f"extra_json field {key!r} has type {type(value).__name__}; kept as legacy_{key}",
    )


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_prompts(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= {"positive", "negative"}
        and all(isinstance(v, str) for v in value.values())
    )


_KNOWN_VALID: dict[str, Callable[[Any], bool]] = {
    "description": lambda v: isinstance(v, str),
    "community_links": lambda v: isinstance(v, str),
    "images": _is_str_list,
    "prompts": _is_prompts,
}
KNOWN_EXTRA_KEYS = tuple(_KNOWN_VALID)


def _too_deep(column: str) -> ItemWarning:
    return ItemWarning(
        code=f"legacy_{column}_too_deep",
        message=f"{column}_json nests deeper than {MAX_DEPTH} levels; every part below that"
        " is kept as its exact JSON text (a string)",
    )


def parse_extra(text: str | None) -> ParsedExtra:
    """Parse ``extra_json``; never raises, never drops a key (unmapped ones go to ``extra``).

    Nesting deeper than ``MAX_DEPTH`` is kept as JSON text (``legacy_extra_too_deep``)."""
    return ParsedExtra(**_extra_fields(text))


def _extra_fields(text: str | None) -> dict[str, Any]:
    """:func:`parse_extra`'s fields (``prompts`` as a dict), without building the record."""
    if text is None or not text.strip():
        return {}
    clamped = False
    try:
        data, clamped = loads_bounded(text)
        problem = None if isinstance(data, dict) else f"JSON {type(data).__name__}, not an object"
    except ValueError:
        data, problem = None, "not JSON"
    if problem is not None or not isinstance(data, dict):
        return {
            "extra": {"legacy_extra_raw": text},
            "warnings": [
                ItemWarning(
                    code="legacy_extra_invalid",
                    message=f"extra_json is {problem}; raw text kept as legacy_extra_raw",
                )
            ],
        }
    out = data.copy()  # the unknown keys, in their order; the known ones are popped below
    warnings: list[ItemWarning] = [_too_deep("extra")] if clamped else []
    mapped: dict[str, Any] = {}
    for key, valid in _KNOWN_VALID.items():
        value = out.pop(key, None)
        if value is None:
            continue
        if valid(value):
            mapped[key] = value
        else:
            _put(out, f"legacy_{key}", value)
            warnings.append(_field_invalid(key, value))
    return {
        "description": mapped.get("description", ""),
        "community_links": mapped.get("community_links", ""),
        "image_urls": mapped.get("images", []),
        "prompts": mapped.get("prompts", {}),
        "extra": out,
        "warnings": warnings,
    }


def parse_meta(text: str | None, extra: dict[str, Any]) -> list[ItemWarning]:
    """Keep scanner ``meta_json`` in ``extra``: an object as ``legacy_meta``, else raw text.

    Nesting deeper than ``MAX_DEPTH`` is kept as JSON text (``legacy_meta_too_deep``)."""
    if text is None or not text.strip():
        return []
    try:
        data, clamped = loads_bounded(text)
    except ValueError:
        data, clamped = None, False
    if isinstance(data, dict):
        _put(extra, "legacy_meta", data)
        return [_too_deep("meta")] if clamped else []
    _put(extra, "legacy_meta_raw", text)
    return []


_BAD_URL = re.compile(r"[\\\x00]")


def _inside(rel: str, images_real: str) -> str | None:
    """``rel`` resolved inside ``images_real``, or None: string checks first, then realpath."""
    if (
        not rel
        or _BAD_URL.search(rel)
        or rel.startswith("/")
        or ".." in rel.split("/")
        or os.path.isabs(rel)
    ):
        return None
    try:
        real = os.path.realpath(os.path.join(images_real, rel))
    except (OSError, ValueError):  # e.g. a lone surrogate the file system cannot encode
        return None
    return real if real.startswith(images_real.rstrip(os.sep) + os.sep) else None


def resolve_image_url(url: str, images_real: str) -> LegacyImageRef:
    """Resolve ``/media/<relative path>`` strictly inside ``images_real`` (already realpath'd).

    The path is percent-decoded once (``a%20b.png`` → ``a b.png``) and the decoded form must
    pass every check (``%2e%2e/x`` is ``../x``: refused). Only when the decoded name does not
    exist and the name as written does (a file literally called ``a%20b.png``) is the latter
    used. Pure string checks first; only a URL that passes them is handed to
    ``os.path.realpath`` (which follows symlinks). Nothing is opened.
    """
    rel = url[len(MEDIA_PREFIX) :] if url.startswith(MEDIA_PREFIX) else ""
    decoded = urllib.parse.unquote(rel, errors="surrogateescape")
    path = _inside(decoded, images_real)
    if path is not None and decoded != rel and not os.path.lexists(path):
        literal = _inside(rel, images_real)
        if literal is not None and os.path.lexists(literal):
            path = literal
    if path is not None:
        return LegacyImageRef(url=url, path=Path(path))
    shown = url.replace("\x00", "\\x00")
    return LegacyImageRef(
        url=url,
        warning=ItemWarning(
            code="image_outside_legacy_dir",
            message=f"image URL {shown!r} does not resolve inside the legacy images folder",
            file=shown,
        ),
    )


def _file_name(path: str) -> str:
    """The file name with its extension (how v1 and v2 show a model without a name)."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1]


def absolute_model_path(path: str, base_dir: str | None) -> str:
    """A relative legacy model path resolved against ``base_dir`` (the legacy DB's folder);
    absolute paths (POSIX or Windows) and empty ones are returned unchanged."""
    if (
        not path.strip()
        or base_dir is None
        or os.path.isabs(path)
        or re.match(r"[A-Za-z]:[\\/]|\\\\", path)
    ):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None


TypeOf = Callable[[str, str], str]
"""(legacy type, model path) → the type a row is given (e.g. ``TypeMap.v2_type``)."""


def build_model(
    row: Sequence[Any],
    tags: list[str],
    images_real: str,
    models_base: str | None = None,
    type_of: TypeOf | None = None,
) -> LegacyModel:
    """Turn one ``models`` row (columns in ``_REQUIRED + _OPTIONAL`` order) into a record; a
    relative model path is resolved against ``models_base`` (the legacy DB's folder). With
    ``type_of`` the record holds the type it maps the legacy one to (the audit compares rows
    with their v2 type; a copy per row would cost more).

    Never raises on content: an odd value is a warning (see ``legacy.fields``) with its original
    kept under ``extra``."""
    legacy_id, path, type_, hash_raw, name, size, created, meta_json, extra_json = row
    notes = FieldNotes()
    path = absolute_model_path(notes.text("path", path) or "", models_base)
    type_ = (notes.text("type", type_) or "").strip()
    hash_raw = notes.text("hash_hex", hash_raw) or ""
    name = notes.text("name", name)
    size_bytes = notes.integer("size_bytes", size, minimum=0)
    created_ms = notes.integer("created_at", created)
    if created is None:
        notes.note("legacy_field_invalid", "created_at", created, "is missing")
    kind, sha = classify_hash(hash_raw)
    parsed = _extra_fields(notes.json_text("extra_json", extra_json))
    extra = parsed.get("extra", {})
    meta_warnings = parse_meta(notes.json_text("meta_json", meta_json), extra)
    for column, value in notes.originals.items():
        _put(extra, f"legacy_{column}", value)
    return LegacyModel(
        legacy_id=legacy_id,
        path=path,
        name=name if name is not None and name.strip() else _file_name(path),
        type=(type_ or "other") if type_of is None else type_of(type_ or "other", path),
        size_bytes=size_bytes,
        hash_raw=hash_raw,
        hash_kind=kind,
        sha256=sha,
        created_at=created_ms or 0,
        description=parsed.get("description", ""),
        community_links=parsed.get("community_links", ""),
        prompts=parsed.get("prompts", {}),  # validated into Prompts here
        extra=extra,
        tags=sorted({t for t in (normalize_tag(x) for x in tags) if t}),
        images=[resolve_image_url(url, images_real) for url in parsed.get("image_urls", ())],
        warnings=[*notes.warnings, *parsed.get("warnings", ()), *meta_warnings],
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def preflight_sentences(c: dict[str, int]) -> list[str]:
    """Human sentences for the counts that need the user's attention."""
    out: list[str] = []
    if c["uppercase_hashes"]:
        out.append(
            f"{_n(c['uppercase_hashes'], 'model has', 'models have')} an upper-case hash;"
            " it will be stored lower-cased."
        )
    unhashed = c["missing_hashes"] + c["invalid_hashes"]
    if unhashed:
        out.append(
            f"{_n(unhashed, 'model has', 'models have')} no valid SHA-256 yet;"
            " they will be staged and hashed when promoted."
        )
    if c["duplicate_hashes"]:
        out.append(
            f"{_n(c['duplicate_hashes'], 'model shares', 'models share')} a hash with a lower"
            " legacy id; they will be reported as conflicts."
        )
    if c["model_files_missing"]:
        out.append(
            f"{_n(c['model_files_missing'], 'model file is', 'model files are')} missing on disk;"
            " their metadata is still migrated."
        )
    if c["images_outside"]:
        out.append(
            f"{_n(c['images_outside'], 'image URL points', 'image URLs point')} outside the"
            " legacy images folder and will be skipped."
        )
    if c["images_missing"]:
        out.append(
            f"{_n(c['images_missing'], 'referenced image is', 'referenced images are')} missing"
            " from the legacy images folder."
        )
    if c.get("empty_paths"):
        out.append(
            f"{_n(c['empty_paths'], 'model has', 'models have')} an empty path;"
            " they will fail with empty_path (give them a path in the legacy DB and rerun)."
        )
    if c.get("invalid_ids"):
        out.append(
            f"{_n(c['invalid_ids'], 'model has', 'models have')} an id that is not an integer;"
            " they will fail with legacy_id_invalid."
        )
    if c["extra_invalid"] or c["fields_invalid"]:
        out.append(
            f"{_n(c['extra_invalid'] + c['fields_invalid'], 'model has', 'models have')}"
            " odd or unreadable values; each is a warning and the original is kept under extra."
        )
    return out
