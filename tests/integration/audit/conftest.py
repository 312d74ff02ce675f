"""Fixtures of the audit tests: the untouched legacy library, and a migrated copy to damage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.cli.verify import exit_code
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.audit_library import Migrated, file_sha, migrate_template
from tests.helpers.library_snapshot import snapshot_tree


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[LegacyLibrary]:
    """The CASES library; the test fails if anything under it changed (the DB's bytes too)."""
    lib = make_legacy_library(tmp_path / "legacy")
    before = snapshot_tree(lib.root)
    db_bytes = file_sha(lib.db_path)
    yield lib
    assert file_sha(lib.db_path) == db_bytes, "the audit wrote to the legacy DB"
    assert snapshot_tree(lib.root) == before, "the legacy library was modified"


@pytest.fixture(scope="package")
def template(tmp_path_factory: pytest.TempPathFactory) -> Migrated:
    """One completely migrated library, built once for all audit tests."""
    return migrate_template(tmp_path_factory.mktemp("audit-template"))


@pytest.fixture
def lib(template: Migrated, tmp_path: Path) -> Migrated:
    """A copy of the template's data dir for this test; it audits clean before the damage."""
    copy = template.copy_to(tmp_path / "data")
    assert exit_code(copy.audit()) == 0, copy.audit().problems()
    return copy
