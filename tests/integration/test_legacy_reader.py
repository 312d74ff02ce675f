"""The legacy reader on real v1 libraries written by the factory (real SQLite, real files)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.database.migration.errors import LegacyDatabaseError
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.records import normalize_tag
from backend.sample.legacy_factory import (
    CASES,
    LegacyLibrary,
    LegacyRowSpec,
    make_legacy_library,
    make_sample_library,
)

EXPECTED_KIND = {"uppercase_hash": "uppercase", "garbage_hash": "invalid", "empty_hash": "missing"}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> LegacyLibrary:
    return make_legacy_library(tmp_path_factory.mktemp("legacy"), seed=3)


@pytest.fixture(scope="module")
def models(library: LegacyLibrary) -> dict[int, LegacyModel]:
    with LegacyReader(library.db_path, library.images_dir) as reader:
        return {m.legacy_id: m for m in reader.iter_models(batch_size=7)}


def _one(library: LegacyLibrary, models: dict[int, LegacyModel], case: str) -> LegacyModel:
    (spec,) = library.by_case(case)
    return models[spec.legacy_id]


def _codes(model: LegacyModel) -> list[str]:
    return [w.code for w in model.warnings]


# --------------------------------------------------------------------------- every case


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
        assert model.name == (spec.name or Path(spec.path).stem)
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


# --------------------------------------------------------------------------- read-only


def _snapshot(library: LegacyLibrary) -> dict[str, str]:
    """sha256 of the DB file and of every file (and link target) under the library root."""
    out: dict[str, str] = {}
    for path in sorted(library.root.rglob("*")):
        key = str(path.relative_to(library.root))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "dir"
    return out


_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | Path):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Paths opened (Python-level ``open``) while the test runs."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def _read_everything(reader: LegacyReader) -> None:
    every = list(reader.iter_models())
    assert len(every) == reader.count() == len(reader.ids())
    assert reader.get_many(reader.ids()) == {m.legacy_id: m for m in every}
    assert reader.get(every[0].legacy_id) == every[0]
    assert reader.preflight().models == len(every)
    assert len(reader.fingerprint()) == 64


def test_reading_changes_nothing_and_opens_no_image_or_model_file(
    tmp_path: Path, opened: list[str]
) -> None:
    library = make_legacy_library(tmp_path / "lib")
    before = _snapshot(library)
    opened.clear()
    with LegacyReader(library.db_path, library.images_dir) as reader:
        _read_everything(reader)
    seen = set(opened)
    assert _snapshot(library) == before
    assert str(library.db_path) in seen  # the hook works: the header check was seen
    assert seen <= {str(library.db_path)}


def test_connection_refuses_writes(library: LegacyLibrary) -> None:
    with LegacyReader(library.db_path, library.images_dir) as reader:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("CREATE TABLE intruder (a)")
        assert reader.count() == len(library.rows)


def test_reads_from_a_read_only_file_and_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions; the byte check above still runs")
    library = make_legacy_library(tmp_path / "lib", ["valid", "several_images"])
    before = _snapshot(library)
    library.db_path.chmod(0o444)
    library.root.chmod(0o555)
    try:
        with LegacyReader(library.db_path, library.images_dir) as reader:
            _read_everything(reader)
            assert reader.count() == 2
    finally:
        library.root.chmod(0o755)
        library.db_path.chmod(0o644)
    assert _snapshot(library) == before


def test_path_with_uri_special_characters(tmp_path: Path) -> None:
    library = make_legacy_library(tmp_path / "my lib #1 %20?x=1&mode=rw", ["valid"])
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert [m.legacy_id for m in reader.iter_models()] == [1]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("CREATE TABLE intruder (a)")


# --------------------------------------------------------------------------- bad input


def test_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(LegacyDatabaseError, match="not found") as err:
        LegacyReader(missing, tmp_path)
    assert str(missing) in err.value.message
    assert err.value.code == "legacy_db_invalid"


def test_not_a_sqlite_file(tmp_path: Path) -> None:
    bogus = tmp_path / "legacy.sqlite3"
    bogus.write_text("hello, I am a text file pretending to be a database")
    with pytest.raises(LegacyDatabaseError, match="not a SQLite database") as err:
        LegacyReader(bogus, tmp_path)
    assert str(bogus) in err.value.message


def test_directory_instead_of_database(tmp_path: Path) -> None:
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(tmp_path, tmp_path)
    assert str(tmp_path) in err.value.message


def test_sqlite_without_v1_tables(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(db, tmp_path)
    assert str(db) in err.value.message
    assert "models" in err.value.message and "model_tags" in err.value.message
    assert ", tags" not in err.value.message


@pytest.mark.parametrize("make", ["missing", "file"])
def test_images_dir_must_be_a_directory(library: LegacyLibrary, tmp_path: Path, make: str) -> None:
    images = tmp_path / "images"
    if make == "file":
        images.write_text("x")
    with pytest.raises(LegacyDatabaseError) as err:
        LegacyReader(library.db_path, images)
    assert str(images) in err.value.message


# --------------------------------------------------------------------------- preflight


def test_preflight_matches_the_factory(library: LegacyLibrary) -> None:
    rows = library.rows
    with LegacyReader(library.db_path, library.images_dir) as reader:
        pre = reader.preflight()
    kinds = [EXPECTED_KIND.get(r.case, "valid") for r in rows]
    image_kinds = [k for r in rows for k in r.image_kinds]
    assert pre.schema_version == 2
    assert pre.models == len(rows)
    assert (pre.valid_hashes, pre.uppercase_hashes) == (kinds.count("valid"), 1)
    assert (pre.missing_hashes, pre.invalid_hashes) == (1, 1)
    assert pre.duplicate_hashes == len(library.by_case("duplicate_hash")) - 1
    assert pre.tags == len({normalize_tag(t) for r in rows for t in r.tags})
    assert pre.images_referenced == sum(len(r.image_urls) for r in rows)
    assert pre.images_missing == image_kinds.count("missing")
    assert pre.images_outside == image_kinds.count("outside")
    assert pre.model_files_missing == sum(not r.file_exists for r in rows)
    assert pre.extra_invalid == 2
    assert pre.fields_invalid == 1
    assert any("outside" in w for w in pre.warnings)
    assert any("conflict" in w for w in pre.warnings)


def test_preflight_of_a_clean_library_has_no_warnings(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=40, include_cases=False)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        pre = reader.preflight()
    assert pre.models == pre.valid_hashes == 40
    assert pre.images_referenced == 40
    assert pre.warnings == []


# --------------------------------------------------------------------------- access, identity


def test_get_many_get_and_batches_agree(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=1200, image_size=None)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        statements: list[str] = []
        reader._conn.set_trace_callback(statements.append)
        every = list(reader.iter_models(batch_size=500))
        reader._conn.set_trace_callback(None)
        assert len(statements) <= 2 * 4  # a rows query + a tags query per batch: no N+1
        assert [m.legacy_id for m in every] == reader.ids() == [r.legacy_id for r in library.rows]
        assert list(reader.iter_models(batch_size=1)) == every
        wanted = [*reader.ids()[::3], 99_999]
        got = reader.get_many(wanted)
        assert sorted(got) == reader.ids()[::3]
        assert all(got[i] == every[i - 1] for i in got)
        assert reader.get(99_999) is None
        assert reader.get(5) == every[4]


def test_fingerprint_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    library = make_legacy_library(tmp_path / "lib", ["valid", "null_name"])
    with LegacyReader(library.db_path, library.images_dir) as reader:
        first = reader.fingerprint()
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert reader.fingerprint() == first
    changed = tmp_path / "changed.sqlite3"
    shutil.copy(library.db_path, changed)
    conn = sqlite3.connect(changed)
    with conn:
        conn.execute("UPDATE models SET name = 'edited' WHERE id = 1")
    conn.close()
    with LegacyReader(changed, library.images_dir) as reader:
        assert reader.fingerprint() != first


def test_reads_every_row_of_a_large_library_once(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "big", models=10_000, image_size=None)
    with LegacyReader(library.db_path, library.images_dir) as reader:
        ids = [m.legacy_id for m in reader.iter_models()]
    assert ids == sorted({r.legacy_id for r in library.rows})


# --------------------------------------------------------------------------- sample library


def test_sample_library_mixes_every_case_in(tmp_path: Path) -> None:
    library = make_sample_library(tmp_path / "lib", models=120, images_for_first=10, seed=5)
    assert len(library.rows) == 120
    assert {r.case for r in library.rows} == {*CASES, "ordinary"}
    ordinary = [r for r in library.rows if r.case == "ordinary"]
    assert [len(r.image_urls) for r in ordinary] == [1] * 10 + [0] * (len(ordinary) - 10)
    for r in ordinary:
        assert Path(r.path).parent.parent == library.models_dir
        assert r.hash_hex == hashlib.sha256(Path(r.path).read_bytes()).hexdigest()
        assert r.type in r.tags
    with LegacyReader(library.db_path, library.images_dir) as reader:
        assert reader.count() == 120


@pytest.mark.parametrize("models", [0, 29, 30, 31, 58, 59, 60])
def test_sample_library_has_exactly_the_rows_asked_for(tmp_path: Path, models: int) -> None:
    library = make_sample_library(tmp_path / "lib", models=models, image_size=None)
    case_rows = len(CASES) + 1  # duplicate_hash writes two rows
    assert [r.legacy_id for r in library.rows] == list(range(1, max(models, case_rows) + 1))
    assert {r.case for r in library.rows} >= set(CASES)


def test_sample_library_is_deterministic(tmp_path: Path) -> None:
    a = make_sample_library(tmp_path / "a", models=80, images_per_model=3, vary_images=True)
    b = make_sample_library(tmp_path / "b", models=80, images_per_model=3, vary_images=True)
    assert [(r.hash_hex, r.tags, len(r.image_urls)) for r in a.rows] == [
        (r.hash_hex, r.tags, len(r.image_urls)) for r in b.rows
    ]
    assert len({len(r.image_urls) for r in a.rows if r.case == "ordinary"}) > 1
    names = sorted(p.name for p in a.images_dir.iterdir())
    assert names == sorted(p.name for p in b.images_dir.iterdir())
    for name in names:
        if not (a.images_dir / name).is_symlink():
            assert (a.images_dir / name).read_bytes() == (b.images_dir / name).read_bytes()
