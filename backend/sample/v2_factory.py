"""Write a v2 data folder the way the v2 app leaves it, and read it back the way it shows it.

``make_v2_library`` creates the v2 app's DDL (every statement ``IF NOT EXISTS``, as its
``init_db``), a few models, tags with ids that are not 1..n, real WebP tiers seq 0..1 for one
model, a pending row and a ``types_cache.json``. ``library_view`` counts what the v2 app shows:
models per tab, images (``*_high.webp`` files), pending rows. Used by ``make demo`` and tests.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from backend.database.migration.images import make_tiers
from backend.database.migration.types import TYPES_CACHE_NAME

V2_DB_NAME = "hikaze_model_manager.db"
V2_DDL = """
CREATE TABLE IF NOT EXISTS models (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, name TEXT, type TEXT,
    size_bytes INTEGER, created_at INTEGER, meta_json TEXT);
CREATE INDEX IF NOT EXISTS idx_models_path ON models(path);
CREATE TABLE IF NOT EXISTS tags (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS model_tags (
    model_hash TEXT, tag_id INTEGER, PRIMARY KEY (model_hash, tag_id),
    FOREIGN KEY (model_hash) REFERENCES models(sha256) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS pending_import (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, sha256 TEXT, name TEXT, type TEXT,
    size_bytes INTEGER, created_at INTEGER, meta_json TEXT);
CREATE TABLE IF NOT EXISTS pending_model_tags (
    model_id INTEGER, tag_id INTEGER, PRIMARY KEY (model_id, tag_id),
    FOREIGN KEY (model_id) REFERENCES pending_import(id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS db_meta (key TEXT PRIMARY KEY, value TEXT);
"""
"""The v2 app's schema, typed from shared/V2_LIBRARY.md."""

COMFY_TYPES = (
    "checkpoints",
    "loras",
    "embeddings",
    "vae",
    "upscale_models",
    "controlnet",
    "clip",
    "unet",
    "hypernetworks",
    "ultralytics",
)
"""ComfyUI model folder names: the v2 library's tabs (anything else shows under "others")."""

V2_TAGS = {3: "favorite", 7: "Anime", 12: "style", 20: "v2-only tag"}
"""Tags the v2 app already has (ids not 1..n; ``Anime`` not in normalized form)."""
BASE_MS = 1_700_000_000_000


@dataclass
class V2Model:
    """A model the v2 app already had."""

    sha256: str
    path: str
    type: str
    tags: list[str]
    images: int


@dataclass
class V2Library:
    """A written v2 data folder."""

    data_dir: Path
    db_path: Path
    models_root: Path
    models: list[V2Model] = field(default_factory=list)
    tags: dict[int, str] = field(default_factory=dict)
    pending_paths: list[str] = field(default_factory=list)

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"


def write_types_cache(data_dir: Path, paths_by_type: Mapping[str, Sequence[Path]]) -> Path:
    """Write ``types_cache.json`` as the v2 app does (absolute folders per ComfyUI type)."""
    data = {
        "version": 1,
        "types": sorted(paths_by_type),
        "paths_by_type": {
            t: [str(Path(p).resolve()) for p in ps] for t, ps in paths_by_type.items()
        },
        "model_types": sorted(paths_by_type),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / TYPES_CACHE_NAME
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def _picture(seed: int, size: tuple[int, int] = (80, 120)) -> Image.Image:
    small = Image.frombytes("RGB", (2, 3), hashlib.sha256(f"v2-{seed}".encode()).digest()[:18])
    return small.resize(size, Image.Resampling.BILINEAR)


def _model_file(folder: Path, name: str) -> tuple[Path, str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    data = hashlib.sha256(name.encode()).digest() * 64
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


def _meta(description: str, images: int) -> str:
    return json.dumps(
        {
            "description": description,
            "community_links": "",
            "images_count": images,
            "prompts": {"positive": "", "negative": ""},
        }
    )


def make_v2_library(
    data_dir: Path,
    models_root: Path,
    *,
    db_path: Path | None = None,
    shared: Iterable[tuple[str, str, str, int]] = (),
    types_cache: bool = True,
) -> V2Library:
    """Write (or add to) a v2 data folder: DDL, tags, models, tiers, a pending row, the cache.

    ``shared`` are (sha256, path, type, images) of model files a legacy library also has: the
    v2 app scanned them too, so they are already models here (under their file name, tagged
    ``favorite``, with ``images`` tier sets of their own).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    lib = V2Library(data_dir, db_path or data_dir / V2_DB_NAME, models_root, tags=dict(V2_TAGS))
    lib.images_dir.mkdir(parents=True, exist_ok=True)
    own = [
        ("checkpoints", "v2_only_ckpt.safetensors", ["favorite", "Anime"], 2),
        ("loras", "v2_only_lora.safetensors", ["style"], 0),
        ("controlnet", "v2_only_control.safetensors", [], 0),
    ]
    rows: list[tuple[str, str, str, str, int, str, list[str], int]] = []
    for folder, name, tags, images in own:
        file, sha, size = _model_file(models_root / folder, name)
        rows.append(
            (sha, str(file.resolve()), name, folder, size, "kept by the v2 app", tags, images)
        )
    for sha, shared_path, type_, images in shared:
        file = Path(shared_path)
        size = file.stat().st_size if file.is_file() else 0
        rows.append((sha, shared_path, file.name, type_, size, "", ["favorite"], images))
    conn = sqlite3.connect(lib.db_path)
    try:
        with conn:
            conn.executescript(V2_DDL)
            conn.executemany(
                "INSERT OR IGNORE INTO tags (id, name) VALUES (?, ?)", list(V2_TAGS.items())
            )
            ids = {name: tag_id for tag_id, name in V2_TAGS.items()}
            for n, (sha, path, name, type_, size, note, tags, images) in enumerate(rows):
                conn.execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sha, path, name, type_, size, BASE_MS + n, _meta(note, images)),
                )
                conn.executemany(
                    "INSERT INTO model_tags VALUES (?, ?)", [(sha, ids[t]) for t in tags]
                )
                for seq in range(images):
                    source = data_dir / f".v2-source-{seq}.png"
                    _picture(n * 10 + seq).save(source)
                    make_tiers(source, lib.images_dir, sha, seq, fsync=False)
                    source.unlink()
                lib.models.append(V2Model(sha, path, type_, tags, images))
            pending, _, size = _model_file(models_root / "loras", "scanned_by_v2.safetensors")
            conn.execute(
                "INSERT INTO pending_import (path, name, type, size_bytes, created_at, meta_json)"
                " VALUES (?, ?, 'loras', ?, ?, ?)",
                (str(pending.resolve()), pending.name, size, BASE_MS, json.dumps({"images": []})),
            )
            lib.pending_paths.append(str(pending.resolve()))
            conn.execute("INSERT OR IGNORE INTO db_meta VALUES ('db_version', '2')")
            conn.execute(
                "INSERT OR REPLACE INTO db_meta VALUES ('tags_id_max', ?)",
                (str(max(V2_TAGS)),),
            )
    finally:
        conn.close()
    if types_cache:
        folders = {t: [models_root / t] for t in COMFY_TYPES}
        write_types_cache(data_dir, folders)
    return lib


@dataclass
class LibraryView:
    """What the v2 app shows of a data folder."""

    tabs: dict[str, int]
    """Models per tab; a type that is not a ComfyUI folder name counts under ``others``."""
    images: int
    """``*_high.webp`` files in images/ (the image count the app shows, summed)."""
    pending: int
    tags: int


def library_view(data_dir: Path, db_path: Path, tabs: Iterable[str] = COMFY_TYPES) -> LibraryView:
    """Count models per tab, images, pending rows and tags as the v2 app would show them."""
    known = set(tabs)
    cache = data_dir / TYPES_CACHE_NAME
    if cache.is_file():
        known |= set(json.loads(cache.read_text(encoding="utf-8")).get("types", []))
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        per_type = conn.execute("SELECT type, COUNT(*) FROM models GROUP BY type").fetchall()
        pending = int(conn.execute("SELECT COUNT(*) FROM pending_import").fetchone()[0])
        tags = int(conn.execute("SELECT COUNT(*) FROM tags").fetchone()[0])
    finally:
        conn.close()
    counts: dict[str, int] = {}
    for type_, count in per_type:
        tab = type_ if type_ in known else "others"
        counts[tab] = counts.get(tab, 0) + int(count)
    images_dir = data_dir / "images"
    images = sum(1 for _ in images_dir.glob("*_high.webp")) if images_dir.is_dir() else 0
    return LibraryView(dict(sorted(counts.items())), images, pending, tags)
