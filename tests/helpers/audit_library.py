"""Builders and look-ups for the audit tests: a migrated library to damage by hand, report queries.

``migrate_template`` migrates the CASES legacy library completely (the duplicate resolved by
merge, one staged row promoted, one still pending); tests copy its data dir (``Migrated.copy_to``)
and damage the copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from backend.database.migration.audit.records import AuditReport, RowAudit
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, LegacyRowSpec, make_legacy_library
from tests.helpers.legacy_cases import only
from tests.helpers.service import make_service


def row_of(report: AuditReport, legacy_id: int) -> RowAudit:
    """The report's row for one legacy id."""
    return next(r for r in report.rows if r.legacy_id == legacy_id)


def problem_keys(report: AuditReport) -> set[tuple[str, int | None]]:
    """(code, legacy id) of every problem."""
    return {(p.code, p.legacy_id) for p in report.problems()}


def item_id_of(service: MigrationService, run_id: int, legacy_id: int) -> int:
    """The work item id of one legacy row in a run."""
    item = service.store.item_by_source(run_id, str(legacy_id))
    assert item is not None
    return item.id


def file_sha(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha_of(spec: LegacyRowSpec) -> str:
    """The model hash a legacy row with a valid hash imports as."""
    return spec.hash_hex.lower()


@dataclass
class Migrated:
    """A migrated library (copied per test): one staged row still pending, one promoted."""

    legacy: LegacyLibrary
    data: Path
    run_id: int
    pending_spec: LegacyRowSpec  # still a pending model
    promoted_spec: LegacyRowSpec  # staged, then promoted in stage 2

    @property
    def url(self) -> str:
        return f"sqlite:///{self.data / 'hikaze_model_manager.db'}"

    def sql(self, statement: str, **params: object) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def update_meta(self, sha256: str, **changes: object) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                meta = json.loads(
                    conn.execute(
                        text("SELECT meta_json FROM models WHERE sha256 = :sha"), {"sha": sha256}
                    ).scalar_one()
                )
                conn.execute(
                    text("UPDATE models SET meta_json = :meta WHERE sha256 = :sha"),
                    {"sha": sha256, "meta": json.dumps({**meta, **changes})},
                )
        finally:
            engine.dispose()

    def audit(self, *, deep: bool = False) -> AuditReport:
        service = make_service(self.data)
        try:
            return service.audit(self.run_id, deep=deep)
        finally:
            service.close()

    def copy_to(self, data: Path) -> Migrated:
        """The same library with its data dir copied to ``data``."""
        shutil.copytree(self.data, data, symlinks=True)
        return Migrated(self.legacy, data, self.run_id, self.pending_spec, self.promoted_spec)


def migrate_template(root: Path) -> Migrated:
    """Migrate the CASES library under ``root``: merge the duplicate, promote one staged row."""
    lib = make_legacy_library(root / "legacy")
    service = make_service(root / "data")
    try:
        run = service.start_legacy_run(lib.db_path, lib.images_dir)
        service.run_until_done(run.id)
        copy = lib.by_case("duplicate_hash")[1]
        service.resolve(item_id_of(service, run.id, copy.legacy_id), "merge")
        service.run_until_done(run.id)
        pending = {p.path: p.id for p in service.pending_models()}
        promoted_spec = only(lib, "garbage_hash")
        assert service.promote_batch([pending[promoted_spec.path]]).success
    finally:
        service.close()
    return Migrated(lib, root / "data", run.id, only(lib, "empty_hash"), promoted_spec)
