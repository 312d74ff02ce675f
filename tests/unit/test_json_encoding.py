"""encode_json: pydantic-core's encoder for bulk-write parameters, read back exactly as the
``json.dumps`` text it replaced (the server parses one or the other into the same rows)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.rowsets import encode_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # lone surrogates included: a file name that was not UTF-8
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _same(left: Any, right: Any) -> bool:
    """Equal as parsed JSON, NaN equal to NaN."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


@given(VALUES)
def test_reads_back_as_json_dumps_does(value: Any) -> None:
    assert _same(json.loads(encode_json(value)), json.loads(json.dumps(value)))


def test_rows_of_a_group_read_back_in_order_with_their_types() -> None:
    rows = [
        {"v_status": "promoted", "v_artifacts": {"image_seqs": [], "n": 2}, "at": 1764489600.125},
        {"v_status": "failed", "v_warnings": [{"code": "x", "file": "日本語.png"}], "at": 1e16},
    ]
    text = encode_json(rows)
    assert "日本語" in text  # written as is, not escaped
    assert json.loads(text) == rows


def test_nan_infinity_and_a_lone_surrogate_are_written_as_json_dumps_writes_them() -> None:
    assert encode_json([math.nan, math.inf, -math.inf]) == "[NaN,Infinity,-Infinity]"
    assert encode_json({"file": "a\udcff.png"}) == json.dumps({"file": "a\udcff.png"})


def test_a_value_json_cannot_hold_is_refused_as_before() -> None:
    with pytest.raises(TypeError):
        encode_json({"when": object()})
