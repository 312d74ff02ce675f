"""The row pass runs with the garbage collector's automatic runs off, collecting young
generations itself every few pages, and always gives the collector back."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from backend.database.migration.audit import report as audit_report
from backend.database.migration.audit.records import RowAudit
from tests.helpers.audit_library import Migrated
from tests.helpers.service import make_service


def test_rows_are_audited_without_automatic_collections_and_pages_are_collected(
    lib: Migrated, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(lib.data)
    try:
        whole = service.audit(lib.run_id)
        monkeypatch.setattr(audit_report, "PAGE", 2)
        monkeypatch.setattr(audit_report, "COLLECT_EVERY", 1)
        collected: list[int] = []

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                collected.append(info["generation"])

        enabled: list[bool] = []
        rows: list[RowAudit] = []

        def on_row(row: RowAudit) -> None:
            enabled.append(gc.isenabled())
            rows.append(row)

        gc.callbacks.append(on_gc)
        try:
            paged = service.audit(lib.run_id, on_row=on_row)
        finally:
            gc.callbacks.remove(on_gc)
        assert gc.isenabled()

        def fail(row: RowAudit) -> None:
            raise RuntimeError("the caller stops the audit")

        with pytest.raises(RuntimeError):
            service.audit(lib.run_id, on_row=fail)
        assert gc.isenabled()
    finally:
        service.close()
    assert enabled and not any(enabled)
    pages = len(lib.legacy.rows) // 2
    assert collected.count(1) >= pages
    assert rows == whole.rows
    assert paged.summary == whole.summary and paged.verdict == whole.verdict
