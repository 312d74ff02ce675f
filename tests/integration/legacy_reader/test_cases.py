"""The legacy reader on a real v1 library written by the factory: every case reads as written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PIL import Image

from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.records import normalize_tag
from backend.sample.legacy_factory import CASES, LegacyLibrary, LegacyRowSpec
from tests.helpers.legacy_cases import EXPECTED_KIND


def _one(library: LegacyLibrary, models: dict[int, LegacyModel], case: str) -> LegacyModel:
    (spec,) = library.by_case(case)
    return models[spec.legacy_id]


def _codes(model: LegacyModel) -> list[str]:
    return [w.code for w in model.warnings]


def test_factory_writes_every_case(library: LegacyLibrary) -> None:
    assert {r.case for r in library.rows} == set(CASES)
    assert [r.legacy_id for r in library.rows] == list(range(1, len(CASES) + 2))


@pytest.mark.parametrize("case", CASES)
def test_each_case_matches_what_was_written(
    library: LegacyLibrary, models: dict[int, LegacyModel], case: str
) -> None:
    for spec in library.by_case(case):
        model = models[spec.legacy_id]
        assert model.path == spec.path
        assert model.name == (spec.name or Path(spec.path).name)
        assert (model.type, model.size_bytes, model.created_at) == (
            spec.type,
            spec.size_bytes,
            spec.created_at,
        )
        assert model.hash_raw == spec.hash_hex
        assert model.hash_kind == EXPECTED_KIND.get(case, "valid")
        expected_sha = spec.hash_hex.lower() if model.hash_kind in ("valid", "uppercase") else None
        assert model.sha256 == expected_sha
        assert model.tags == sorted({normalize_tag(t) for t in spec.tags})
        assert model.type in model.tags
        assert [i.url for i in model.images] == spec.image_urls
        _check_image_refs(library, spec, model)


def _check_image_refs(library: LegacyLibrary, spec: LegacyRowSpec, model: LegacyModel) -> None:
    images_real = os.path.realpath(library.images_dir)
    for ref, kind in zip(model.images, spec.image_kinds, strict=True):
        if kind == "outside":
            assert ref.path is None
            assert ref.warning is not None
            assert ref.warning.code == "image_outside_legacy_dir"
            assert ref.url in ref.warning.message
        else:
            assert ref.warning is None
            assert ref.path is not None
            assert os.path.dirname(ref.path) == images_real
            assert ref.path.name == ref.url.removeprefix("/media/")
            assert ref.path.is_file() == (kind != "missing")


def test_hashes_of_valid_rows_are_the_real_file_hashes(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    for spec in library.rows:
        model = models[spec.legacy_id]
        if model.sha256 is not None and spec.file_exists:
            assert model.sha256 == hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()


def test_duplicate_hash_rows_share_the_hash(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    first, second = (models[s.legacy_id] for s in library.by_case("duplicate_hash"))
    assert first.legacy_id < second.legacy_id
    assert first.sha256 == second.sha256 is not None
    assert first.path != second.path


def test_valid_row_maps_user_metadata(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    model = _one(library, models, "valid")
    assert model.description.startswith("Notes about")
    assert model.community_links.startswith("https://")
    assert model.prompts.positive and model.prompts.negative == "blurry"
    assert model.extra == {}
    assert model.all_warnings() == []


@pytest.mark.parametrize("case", ["null_extra", "empty_extra"])
def test_empty_extra_is_silent(
    library: LegacyLibrary, models: dict[int, LegacyModel], case: str
) -> None:
    model = _one(library, models, case)
    assert (model.description, model.extra, model.images, model.warnings) == ("", {}, [], [])


def test_malformed_and_non_object_extra_keep_raw_text(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    for case in ("malformed_extra", "non_object_extra"):
        (spec,) = library.by_case(case)
        model = models[spec.legacy_id]
        assert model.extra["legacy_extra_raw"] == spec.extra_json
        assert _codes(model) == ["legacy_extra_invalid"]
    malformed = _one(library, models, "malformed_extra")
    assert malformed.extra["legacy_meta_raw"] == library.by_case("malformed_extra")[0].meta_json


def test_unknown_keys_and_scanner_meta_are_kept(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    model = _one(library, models, "unknown_keys")
    assert model.extra["rating"] == 4.5
    assert model.extra["source"] == {"site": "civitai", "model_id": 1234}
    assert model.extra["trigger_words"] == ["foo", "bar"]
    assert model.extra["legacy_meta"] == "a user key that looks like ours"
    assert model.extra["legacy_meta_2"] == {"scanner": "v1", "mtime": 1.5}
    assert model.description == "has extra keys"
    assert model.warnings == []


def test_wrong_field_types_are_kept_prefixed(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    model = _one(library, models, "wrong_field_types")
    assert model.extra == {
        "note": "kept as is",
        "legacy_description": 42,
        "legacy_community_links": ["https://example.invalid"],
        "legacy_images": "/media/not-a-list.png",
        "legacy_prompts": ["masterpiece"],
    }
    assert _codes(model) == ["legacy_field_invalid"] * 4
    assert (model.description, model.community_links, model.images) == ("", "", [])


def test_unicode_tags_are_normalized(
    library: LegacyLibrary, models: dict[int, LegacyModel]
) -> None:
    model = _one(library, models, "unicode_tags")
    assert "日本語" in model.tags
    assert model.tags.count("concept art") == 1


def test_factory_images_are_what_the_specs_say(library: LegacyLibrary) -> None:
    for spec in library.rows:
        for url, kind in zip(spec.image_urls, spec.image_kinds, strict=True):
            if kind not in ("good", "broken"):
                continue
            path = library.images_dir / url.removeprefix("/media/")
            try:
                with Image.open(path) as im:
                    im.load()
                decoded = True
            except (OSError, Image.DecompressionBombError):
                decoded = False
            assert decoded == (kind == "good"), (spec.case, url)
