"""The audit's keyed reads give the same pages with the keys as one JSON parameter (SQLite
with ``json_each``) and as an expanding IN list (other databases, a SQLite without it)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from backend.database.migration.audit import keyed
from backend.database.migration.audit.records import AuditReport
from tests.helpers.audit_library import Migrated
from tests.helpers.service import make_service


def _comparable(report: AuditReport) -> dict[str, object]:
    return report.model_dump(exclude={"counts": {"seconds"}})


def test_json_keys_and_an_in_list_read_the_same_pages(
    lib: Migrated, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(lib.url)
    with engine.connect() as conn:
        assert keyed.keyed_reads(conn).as_json
    engine.dispose()
    service = make_service(lib.data)
    try:
        as_json = service.audit(lib.run_id)
        monkeypatch.setattr(keyed, "_json_each", lambda db: False)
        as_list = service.audit(lib.run_id)
    finally:
        service.close()
    assert len(as_json.rows) == len(lib.legacy.rows)
    assert _comparable(as_list) == _comparable(as_json)
