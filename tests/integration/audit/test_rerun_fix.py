"""The fix the audit names for inconsistencies (re-running the migration) repairs them."""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.database.migration.audit.catalogue import RERUN
from backend.database.migration.images import tier_file_name
from tests.helpers.audit_library import Migrated, problem_keys, sha_of
from tests.helpers.legacy_cases import only
from tests.helpers.service import make_service


def test_the_rerun_fix_repairs_a_deleted_tier_and_a_changed_description(
    lib: Migrated, tmp_path: Path
) -> None:
    valid = only(lib.legacy, "valid")
    (lib.data / "images" / tier_file_name(sha_of(valid), 0, "high")).unlink()
    lib.update_meta(sha_of(valid), description="edited by hand")
    broken = lib.audit()
    assert problem_keys(broken) == {
        ("tier_missing", valid.legacy_id),
        ("field_mismatch", valid.legacy_id),
    }
    assert all(RERUN in p.fix for p in broken.problems())
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(lib.legacy.db_path, copy)
    service = make_service(lib.data)
    try:
        service.migrate_legacy(copy, lib.legacy.images_dir, on_conflict="override")
    finally:
        service.close()
    assert lib.audit().problems() == []
