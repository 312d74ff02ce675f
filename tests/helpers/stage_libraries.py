"""Builders for the stage tests: legacy libraries with a duplicate, with an unhashed copy, model
files to scan.

``duplicate_library`` writes two rows with the same hash and different user data.

``make_copy_library`` writes a legacy library where one row without a hash (``empty_hash``) has
the same file content as a hashed row (``valid``): stage 1 imports the hashed one and stages the
copy, so promoting the copy is a real conflict on an already imported model.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from backend.sample.legacy_factory import LegacyLibrary, LegacyRowSpec, make_legacy_library
from tests.helpers.service import make_service

COPY_EXTRA = {
    "description": "",
    "community_links": "https://copy.invalid",
    "prompts": {"positive": "copy positive", "negative": ""},
    "copy_key": 1,
}
COPY_TAG = "copy-tag"


@dataclass
class CopyLibrary:
    """The legacy library, its hashed original and its unhashed copy, and extra unique rows."""

    lib: LegacyLibrary
    original: LegacyRowSpec
    copy: LegacyRowSpec
    unique: list[LegacyRowSpec]


def duplicate_library(root: Path) -> tuple[LegacyLibrary, LegacyRowSpec, LegacyRowSpec]:
    """Two rows with the same hash and different user data (the winner has empty fields)."""
    lib = make_legacy_library(root, cases=("valid", "duplicate_hash"))
    winner, loser = lib.by_case("duplicate_hash")
    conn = sqlite3.connect(lib.db_path)
    with conn:
        for row, extra in (
            (
                winner,
                {
                    "description": "",
                    "community_links": "https://a.invalid",
                    "prompts": {"positive": "", "negative": "winner negative"},
                    "images": winner.image_urls,
                    "k1": "winner",
                },
            ),
            (
                loser,
                {
                    "description": "loser description",
                    "community_links": "https://b.invalid",
                    "prompts": {"positive": "loser positive", "negative": "loser negative"},
                    "images": loser.image_urls,
                    "k1": "loser",
                    "k2": "only in loser",
                },
            ),
        ):
            conn.execute(
                "UPDATE models SET extra_json = ? WHERE id = ?", (json.dumps(extra), row.legacy_id)
            )
        tag_id = conn.execute("SELECT MAX(id) + 1 FROM tags").fetchone()[0]
        conn.execute("INSERT INTO tags (id, name) VALUES (?, 'loser-only')", (tag_id,))
        conn.execute("INSERT INTO model_tags VALUES (?, ?)", (loser.legacy_id, tag_id))
    conn.close()
    return lib, winner, loser


def make_copy_library(root: Path, *, unique_rows: int = 1) -> CopyLibrary:
    """Write the library (before any snapshot is taken of it)."""
    cases = ("valid", "empty_hash", *(["garbage_hash"] * unique_rows))
    lib = make_legacy_library(root, cases=cases)
    original = lib.by_case("valid")[0]
    copy = lib.by_case("empty_hash")[0]
    shutil.copyfile(original.path, copy.path)
    conn = sqlite3.connect(lib.db_path)
    try:
        with conn:
            extra = {**COPY_EXTRA, "images": copy.image_urls}
            conn.execute(
                "UPDATE models SET extra_json = ?, size_bytes = ? WHERE id = ?",
                (json.dumps(extra), original.size_bytes, copy.legacy_id),
            )
            tag_id = conn.execute("SELECT MAX(id) + 1 FROM tags").fetchone()[0]
            conn.execute("INSERT INTO tags (id, name) VALUES (?, ?)", (tag_id, COPY_TAG))
            conn.execute("INSERT INTO model_tags VALUES (?, ?)", (copy.legacy_id, tag_id))
    finally:
        conn.close()
    copy.content_sha256 = original.content_sha256
    copy.size_bytes = original.size_bytes
    copy.tags = [*copy.tags, COPY_TAG]
    return CopyLibrary(lib, original, copy, lib.by_case("garbage_hash"))


def scan_library(root: Path, existing: bytes) -> dict[str, Path]:
    """Model files for scan: a new one, a copy of ``existing``, and one removed after the scan."""
    files = {
        "new": root / "loras" / "new.safetensors",
        "dup": root / "checkpoints" / "dup.safetensors",
        "missing": root / "vae" / "missing.safetensors",
    }
    for key, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(existing if key == "dup" else f"model {key}".encode() * 100)
    return files


def run_stage1(lib: LegacyLibrary, data_dir: Path, url: str | None = None) -> None:
    """Migrate the legacy library into ``data_dir`` (its SQLite file unless ``url``) in-process."""
    service = make_service(data_dir, url)
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id)
    finally:
        service.close()
