"""Snapshots of a v2 library (rows and image files), and of a legacy tree, for comparisons.

``snapshot_library`` captures everything a user can see of a library: models (meta_json parsed),
tags by name, model tags by (sha256, tag name), pending rows by path with their tags, db_meta
(``tags_id_max`` as whether it covers every tag id), and every file under ``<data>/images``
with the SHA-256 of its bytes. Workflow tables, the hash cache and surrogate ids (tag ids,
pending ids) are left out, so a crashed-and-resumed run, a two-worker run and a clean run of
the same input compare equal.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from backend.database.migration.images import TIERS, tier_file_name


@dataclass(frozen=True)
class LibrarySnapshot:
    """The visible state of a library; compare two with ``==``."""

    models: tuple[tuple[Any, ...], ...]
    tags: tuple[str, ...]
    model_tags: tuple[tuple[str, str], ...]
    pending: tuple[tuple[Any, ...], ...]
    db_meta: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str], ...]  # (path relative to images/, sha256 of bytes)

    def model(self, sha256: str) -> dict[str, Any]:
        """One model row as a dict (meta parsed)."""
        for row in self.models:
            if row[0] == sha256:
                keys = ("sha256", "path", "name", "type", "size_bytes", "created_at", "meta")
                return dict(zip(keys, row, strict=True))
        raise KeyError(sha256)

    def tags_of(self, sha256: str) -> list[str]:
        """Sorted tag names of a model."""
        return sorted(tag for sha, tag in self.model_tags if sha == sha256)

    def pending_by_path(self, path: str) -> dict[str, Any]:
        """One pending row as a dict (meta parsed, tags sorted)."""
        for row in self.pending:
            if row[0] == path:
                keys = (
                    "path",
                    "sha256",
                    "name",
                    "type",
                    "size_bytes",
                    "created_at",
                    "meta",
                    "tags",
                )
                return dict(zip(keys, row, strict=True))
        raise KeyError(path)

    def file_names(self) -> set[str]:
        """Relative paths of every file under images/."""
        return {name for name, _ in self.files}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _meta_value(key: str, value: Any, top_tag_id: int) -> str:
    """``tags_id_max`` is a tag id (a surrogate): kept as whether it covers every tag id."""
    if key != "tags_id_max":
        return str(value)
    return ">= MAX(tags.id)" if int(value) >= top_tag_id else f"{value} < MAX(tags.id)"


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files_under(root: Path) -> tuple[tuple[str, str], ...]:
    if not root.exists():
        return ()
    out: list[tuple[str, str]] = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            out.append((path.relative_to(root).as_posix(), _sha_file(path)))
    return tuple(sorted(out))


def snapshot_library(data_dir: Path, database_url: str) -> LibrarySnapshot:
    """Read the library's tables and image files (never the workflow tables)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            models = [
                (sha, path, name, type_, size, created, json.loads(meta))
                for sha, path, name, type_, size, created, meta in conn.execute(
                    text(
                        "SELECT sha256, path, name, type, size_bytes, created_at, meta_json"
                        " FROM models"
                    )
                )
            ]
            tags = sorted(str(n) for n in conn.execute(text("SELECT name FROM tags")).scalars())
            model_tags = sorted(
                (str(sha), str(name))
                for sha, name in conn.execute(
                    text(
                        "SELECT mt.model_hash, t.name FROM model_tags mt"
                        " JOIN tags t ON t.id = mt.tag_id"
                    )
                )
            )
            pending_tags: dict[int, list[str]] = {}
            for pid, name in conn.execute(
                text(
                    "SELECT pt.model_id, t.name FROM pending_model_tags pt"
                    " JOIN tags t ON t.id = pt.tag_id"
                )
            ):
                pending_tags.setdefault(int(pid), []).append(str(name))
            pending = [
                (
                    path,
                    sha,
                    name,
                    type_,
                    size,
                    created,
                    json.loads(meta),
                    sorted(pending_tags.get(pid, [])),
                )
                for pid, path, sha, name, type_, size, created, meta in conn.execute(
                    text(
                        "SELECT id, path, sha256, name, type, size_bytes, created_at, meta_json"
                        " FROM pending_import"
                    )
                )
            ]
            top = int(conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM tags")) or 0)
            db_meta = sorted(
                (str(k), _meta_value(str(k), v, top))
                for k, v in conn.execute(text("SELECT key, value FROM db_meta"))
            )
    finally:
        engine.dispose()
    return LibrarySnapshot(
        models=tuple(sorted(models, key=lambda r: (r[0], _canonical(r)))),
        tags=tuple(tags),
        model_tags=tuple(model_tags),
        pending=tuple(sorted(pending, key=lambda r: (r[0], _canonical(r)))),
        db_meta=tuple(db_meta),
        files=_files_under(data_dir / "images"),
    )


def expected_image_files(snapshot: LibrarySnapshot) -> set[str]:
    """The tier files ``images_count`` of every model accounts for, plus referenced originals."""
    names: set[str] = set()
    for row in snapshot.models:
        sha, meta = row[0], row[6]
        for seq in range(int(meta.get("images_count", 0))):
            for tier, _factor, _quality in TIERS:
                names.add(tier_file_name(sha, seq, tier))
    for row in snapshot.pending:
        names.update(f"pending/{name}" for name in row[6].get("images", []))
    return names


def orphan_problems(snapshot: LibrarySnapshot) -> list[str]:
    """Every file under images/ nothing accounts for, and every accounted file that is missing.

    Catches leftover temp files, staging content, tier files beyond ``images_count`` and
    pending originals without a pending row.
    """
    expected = expected_image_files(snapshot)
    present = snapshot.file_names()
    problems = [f"orphan file: {name}" for name in sorted(present - expected)]
    problems += [f"missing file: {name}" for name in sorted(expected - present)]
    return problems


def expected_tiers(sha: str, count: int) -> set[str]:
    """The tier file names of a model with ``count`` images."""
    return {tier_file_name(sha, s, t) for s in range(count) for t, _f, _q in TIERS}


def tier_files(images_dir: Path, sha: str) -> set[str]:
    """The tier file names of a model present in ``images_dir``."""
    return {p.name for p in images_dir.glob(f"{sha}_*.webp")}


def snapshot_tree(root: Path) -> dict[str, str]:
    """Every file (and symlink target) under ``root`` with the SHA-256 of its bytes."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = f"symlink:{os.readlink(path)}"
            elif path.is_file():
                out[rel] = _sha_file(path)
            else:
                out[rel] = "dir"
    return out
