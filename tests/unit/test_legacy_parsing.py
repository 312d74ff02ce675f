"""Pure parsing of legacy v1 rows: hashes, extra_json, meta_json, image URLs (no files)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.database.migration.legacy.rows import (
    KNOWN_EXTRA_KEYS,
    build_model,
    classify_hash,
    parse_extra,
    parse_meta,
    resolve_image_url,
)

ROOT = os.path.realpath("/nonexistent-legacy-root/images")
HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("raw", "kind", "sha"),
    [
        (HEX, "valid", HEX),
        (HEX.upper(), "uppercase", HEX),
        ("A" + HEX[1:], "uppercase", "a" + HEX[1:]),
        ("", "missing", None),
        ("   \t", "missing", None),
        ("abc123", "invalid", None),
        (HEX + "0", "invalid", None),
        ("g" + HEX[1:], "invalid", None),
        (f" {HEX} ", "invalid", None),
    ],
)
def test_classify_hash(raw: str, kind: str, sha: str | None) -> None:
    assert classify_hash(raw) == (kind, sha)


def test_parse_extra_maps_known_keys_and_keeps_the_rest() -> None:
    text = json.dumps(
        {
            "description": "d",
            "community_links": "https://x",
            "images": ["/media/a.png", "/media/b.jpg"],
            "prompts": {"positive": "p", "negative": "n"},
            "rating": 5,
            "nested": {"a": [1, 2]},
        }
    )
    parsed = parse_extra(text)
    assert (parsed.description, parsed.community_links) == ("d", "https://x")
    assert parsed.image_urls == ["/media/a.png", "/media/b.jpg"]
    assert (parsed.prompts.positive, parsed.prompts.negative) == ("p", "n")
    assert parsed.extra == {"rating": 5, "nested": {"a": [1, 2]}}
    assert parsed.warnings == []


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_parse_extra_empty_is_silent(text: str | None) -> None:
    parsed = parse_extra(text)
    assert parsed.extra == {}
    assert parsed.warnings == []
    assert parsed.image_urls == []


@pytest.mark.parametrize("text", ['{"description": "x"', "not json", "[1, 2]", '"s"', "3", "null"])
def test_parse_extra_invalid_keeps_raw_text(text: str) -> None:
    parsed = parse_extra(text)
    assert parsed.extra == {"legacy_extra_raw": text}
    assert [w.code for w in parsed.warnings] == ["legacy_extra_invalid"]
    assert parsed.description == ""


def test_parse_extra_deep_nesting_does_not_raise() -> None:
    text = "[" * 100_000 + "]" * 100_000
    assert [w.code for w in parse_extra(text).warnings] == ["legacy_extra_invalid"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("description", 42),
        ("community_links", ["a"]),
        ("images", "/media/a.png"),
        ("images", ["/media/a.png", None]),
        ("prompts", ["p"]),
        ("prompts", {"positive": 1}),
        ("prompts", {"positive": "p", "seed": "1"}),
    ],
)
def test_parse_extra_wrong_type_is_kept_with_prefix(key: str, value: Any) -> None:
    parsed = parse_extra(json.dumps({key: value, "other": 1}))
    assert parsed.extra == {f"legacy_{key}": value, "other": 1}
    assert [w.code for w in parsed.warnings] == ["legacy_field_invalid"]
    assert parsed.image_urls == []
    assert (parsed.description, parsed.prompts.positive) == ("", "")


def test_parse_extra_prefixed_key_never_overwrites_a_user_key() -> None:
    parsed = parse_extra(json.dumps({"description": 1, "legacy_description": "mine"}))
    assert parsed.extra == {"legacy_description": "mine", "legacy_description_2": 1}


def test_parse_extra_null_known_values_are_absent() -> None:
    parsed = parse_extra(json.dumps(dict.fromkeys(KNOWN_EXTRA_KEYS)))
    assert parsed.extra == {}
    assert parsed.warnings == []


def test_parse_extra_non_standard_constants_become_text() -> None:
    parsed = parse_extra('{"score": NaN, "max": Infinity, "description": "d"}')
    assert parsed.extra == {"score": "NaN", "max": "Infinity"}
    assert parsed.description == "d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {}),
        ("", {}),
        ('{"mtime": 1}', {"legacy_meta": {"mtime": 1}}),
        ("scanner crashed", {"legacy_meta_raw": "scanner crashed"}),
        ("[1]", {"legacy_meta_raw": "[1]"}),
    ],
)
def test_parse_meta(text: str | None, expected: dict[str, Any]) -> None:
    extra: dict[str, Any] = {}
    parse_meta(text, extra)
    assert extra == expected


@pytest.mark.parametrize(
    "url",
    [
        "/media/../secret.png",
        "/media/a/../../secret.png",
        "/media/a/..",
        "/media//etc/passwd",
        "/etc/passwd",
        "media/a.png",
        "/media/",
        "/media",
        "https://example.com/a.png",
        "/media/a\\..\\..\\b.png",
        "/media/a.png\x00.jpg",
        "/media/\ud800.png",
        "/media/%2e%2e/d.png",  # percent-decoded once (issue 15): "../d.png"
        "",
    ],
)
def test_escaping_urls_are_refused(url: str) -> None:
    ref = resolve_image_url(url, ROOT)
    assert ref.path is None
    assert ref.warning is not None
    assert ref.warning.code == "image_outside_legacy_dir"
    assert "\x00" not in ref.warning.message


@pytest.mark.parametrize(
    ("url", "rel"),
    [
        ("/media/a.png", "a.png"),
        ("/media/sub/b.jpg", "sub/b.jpg"),
        ("/media/./c.webp", "c.webp"),
        ("/media/model_1_2_..name.png", "model_1_2_..name.png"),
    ],
)
def test_good_urls_resolve_inside(url: str, rel: str) -> None:
    ref = resolve_image_url(url, ROOT)
    assert ref.warning is None
    assert str(ref.path) == os.path.join(ROOT, rel)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_media_url_resolves_inside_or_is_refused(rel: str) -> None:
    ref = resolve_image_url("/media/" + rel, ROOT)
    if ref.path is None:
        assert ref.warning is not None and ref.warning.code == "image_outside_legacy_dir"
    else:
        assert ref.warning is None
        assert str(ref.path).startswith(ROOT + os.sep)
        assert ".." not in ref.path.parts


def _row(extra_json: Any, *, name: Any = None, created: Any = 1000) -> tuple[Any, ...]:
    """A models row in the reader's column order (id, path, type, hash, name, size, created…)."""
    path = "/models/loras/My Model.v2.safetensors"
    return (7, path, "lora", HEX, name, 10, created, None, extra_json)


def test_build_model_name_falls_back_to_the_file_name_with_its_extension() -> None:
    assert build_model(_row(None), [], ROOT).name == "My Model.v2.safetensors"
    assert build_model(_row(None, name="  "), [], ROOT).name == "My Model.v2.safetensors"
    assert build_model(_row(None, name="Kept"), [], ROOT).name == "Kept"


def test_build_model_tolerates_null_type_and_negative_size() -> None:
    row = (7, "/m/a.safetensors", None, "", "a", -5, 1000, None, None)
    model = build_model(row, [], ROOT)
    assert (model.type, model.size_bytes, model.hash_kind) == ("other", None, "missing")


def test_build_model_normalizes_and_sorts_tags() -> None:
    model = build_model(_row(None), ["lora", " Anime", "anime", "日本語", "  "], ROOT)
    assert model.tags == ["anime", "lora", "日本語"]


def test_build_model_bad_created_at_is_a_warning() -> None:
    model = build_model(_row(None, created="yesterday"), [], ROOT)
    assert model.created_at == 0
    assert model.extra == {"legacy_created_at": "yesterday"}
    assert [w.code for w in model.warnings] == ["legacy_field_invalid"]


def _json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )


_objects = st.dictionaries(
    st.sampled_from([*KNOWN_EXTRA_KEYS, "legacy_images", "legacy_prompts"]) | st.text(),
    _json_values(),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(st.text() | _objects.map(json.dumps))
def test_arbitrary_extra_json_never_raises(text: str) -> None:
    model = build_model(_row(text), ["x"], ROOT)
    assert model.legacy_id == 7
    for warning in model.warnings:
        assert warning.code in {"legacy_extra_invalid", "legacy_field_invalid"}


@settings(max_examples=300, deadline=None)
@given(_objects)
def test_every_key_of_an_object_is_mapped_or_kept(obj: dict[str, Any]) -> None:
    model = build_model(_row(json.dumps(obj)), [], ROOT)
    prompts = model.prompts.model_dump()
    mapped = {
        "description": model.description == obj.get("description"),
        "community_links": model.community_links == obj.get("community_links"),
        "images": [ref.url for ref in model.images] == obj.get("images"),
        "prompts": isinstance(obj.get("prompts"), dict)
        and all(prompts.get(k) == v for k, v in obj["prompts"].items()),
    }
    for key, value in obj.items():
        if key not in KNOWN_EXTRA_KEYS:
            assert model.extra[key] == value
        elif value is not None and not mapped[key]:
            kept = [v for k, v in model.extra.items() if k.startswith(f"legacy_{key}")]
            assert value in kept
            assert "legacy_field_invalid" in {w.code for w in model.warnings}
    assert "legacy_extra_raw" not in model.extra or "legacy_extra_raw" in obj
