"""Builders for the tests that migrate into a v2 library that already holds content."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from backend.database.migration.backup import sqlite_path
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary
from backend.sample.v2_factory import V2Library, make_v2_library, write_types_cache
from tests.helpers.service import make_service


@dataclass
class Target:
    """A v2 data folder with content, and the service that migrates into it."""

    data: Path
    db: Path
    v2: V2Library
    service: MigrationService

    def migrate(self, lib: LegacyLibrary, **kwargs: object) -> int:
        run = self.service.start_legacy_run(lib.db_path, lib.images_dir, **kwargs)  # type: ignore[arg-type]
        self.service.run_until_done(run.id)
        return run.id

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def execute(self, sql: str, *args: object) -> None:
        conn = sqlite3.connect(self.db)
        try:
            with conn:
                conn.execute(sql, args)
        finally:
            conn.close()


def make_target(
    data: Path,
    models_root: Path,
    *,
    shared: tuple[tuple[str, str, str, int], ...] = (),
    types_cache: dict[str, list[Path]] | None = None,
) -> Target:
    """A v2 data folder (its types_cache.json, if any, written first, as the app does) with
    the v2 app's content, and a service on it."""
    if types_cache is not None:
        write_types_cache(data, types_cache)
    service = make_service(data)
    db = sqlite_path(service.engine)
    assert db is not None
    v2 = make_v2_library(data, models_root, db_path=db, shared=shared, types_cache=False)
    return Target(data, db, v2, service)


def file_digests(folder: Path, prefix: str) -> dict[str, str]:
    """SHA-256 of every file in ``folder`` whose name starts with ``prefix``."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.glob(f"{prefix}*"))
        if p.is_file()
    }
