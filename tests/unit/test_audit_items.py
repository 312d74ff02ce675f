"""The audit reads an item's JSON columns exactly as ``json.loads`` does, whatever they hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from backend.database.migration.audit.state import _item

_TEXT = st.text(st.characters(exclude_categories=()))
"""Any text, lone surrogates too (a file name that was not UTF-8)."""
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _row(artifacts: str, warnings: str) -> tuple[Any, ...]:
    return (7, 1, "legacy", "7", None, "promoted", None, None, None, None, artifacts, warnings)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (NaN equals NaN here)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@given(extra=st.dictionaries(_TEXT, _JSON, max_size=4), file=_TEXT)
def test_json_columns_read_as_json_loads_reads_them(extra: dict[str, Any], file: str) -> None:
    artifacts = json.dumps({"image_seqs": [0, 2], "image_mode": "replace", **extra})
    warnings = json.dumps([{"code": "image_missing", "file": file, "message": "m"}])
    item = _item(_row(artifacts, warnings))
    assert _same(item.artifacts, json.loads(artifacts))
    assert item.warnings == json.loads(warnings)
    assert item.image_seqs == json.loads(artifacts)["image_seqs"]
    assert item.image_mode == json.loads(artifacts)["image_mode"]


def test_an_item_without_artifacts_or_warnings_reads_as_empty() -> None:
    item = _item(_row("{}", "[]"))
    assert item.artifacts == {} and item.warnings == []
    assert item.image_seqs == [] and item.image_mode is None
    surrogate = _item(_row(json.dumps({"pending_images": ["a\udcff.png"]}), "[]"))
    assert surrogate.artifacts == {"pending_images": ["a\udcff.png"]}
