"""Write legacy v1 libraries (SQLite file + images folder + model files) with every ugly case.

Used by the tests (``make_legacy_library``) and by ``make demo`` and the benchmarks
(``make_sample_library``). Everything is deterministic for a given seed. The returned
``LegacyLibrary.rows`` say what was written, so a test can compare a reader or a migration
against it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from backend.sample.sample_images import bomb_png, encode

CASES: tuple[str, ...] = (
    "valid",
    "uppercase_hash",
    "garbage_hash",
    "empty_hash",
    "duplicate_hash",
    "null_extra",
    "empty_extra",
    "malformed_extra",
    "non_object_extra",
    "unknown_keys",
    "unicode_tags",
    "several_images",
    "missing_image",
    "truncated_image",
    "non_image",
    "huge_image",
    "cmyk_image",
    "gray16_image",
    "animated_image",
    "alpha_image",
    "palette_alpha_image",
    "exif_rotated_image",
    "dotdot_url",
    "absolute_url",
    "symlink_escape",
    "model_file_missing",
    "null_name",
    "wrong_field_types",
)

TYPE_FOLDERS: dict[str, str] = {
    "checkpoint": "checkpoints",
    "lora": "loras",
    "embedding": "embeddings",
    "vae": "vae",
    "upscale": "upscale_models",
    "ultralytics": "ultralytics",
    "other": "other",
}
TYPES = tuple(TYPE_FOLDERS)
_FORMATS = ("jpeg", "jpeg", "jpeg", "png")  # image formats of ordinary sample rows
USER_TAGS = ("anime", "realistic", "portrait", "landscape", "style", "character", "sdxl", "sd15")

ImageKind = Literal["good", "missing", "broken", "outside"]
"""good: a decodable image inside the folder; missing: inside but no file; broken: a file that
is not a usable image (truncated, not an image, decompression bomb); outside: escaping URL."""

SCHEMA = """
CREATE TABLE models (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, name TEXT,
    type TEXT NOT NULL, size_bytes INTEGER, hash_hex TEXT NOT NULL,
    created_at INTEGER NOT NULL, meta_json TEXT, extra_json TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, color TEXT,
    created_at INTEGER);
CREATE TABLE model_tags (model_id INTEGER, tag_id INTEGER, PRIMARY KEY (model_id, tag_id));
CREATE TABLE schema_version (version INTEGER);
CREATE TABLE directories (id INTEGER PRIMARY KEY, path TEXT, alias TEXT, parent_id INTEGER);
"""
BASE_MS = 1_600_000_000_000
HashStyle = Literal["valid", "upper", "garbage", "empty"]
_HASH_STYLES: dict[str, HashStyle] = {
    "uppercase_hash": "upper",
    "garbage_hash": "garbage",
    "empty_hash": "empty",
}


@dataclass
class LegacyRowSpec:
    """What the factory wrote for one ``models`` row."""

    legacy_id: int
    case: str
    path: str
    name: str | None
    type: str
    hash_hex: str
    content_sha256: str | None  # real SHA-256 of the model file; None when no file was written
    size_bytes: int | None
    created_at: int
    tags: list[str]  # tag names as written (the type tag included)
    image_urls: list[str]  # the URLs the reader should map (empty when extra_json is unusable)
    image_kinds: list[ImageKind]  # parallel to image_urls
    extra_json: str | None
    meta_json: str | None

    @property
    def file_exists(self) -> bool:
        return self.content_sha256 is not None

    @property
    def good_images(self) -> int:
        return self.image_kinds.count("good")


@dataclass
class LegacyLibrary:
    """A written legacy library and the specs of its rows (ordered by legacy id)."""

    root: Path
    db_path: Path
    images_dir: Path
    models_dir: Path
    rows: list[LegacyRowSpec] = field(default_factory=list)
    outside_files: list[Path] = field(default_factory=list)  # must never be read

    def by_case(self, case: str) -> list[LegacyRowSpec]:
        return [r for r in self.rows if r.case == case]


class _Writer:
    def __init__(self, root: Path, seed: int) -> None:
        self.rng = random.Random(seed)
        root = root.absolute()  # v1 stores absolute model paths
        self.lib = LegacyLibrary(
            root=root,
            db_path=root / "legacy.sqlite3",
            images_dir=root / "images",
            models_dir=root / "models",
        )
        self.lib.images_dir.mkdir(parents=True, exist_ok=True)
        for folder in TYPE_FOLDERS.values():
            (self.lib.models_dir / folder).mkdir(parents=True, exist_ok=True)
        (root / "outside").mkdir(exist_ok=True)
        self.tag_ids: dict[str, int] = {}
        self.model_rows: list[tuple[Any, ...]] = []
        self.link_rows: list[tuple[int, int]] = []

    # -- files ----------------------------------------------------------------------------
    def image(
        self, legacy_id: int, seq: int, fmt: str, size: tuple[int, int] = (64, 96)
    ) -> tuple[str, ImageKind]:
        """Write one image for a row; ``fmt`` is a Pillow format or one of the ugly kinds."""
        stem = f"model_{legacy_id}_{BASE_MS + legacy_id * 1000}_{fmt}_{seq}"
        if fmt == "missing":
            return f"/media/{stem}.png", "missing"
        if fmt == "truncated":
            data, ext = encode(self.rng, "jpeg", size)
            data = data[: len(data) // 2]
        elif fmt == "non_image":
            data, ext = b"this is not an image, just text\n", "png"
        elif fmt == "huge":
            data, ext = bomb_png(), "png"
        else:
            data, ext = encode(self.rng, fmt, size)
        (self.lib.images_dir / f"{stem}.{ext}").write_bytes(data)
        kind: ImageKind = "broken" if fmt in ("truncated", "non_image", "huge") else "good"
        return f"/media/{stem}.{ext}", kind

    def outside_file(self, path: Path) -> Path:
        data, _ = encode(self.rng, "png", (32, 32))
        path.write_bytes(data)
        self.lib.outside_files.append(path)
        return path

    # -- rows -----------------------------------------------------------------------------
    def tag_id(self, name: str) -> int:
        if name not in self.tag_ids:
            self.tag_ids[name] = len(self.tag_ids) + 1
        return self.tag_ids[name]

    def add(
        self,
        case: str,
        type_: str,
        *,
        name: str | None = "",
        content: bytes | None = None,
        write_file: bool = True,
        hash_style: HashStyle = "valid",
        tags: Iterable[str] = (),
        images: list[tuple[str, ImageKind]] | None = None,
        extra: dict[str, Any] | str | Literal[False] | None = False,
        meta: str | None = None,
    ) -> LegacyRowSpec:
        legacy_id = len(self.model_rows) + 1
        stem = name or f"{case}_{legacy_id}"
        path = self.lib.models_dir / TYPE_FOLDERS[type_] / f"{stem}.safetensors"
        data = content if content is not None else self.rng.randbytes(self.rng.randint(2048, 6144))
        sha = hashlib.sha256(data).hexdigest()
        if write_file:
            path.write_bytes(data)
        hash_hex = {"valid": sha, "upper": sha.upper(), "garbage": "abc123", "empty": ""}
        created = BASE_MS + legacy_id * 1000
        urls = [u for u, _ in images or []]
        if extra is False:
            extra = {
                "description": f"Notes about {stem}.",
                "community_links": f"https://example.invalid/models/{legacy_id}",
                "images": urls,
                "prompts": {"positive": f"a photo, {stem}", "negative": "blurry"},
            }
        extra_json = extra if extra is None or isinstance(extra, str) else json.dumps(extra)
        row_tags = [type_, *tags]
        spec = LegacyRowSpec(
            legacy_id=legacy_id,
            case=case,
            path=str(path),
            name=None if name is None else stem,
            type=type_,
            hash_hex=hash_hex[hash_style],
            content_sha256=sha if write_file else None,
            size_bytes=len(data),
            created_at=created,
            tags=row_tags,
            image_urls=urls,
            image_kinds=[k for _, k in images or []],
            extra_json=extra_json,
            meta_json=meta,
        )
        self.model_rows.append(
            (
                legacy_id,
                spec.path,
                spec.name,
                type_,
                len(data),
                spec.hash_hex,
                created,
                meta,
                extra_json,
            )
        )
        self.link_rows.extend((legacy_id, self.tag_id(t)) for t in dict.fromkeys(row_tags))
        self.lib.rows.append(spec)
        return spec

    def next_id(self) -> int:
        return len(self.model_rows) + 1

    def add_case(self, case: str, type_: str) -> None:
        """Write the row(s) of one named case."""
        i = self.next_id()
        fmt = {"truncated_image": "truncated", "non_image": "non_image", "huge_image": "huge"}.get(
            case, case.removesuffix("_image")
        )
        outside = self.lib.root / "outside"
        if case in ("valid", "null_name", "unicode_tags", "model_file_missing"):
            tags = (
                ("日本語", "concept art", "Concept Art ") if case == "unicode_tags" else ("style",)
            )
            self.add(
                case,
                type_,
                name=None if case == "null_name" else "",
                write_file=case != "model_file_missing",
                tags=tags,
                images=[self.image(i, 0, "jpeg")],
            )
        elif case in ("uppercase_hash", "garbage_hash", "empty_hash"):
            image = self.image(i, 0, "png")
            self.add(case, type_, hash_style=_HASH_STYLES[case], images=[image])
        elif case == "duplicate_hash":
            data = self.rng.randbytes(4096)
            self.add(case, type_, content=data, images=[self.image(i, 0, "jpeg")])
            self.add(
                case,
                type_,
                name=f"{case}_copy",
                content=data,
                images=[self.image(i + 1, 0, "jpeg")],
            )
        elif case in ("null_extra", "empty_extra"):
            self.add(case, type_, extra=None if case == "null_extra" else "")
        elif case == "malformed_extra":
            self.add(case, type_, extra='{"description": "unterminated', meta="scanner: not json {")
        elif case == "non_object_extra":
            self.add(case, type_, extra='["not", "an", "object"]')
        elif case == "unknown_keys":
            extra = {
                "description": "has extra keys",
                "images": [],
                "rating": 4.5,
                "source": {"site": "civitai", "model_id": 1234},
                "trigger_words": ["foo", "bar"],
                "legacy_meta": "a user key that looks like ours",
            }
            self.add(case, type_, extra=extra, meta=json.dumps({"scanner": "v1", "mtime": 1.5}))
        elif case == "wrong_field_types":
            extra = {
                "description": 42,
                "community_links": ["https://example.invalid"],
                "images": "/media/not-a-list.png",
                "prompts": ["masterpiece"],
                "note": "kept as is",
            }
            self.add(case, type_, extra=extra)
        elif case == "several_images":
            images = [self.image(i, n, f) for n, f in enumerate(("jpeg", "png", "webp"))]
            self.add(case, type_, images=images)
        elif case == "missing_image":
            self.add(case, type_, images=[self.image(i, 0, "jpeg"), self.image(i, 1, "missing")])
        elif case == "dotdot_url":
            self.outside_file(self.lib.root / "secret.png")
            self.add(case, type_, images=[("/media/../secret.png", "outside")])
        elif case == "absolute_url":
            target = self.outside_file(outside / "absolute.png")
            urls: list[tuple[str, ImageKind]] = [(f"/media/{target}", "outside")]
            urls.append((str(target), "outside"))
            self.add(case, type_, images=urls)
        elif case == "symlink_escape":
            target = self.outside_file(outside / "symlink_target.png")
            link = self.lib.images_dir / f"model_{i}_link.png"
            link.symlink_to(target)
            self.add(case, type_, images=[(f"/media/{link.name}", "outside")])
        else:  # one image of a special format: truncated, non_image, huge, cmyk, gray16...
            self.add(case, type_, images=[self.image(i, 0, fmt)])

    def commit(self) -> LegacyLibrary:
        conn = sqlite3.connect(self.lib.db_path)
        try:
            with conn:
                conn.executescript(SCHEMA)
                conn.execute("INSERT INTO schema_version (version) VALUES (2)")
                conn.execute(
                    "INSERT INTO directories (id, path, alias, parent_id) VALUES (1, ?, ?, NULL)",
                    (str(self.lib.models_dir), "models"),
                )
                conn.executemany(
                    "INSERT INTO tags (id, name, color, created_at) VALUES (?, ?, ?, ?)",
                    [(i, n, None, BASE_MS) for n, i in self.tag_ids.items()],
                )
                conn.executemany(
                    "INSERT INTO models (id, path, name, type, size_bytes, hash_hex, created_at,"
                    " meta_json, extra_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    self.model_rows,
                )
                conn.executemany("INSERT INTO model_tags VALUES (?, ?)", self.link_rows)
        finally:
            conn.close()
        return self.lib


def make_legacy_library(
    root: Path, cases: Iterable[str] = CASES, *, seed: int = 0
) -> LegacyLibrary:
    """Write a legacy library under ``root`` with one row per case (two for duplicate_hash)."""
    writer = _Writer(Path(root), seed)
    for n, case in enumerate(cases):
        writer.add_case(case, TYPES[n % len(TYPES)])
    return writer.commit()


def make_sample_library(
    root: Path,
    *,
    models: int = 300,
    image_size: tuple[int, int] | None = (96, 144),
    images_per_model: int = 1,
    images_for_first: int | None = None,
    vary_images: bool = False,
    include_cases: bool = True,
    seed: int = 0,
) -> LegacyLibrary:
    """Write a realistic library of ``models`` rows (at least one per case when included).

    Ordinary rows have real model files with valid hashes, a type, 0-3 user tags and
    ``images_per_model`` images of ``image_size`` (a random 0..images_per_model when
    ``vary_images``); only the first ``images_for_first`` ordinary rows get images when given.
    With ``include_cases`` every case of ``CASES`` is spread evenly among them.
    """
    writer = _Writer(Path(root), seed)
    rng = writer.rng
    cases = list(CASES) if include_cases else []
    case_rows = len(cases) + cases.count("duplicate_hash")
    total = max(models, case_rows)
    every = max(1, total // (len(cases) + 1))
    ordinary = 0
    while writer.next_id() <= total:
        i = writer.next_id()
        if cases and (i % every == 0 or total - i + 1 <= case_rows):
            case = cases.pop(0)
            case_rows -= 2 if case == "duplicate_hash" else 1
            writer.add_case(case, TYPES[i % len(TYPES)])
            continue
        with_images = images_for_first is None or ordinary < images_for_first
        size = image_size if with_images else None
        count = rng.randint(0, images_per_model) if vary_images else images_per_model
        images = (
            [writer.image(i, n, rng.choice(_FORMATS), size) for n in range(count)] if size else []
        )
        tags = rng.sample(USER_TAGS, rng.randint(0, 3))
        writer.add("ordinary", rng.choice(TYPES), name=f"model_{i:05d}", tags=tags, images=images)
        ordinary += 1
    return writer.commit()
