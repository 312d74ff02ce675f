"""conflicts.combine: override and merge on every field (no I/O)."""

from __future__ import annotations

import pytest

from backend.database.migration.conflicts import Strategy, combine
from backend.database.migration.records import MetaJson, ModelRecord, Prompts

SHA = "ab" * 32


def model(**fields: object) -> ModelRecord:
    meta = fields.pop("meta", MetaJson())
    base: dict[str, object] = {
        "sha256": SHA,
        "path": "/x",
        "name": "",
        "type": "other",
        "size_bytes": None,
        "created_at": 1,
        "meta": meta,
        "tags": [],
    }
    base.update(fields)
    return ModelRecord.model_validate(base)


EXISTING = model(
    path="/old/a.safetensors",
    name="old name",
    type="checkpoint",
    size_bytes=100,
    created_at=1000,
    meta=MetaJson(
        description="old description",
        community_links="",
        prompts=Prompts(positive="old positive", negative=""),
        extra={"shared": "old", "only_old": 1, "old_empty": ""},
        images_count=3,
    ),
    tags=["anime", "checkpoint"],
)
INCOMING = model(
    path="/new/b.safetensors",
    name="",
    type="lora",
    size_bytes=None,
    created_at=2000,
    meta=MetaJson(
        description="",
        community_links="https://new.invalid",
        prompts=Prompts(positive="new positive", negative="new negative"),
        extra={"shared": "new", "only_new": [1], "old_empty": "filled", "new_empty": ""},
        images_count=7,
    ),
    tags=["lora", "anime", "日本語"],
)


def test_override_takes_every_non_empty_incoming_field() -> None:
    out = combine(EXISTING, INCOMING, Strategy.OVERRIDE)
    assert out.sha256 == SHA
    assert out.path == "/new/b.safetensors"
    assert out.name == "old name"  # incoming empty: kept
    assert out.type == "lora"
    assert out.size_bytes == 100  # incoming None: kept
    assert out.created_at == 1000  # the library's first sighting is kept
    assert out.meta.description == "old description"
    assert out.meta.community_links == "https://new.invalid"
    assert out.meta.prompts == Prompts(positive="new positive", negative="new negative")
    assert out.meta.extra == {
        "shared": "new",
        "only_old": 1,
        "only_new": [1],
        "old_empty": "filled",
        "new_empty": "",
    }
    assert out.meta.images_count == 3  # appended images update it later
    assert out.tags == ["anime", "checkpoint", "lora", "日本語"]


def test_merge_fills_only_empty_fields() -> None:
    out = combine(EXISTING, INCOMING, Strategy.MERGE)
    assert out.path == "/old/a.safetensors"
    assert out.name == "old name"
    assert out.type == "checkpoint"
    assert out.size_bytes == 100
    assert out.created_at == 1000
    assert out.meta.description == "old description"
    assert out.meta.community_links == "https://new.invalid"  # was empty
    assert out.meta.prompts == Prompts(positive="old positive", negative="new negative")
    assert out.meta.extra == {
        "shared": "old",
        "only_old": 1,
        "only_new": [1],
        "old_empty": "filled",
        "new_empty": "",
    }
    assert out.meta.images_count == 3
    assert out.tags == ["anime", "checkpoint", "lora", "日本語"]


def test_merge_fills_empty_name_and_size() -> None:
    existing = model(name="", size_bytes=None)
    incoming = model(name="named", size_bytes=5)
    out = combine(existing, incoming, Strategy.MERGE)
    assert (out.name, out.size_bytes) == ("named", 5)
    assert combine(existing, incoming, Strategy.OVERRIDE).name == "named"


@pytest.mark.parametrize("strategy", [Strategy.OVERRIDE, Strategy.MERGE])
def test_combining_with_itself_changes_nothing(strategy: Strategy) -> None:
    assert combine(EXISTING, EXISTING, strategy) == EXISTING


@pytest.mark.parametrize("strategy", [Strategy.OVERRIDE, Strategy.MERGE])
def test_inputs_are_not_mutated(strategy: Strategy) -> None:
    existing, incoming = EXISTING.model_copy(deep=True), INCOMING.model_copy(deep=True)
    combine(existing, incoming, strategy)
    assert existing == EXISTING and incoming == INCOMING


@pytest.mark.parametrize("strategy", [Strategy.IGNORE, Strategy.DELETE])
def test_ignore_and_delete_write_no_model(strategy: Strategy) -> None:
    with pytest.raises(ValueError):
        combine(EXISTING, INCOMING, strategy)
