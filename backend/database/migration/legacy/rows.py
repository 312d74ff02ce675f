"""Typed legacy rows and the pure parsing of a v1 row: hashes, extra_json, image URLs.

Nothing here opens a file: image URLs are resolved by string checks and ``os.path.realpath``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.database.migration.records import ItemWarning, Prompts, is_sha256, normalize_tag

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
    warnings: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- pure parsing


def classify_hash(raw: str) -> tuple[HashKind, str | None]:
    """Kind of a legacy ``hash_hex`` and, for 64 hex characters, its lower-case form."""
    if not raw.strip():
        return "missing", None
    if is_sha256(raw):
        return ("valid" if raw == raw.lower() else "uppercase"), raw.lower()
    return "invalid", None


def _put(extra: dict[str, Any], key: str, value: Any) -> None:
    """Store ``value`` under ``key``, or ``key_2``, ``key_3``… so no user key is overwritten."""
    name, n = key, 1
    while name in extra:
        n += 1
        name = f"{key}_{n}"
    extra[name] = value


def _constant(name: str) -> str:
    # NaN / Infinity are not JSON; keep them readable as text so meta_json stays standard JSON.
    return name


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_constant)


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


def parse_extra(text: str | None) -> ParsedExtra:
    """Parse ``extra_json``; never raises, never drops a key (unmapped ones go to ``extra``)."""
    if text is None or not text.strip():
        return ParsedExtra()
    try:
        data: Any = _loads(text)
        problem = None if isinstance(data, dict) else f"JSON {type(data).__name__}, not an object"
    except (ValueError, RecursionError):
        data, problem = None, "not JSON"
    if problem is not None or not isinstance(data, dict):
        return ParsedExtra(
            extra={"legacy_extra_raw": text},
            warnings=[
                ItemWarning(
                    code="legacy_extra_invalid",
                    message=f"extra_json is {problem}; raw text kept as legacy_extra_raw",
                )
            ],
        )
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in KNOWN_EXTRA_KEYS}
    warnings: list[ItemWarning] = []
    mapped: dict[str, Any] = {}
    for key, valid in _KNOWN_VALID.items():
        value = data.get(key)
        if value is None:
            continue
        if valid(value):
            mapped[key] = value
        else:
            _put(out, f"legacy_{key}", value)
            warnings.append(_field_invalid(key, value))
    return ParsedExtra(
        description=mapped.get("description", ""),
        community_links=mapped.get("community_links", ""),
        image_urls=list(mapped.get("images", [])),
        prompts=Prompts(**mapped.get("prompts", {})),
        extra=out,
        warnings=warnings,
    )


def parse_meta(text: str | None, extra: dict[str, Any]) -> None:
    """Keep scanner ``meta_json`` in ``extra``: an object as ``legacy_meta``, else raw text."""
    if text is None or not text.strip():
        return
    try:
        data = _loads(text)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        _put(extra, "legacy_meta", data)
    else:
        _put(extra, "legacy_meta_raw", text)


_BAD_URL = re.compile(r"[\\\x00]")


def resolve_image_url(url: str, images_real: str) -> LegacyImageRef:
    """Resolve ``/media/<relative path>`` strictly inside ``images_real`` (already realpath'd).

    Pure string checks first; only a URL that passes them is handed to ``os.path.realpath``
    (which follows symlinks). Nothing is opened.
    """
    rel = url[len(MEDIA_PREFIX) :] if url.startswith(MEDIA_PREFIX) else None
    path: str | None = None
    if (
        rel
        and not _BAD_URL.search(rel)
        and not rel.startswith("/")
        and ".." not in rel.split("/")
        and not os.path.isabs(rel)
    ):
        try:
            real = os.path.realpath(os.path.join(images_real, rel))
        except (OSError, ValueError):  # e.g. a lone surrogate the file system cannot encode
            real = ""
        if real.startswith(images_real.rstrip(os.sep) + os.sep):
            path = real
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


def _stem(path: str) -> str:
    base = re.split(r"[\\/]", path.rstrip("\\/"))[-1]
    stem, dot, _ = base.rpartition(".")
    return stem if dot and stem else base


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


def build_model(row: Sequence[Any], tags: list[str], images_real: str) -> LegacyModel:
    """Turn one ``models`` row (columns in ``_REQUIRED + _OPTIONAL`` order) into a record."""
    legacy_id, path, type_, hash_raw, name, size, created, meta_json, extra_json = row
    path = "" if path is None else str(path)
    type_ = str(type_).strip() if type_ is not None else ""
    size_bytes = to_int(size)
    hash_raw = "" if hash_raw is None else str(hash_raw)
    kind, sha = classify_hash(hash_raw)
    parsed = parse_extra(None if extra_json is None else str(extra_json))
    extra = parsed.extra
    parse_meta(None if meta_json is None else str(meta_json), extra)
    warnings = list(parsed.warnings)
    created_ms = to_int(created)
    if created_ms is None:
        warnings.append(
            ItemWarning(code="legacy_field_invalid", message=f"created_at {created!r} is invalid")
        )
        _put(extra, "legacy_created_at", created)
    return LegacyModel(
        legacy_id=legacy_id,
        path=path,
        name=str(name) if name is not None and str(name).strip() else _stem(path),
        type=type_ or "other",
        size_bytes=size_bytes if size_bytes is None or size_bytes >= 0 else None,
        hash_raw=hash_raw,
        hash_kind=kind,
        sha256=sha,
        created_at=created_ms or 0,
        description=parsed.description,
        community_links=parsed.community_links,
        prompts=parsed.prompts,
        extra=extra,
        tags=sorted({t for t in (normalize_tag(x) for x in tags) if t}),
        images=[resolve_image_url(url, images_real) for url in parsed.image_urls],
        warnings=warnings,
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
    if c["extra_invalid"] or c["fields_invalid"]:
        out.append(
            f"{_n(c['extra_invalid'] + c['fields_invalid'], 'model has', 'models have')}"
            " unreadable user metadata; the original text is kept under extra."
        )
    return out
