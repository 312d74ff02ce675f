"""The row pass runs with the collector's young threshold raised (``batch_collections``) and
always gives the process its thresholds back; small pages audit the same rows as large ones."""

from __future__ import annotations

import gc

import pytest

from backend.database.migration.audit import report as audit_report
from backend.database.migration.audit.records import RowAudit
from tests.helpers.audit_library import Migrated
from tests.helpers.service import make_service
from workflows.collector import BATCH_THRESHOLD


def test_rows_are_audited_with_the_raised_threshold_and_pages_of_any_size(
    lib: Migrated, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = gc.get_threshold()
    assert before[0] < BATCH_THRESHOLD
    service = make_service(lib.data)
    try:
        whole = service.audit(lib.run_id)
        monkeypatch.setattr(audit_report, "PAGE", 2)
        thresholds: list[int] = []
        rows: list[RowAudit] = []

        def on_row(row: RowAudit) -> None:
            thresholds.append(gc.get_threshold()[0])
            rows.append(row)

        paged = service.audit(lib.run_id, on_row=on_row)
        assert gc.get_threshold() == before

        def fail(row: RowAudit) -> None:
            raise RuntimeError("the caller stops the audit")

        with pytest.raises(RuntimeError):
            service.audit(lib.run_id, on_row=fail)
        assert gc.get_threshold() == before
    finally:
        service.close()
    assert thresholds and set(thresholds) == {BATCH_THRESHOLD}
    assert rows == whole.rows
    assert paged.summary == whole.summary and paged.verdict == whole.verdict
