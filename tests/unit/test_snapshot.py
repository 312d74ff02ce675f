"""An item snapshot is deep for artifacts and warnings: a rolled-back apply that changed them
in place leaves no trace once the snapshot is restored."""

from __future__ import annotations

from workflows.records import WorkItem
from workflows.steps import restore, snapshot


def test_restore_undoes_changes_made_in_place_at_any_depth() -> None:
    item = WorkItem(
        id=1,
        run_id=1,
        kind="legacy",
        source_key="1",
        sha256=None,
        state="pending",
        failed_from_state=None,
        attempts=0,
        max_attempts=5,
        crashes=0,
        strategy=None,
        artifacts={"image_seqs": [0, 1], "conflict": {"sha256": "a", "legacy_id": None}},
        warnings=[{"code": "w", "message": "m"}],
        version=3,
        last_error_code=None,
        last_error=None,
    )
    saved = snapshot(item)
    item.artifacts["image_seqs"].append(2)
    item.artifacts["conflict"]["sha256"] = "b"
    item.warnings[0]["code"] = "changed"
    item.warnings.append({"code": "new", "message": "x"})
    item.state, item.version, item.sha256 = "imported", 4, "c" * 64
    restore(item, saved)
    assert (item.state, item.version, item.sha256) == ("pending", 3, None)
    assert item.artifacts == {"image_seqs": [0, 1], "conflict": {"sha256": "a", "legacy_id": None}}
    assert item.warnings == [{"code": "w", "message": "m"}]
