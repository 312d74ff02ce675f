"""Strict records: hash normalization, validation errors, and lossless meta_json round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from backend.database.migration.records import (
    MetaJson,
    ModelRecord,
    PendingMetaJson,
    PendingModelRecord,
    Prompts,
    Tag,
)

HEX = "0123456789abcdef"


def model(**overrides: Any) -> ModelRecord:
    values: dict[str, Any] = {
        "sha256": "a" * 64,
        "path": "/models/a.safetensors",
        "name": "a",
        "type": "lora",
        "created_at": 1,
    }
    values.update(overrides)
    return ModelRecord(**values)


def test_upper_case_hash_is_normalized_to_lower_case() -> None:
    assert model(sha256="ABCDEF" + "0" * 58).sha256 == "abcdef" + "0" * 58


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "a" * 63, "a" * 65, " " + "a" * 63])
def test_anything_but_64_hex_is_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError, match="64 hexadecimal"):
        model(sha256=bad)


def test_images_count_cannot_be_negative() -> None:
    with pytest.raises(ValidationError):
        MetaJson(images_count=-1)


def test_path_must_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        model(path="  ")


def test_unknown_fields_are_rejected_not_dropped() -> None:
    with pytest.raises(ValidationError):
        MetaJson.model_validate({"description": "x", "surprise": 1})


def test_tag_names_are_trimmed_and_lower_cased() -> None:
    assert Tag(id=1, name="  Concept Art ").name == "concept art"


def test_pending_record_allows_a_missing_hash() -> None:
    row = PendingModelRecord(id=1, path="/m.ckpt", name="m", type="other", created_at=0)
    assert row.sha256 is None
    assert row.meta.images == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    description=st.text(),
    links=st.text(),
    positive=st.text(),
    negative=st.text(),
    extra=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    images_count=st.integers(min_value=0, max_value=10_000),
)
def test_meta_json_round_trips_without_loss(
    description: str,
    links: str,
    positive: str,
    negative: str,
    extra: dict[str, Any],
    images_count: int,
) -> None:
    meta = MetaJson(
        description=description,
        community_links=links,
        prompts=Prompts(positive=positive, negative=negative),
        extra=extra,
        images_count=images_count,
    )
    text = meta.model_dump_json()
    again = MetaJson.model_validate_json(text)
    assert again == meta
    assert json.loads(text)["extra"] == extra


@given(images=st.lists(st.text(min_size=1, max_size=20), max_size=5))
def test_pending_meta_json_round_trips(images: list[str]) -> None:
    meta = PendingMetaJson(description="d", images=images)
    assert PendingMetaJson.model_validate_json(meta.model_dump_json()) == meta
