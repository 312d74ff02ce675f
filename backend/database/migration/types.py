"""Model types as the v2 app shows them: one library tab per ComfyUI model folder name.

The v2 app assigns a model the type whose folder (from ``<DATA_DIR>/types_cache.json``) holds
its file. Without that file the v1 aliases are mapped to ComfyUI's folder names; any other type
is kept as it is. A type that changes keeps the legacy value in ``extra.legacy_type``.
"""

from __future__ import annotations

import json
import ntpath
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TYPES_CACHE_NAME = "types_cache.json"
LEGACY_TYPE_KEY = "legacy_type"

V1_ALIASES: dict[str, str] = {
    "checkpoint": "checkpoints",
    "lora": "loras",
    "embedding": "embeddings",
    "upscale": "upscale_models",
}
"""Singular type names the v1 app wrote, mapped to the ComfyUI folder names v2 shows."""


class TypesCache(BaseModel):
    """``types_cache.json`` as the v2 app writes it."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    types: list[str] = Field(default_factory=list)
    paths_by_type: dict[str, list[str]] = Field(default_factory=dict)
    model_types: list[str] = Field(default_factory=list)


class TypeMapping(BaseModel):
    """How many legacy rows of one type get which v2 type."""

    legacy_type: str
    v2_type: str
    count: int


def _folder_key(path: str) -> str:
    """A path in the form folders are compared in (normalized, case-folded where the OS is)."""
    if ntpath.splitdrive(path)[0] or "\\" in path:
        return ntpath.normcase(ntpath.normpath(path))
    return os.path.normcase(os.path.normpath(path))


def _under(path: str, folder: str) -> bool:
    if path == folder:
        return True
    sep = "\\" if "\\" in folder else "/"
    return path.startswith(folder.rstrip(sep) + sep)


@dataclass(frozen=True)
class TypeMap:
    """Legacy type + model path → the type the v2 app shows the model under."""

    folders: tuple[tuple[str, str], ...] = ()
    """(folder key, type), the deepest folders first."""
    source: str | None = None
    """The types_cache.json used, when one was read."""
    problem: str | None = None
    """Why a types_cache.json that exists was not used."""
    aliases: dict[str, str] = field(default_factory=lambda: dict(V1_ALIASES))

    @classmethod
    def from_cache(cls, cache: TypesCache, source: str | None = None) -> TypeMap:
        """A map from a parsed types cache."""
        pairs = [
            (_folder_key(folder), type_)
            for type_, folders in cache.paths_by_type.items()
            for folder in folders
            if isinstance(folder, str) and folder.strip()
        ]
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        return cls(folders=tuple(pairs), source=source)

    @classmethod
    def load(cls, data_dir: Path) -> TypeMap:
        """The map for a v2 data folder: its types_cache.json when readable, else aliases."""
        path = data_dir / TYPES_CACHE_NAME
        if not path.is_file():
            return cls()
        try:
            cache = TypesCache.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return cls(problem=f"{path} is not a readable types cache ({reason})")
        return cls.from_cache(cache, str(path))

    def v2_type(self, legacy_type: str, path: str) -> str:
        """The v2 tab of a model: its folder's type, else the mapped alias, else unchanged."""
        if path and self.folders:
            key = _folder_key(path)
            for folder, type_ in self.folders:
                if _under(key, folder):
                    return type_
        return self.aliases.get(legacy_type, legacy_type)

    def apply(
        self, legacy_type: str, path: str, extra: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The v2 type and ``extra`` (with ``legacy_type`` added when the type changed)."""
        mapped = self.v2_type(legacy_type, path)
        if mapped == legacy_type or LEGACY_TYPE_KEY in extra:
            return mapped, extra
        return mapped, {**extra, LEGACY_TYPE_KEY: legacy_type}

    def mapping(self, rows: Iterable[tuple[str, str]]) -> list[TypeMapping]:
        """(legacy type, v2 type, count) for (legacy type, path) pairs, largest first."""
        counts = Counter((legacy, self.v2_type(legacy, path)) for legacy, path in rows)
        return [
            TypeMapping(legacy_type=legacy, v2_type=v2, count=n)
            for (legacy, v2), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
