"""Odd legacy values are data, not crashes (issue 15.4): each is a per-field warning with a code,
its original kept losslessly under ``meta.extra``, and no item fails ``internal_error``.

The legacy DBs are written with raw sqlite3 (``tests.helpers.odd_legacy``), so SQLite holds
exactly the hostile value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.app import create_app
from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.jsonsafe import MAX_DEPTH
from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import ModelRecord, PendingMetaJson
from backend.database.migration.results import ItemRecord
from backend.database.migration.service import MigrationService
from tests.helpers.odd_legacy import (
    GOOD_HASH,
    OddLibrary,
    RawText,
    nested_text,
    odd_row,
    write_odd_library,
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[MigrationService]:
    svc = build_service(Settings(data_dir=tmp_path / "data"))
    yield svc
    svc.close()


@pytest.fixture
def client(service: MigrationService) -> FlaskClient:
    return create_app(service.settings, service).test_client()


def migrate(
    service: MigrationService, tmp_path: Path, rows: list[dict[str, Any]], **kw: Any
) -> tuple[OddLibrary, list[ItemRecord]]:
    lib = write_odd_library(tmp_path / "legacy", rows, **kw)
    result = service.migrate_legacy(lib.db_path, lib.images_dir)
    assert result.run_id is not None
    return lib, service.list_items(result.run_id).items


def only(items: list[ItemRecord]) -> ItemRecord:
    assert len(items) == 1
    return items[0]


def codes(item: ItemRecord) -> list[str]:
    return [w.code for w in item.warnings]


def model(service: MigrationService, sha256: str = GOOD_HASH) -> ModelRecord:
    with service.sessions() as session:
        record = LibraryRepository(session).get_model(sha256)
    assert record is not None
    return record


def test_an_empty_path_without_a_hash_is_its_own_error_and_never_a_pending_row(
    service: MigrationService, client: FlaskClient, tmp_path: Path
) -> None:
    rows = [odd_row(1, path="", hash_hex=""), odd_row(2, path=None, hash_hex="junk")]
    _, items = migrate(service, tmp_path, rows, id_type="INTEGER")

    assert [(i.state, i.last_error_code) for i in items] == [("failed", "empty_path")] * 2
    assert "empty path" in (items[0].last_error or "")
    response = client.get("/api/migration/pending_models")
    assert response.status_code == 200
    assert response.get_json() == {"models": []}


def test_an_empty_path_with_a_hash_is_the_same_clear_error(
    service: MigrationService, tmp_path: Path
) -> None:
    _, items = migrate(service, tmp_path, [odd_row(1, path="  ")])

    assert only(items).last_error_code == "empty_path"


def test_a_stored_pending_row_with_an_empty_path_cannot_break_the_api(
    service: MigrationService, client: FlaskClient
) -> None:
    with service.write_sessions() as session, session.begin():
        pending_id = LibraryRepository(session).upsert_pending(
            path="",
            name="left by an old version",
            type="lora",
            size_bytes=None,
            created_at=0,
            meta=PendingMetaJson(),
        )

    listed = client.get("/api/migration/pending_models")
    one = client.get(f"/api/migration/pending_model?id={pending_id}")
    promoted = client.post("/api/migration/import_models", json={"id": [pending_id]})

    assert listed.status_code == 200 and listed.get_json()["models"][0]["id"] == pending_id
    assert one.status_code == 200 and one.get_json()["path"] == ""
    assert promoted.status_code == 207
    assert promoted.get_json()["failed"][0]["error"].startswith("empty_path")


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("created_at", 1.5e300, "legacy_value_out_of_range"),
        ("created_at", 2**63 - 1 + 0.0, "legacy_value_out_of_range"),
        ("created_at", float("inf"), "legacy_field_invalid"),
        ("size_bytes", 9.9e99, "legacy_value_out_of_range"),
        ("size_bytes", -5, "legacy_value_out_of_range"),
        ("size_bytes", "twelve", "legacy_field_invalid"),
    ],
)
def test_numbers_out_of_range_are_warnings_with_the_original_kept(
    service: MigrationService, tmp_path: Path, column: str, value: Any, code: str
) -> None:
    _, items = migrate(service, tmp_path, [odd_row(1, **{column: value})])

    item = only(items)
    assert item.state == "promoted"
    assert code in codes(item)
    stored = model(service)
    assert getattr(stored, column) in (0, None)
    kept = stored.meta.extra[f"legacy_{column}"]
    assert kept == value or kept == repr(value)


def test_the_largest_64_bit_legacy_id_migrates(service: MigrationService, tmp_path: Path) -> None:
    _, items = migrate(service, tmp_path, [odd_row(2**63 - 1), odd_row(2**63 - 2, hash_hex="")])

    assert sorted(i.state for i in items) == ["promoted", "staged"]
    assert {i.source_key for i in items} == {str(2**63 - 1), str(2**63 - 2)}


def test_a_blob_in_created_at_is_kept_as_hex(
    service: MigrationService, client: FlaskClient, tmp_path: Path
) -> None:
    _, items = migrate(service, tmp_path, [odd_row(1, created_at=b"\x00\xff\x10")])

    item = only(items)
    assert item.state == "promoted" and "legacy_field_invalid" in codes(item)
    assert model(service).meta.extra["legacy_created_at"] == {"blob_hex": "00ff10"}
    assert client.get(f"/api/migration/items/{item.id}").status_code == 200


def test_blobs_in_text_columns_are_read_as_text_never_as_a_python_repr(
    service: MigrationService, tmp_path: Path
) -> None:
    row = odd_row(1, name=b"blob name", path=b"/models/blob\xff.pt", type=b"lora")
    _, items = migrate(service, tmp_path, [row])

    item = only(items)
    assert codes(item).count("legacy_blob_value") == 3
    stored = model(service)
    assert stored.name == "blob name"
    assert stored.path == "/models/blob\\xff.pt"
    assert stored.type == "loras"  # the legacy "lora", as its v2 tab
    assert stored.meta.extra["legacy_type"] == {"blob_hex": b"lora".hex()}  # the original
    assert "b'" not in stored.name + stored.path + stored.type
    assert stored.meta.extra["legacy_path"] == {"blob_hex": b"/models/blob\xff.pt".hex()}


def test_invalid_utf8_is_escaped_with_a_warning_and_kept_as_hex(
    service: MigrationService, tmp_path: Path
) -> None:
    extra = RawText(b'{"description": "caf\xe9 au lait", "k": 1}')
    _, items = migrate(service, tmp_path, [odd_row(1, name=RawText(b"caf\xe9"), extra_json=extra)])

    item = only(items)
    assert codes(item).count("legacy_text_not_utf8") == 2
    stored = model(service)
    assert stored.name == "caf\\xe9"
    assert "\ufffd" not in stored.name
    assert stored.meta.extra["legacy_name"] == {"utf8_invalid_hex": "636166e9"}
    assert bytes.fromhex(stored.meta.extra["legacy_extra_json"]["utf8_invalid_hex"]) == extra
    assert stored.meta.extra["k"] == 1  # the JSON still parsed
    assert stored.meta.description == "caf\ufffd au lait"  # readable; the exact bytes are above


@pytest.mark.parametrize("depth", [200, 500, 900])
def test_deeply_nested_extra_json_migrates_and_is_kept_exactly(
    service: MigrationService, tmp_path: Path, depth: int
) -> None:
    text = nested_text(depth)
    _, items = migrate(service, tmp_path, [odd_row(1, extra_json=text)])

    item = only(items)
    assert item.state == "promoted"
    assert "legacy_extra_too_deep" in codes(item)
    value: Any = model(service).meta.extra["deep"]
    levels = 1  # the top object
    while isinstance(value, list):
        (value,) = value
        levels += 1
    assert levels == MAX_DEPTH
    assert isinstance(value, str)
    assert f'{{"deep": {"[" * (MAX_DEPTH - 1)}{value}{"]" * (MAX_DEPTH - 1)}}}' == text
    assert service.audit(service.list_runs()[0].run_id).ok


def test_a_text_id_fails_its_item_and_the_rest_migrates(
    service: MigrationService, tmp_path: Path
) -> None:
    rows = [odd_row("abc", path="/m/a.pt"), odd_row(7, path="/m/b.pt", hash_hex="cd" * 32)]
    lib = write_odd_library(tmp_path / "legacy", rows, id_type="")

    preflight = service.preflight(lib.db_path, lib.images_dir)
    result = service.migrate_legacy(lib.db_path, lib.images_dir)

    assert (preflight.models, preflight.invalid_ids) == (2, 1)
    assert any("not an integer" in w for w in preflight.warnings)
    states = {
        i.source_key: (i.state, i.last_error_code) for i in service.list_items(result.run_id).items
    }
    assert states == {"7": ("promoted", None), "invalid-id:abc": ("failed", "legacy_id_invalid")}
    report = service.audit(result.run_id)
    assert [p.code for p in report.library_problems] == ["legacy_id_invalid"]


def test_the_cli_reads_a_text_id_without_a_traceback(tmp_path: Path) -> None:
    import subprocess

    lib = write_odd_library(tmp_path / "legacy", [odd_row("abc")], id_type="TEXT")
    env = {"MODEL_MIGRATE_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    for command in ("preflight", "legacy"):
        done = subprocess.run(
            [sys.executable, "-m", "backend.cli", command, str(lib.db_path), str(lib.images_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert "Traceback" not in done.stdout + done.stderr, done.stderr
        assert done.returncode in (0, 3), done.stdout + done.stderr


def test_no_odd_value_fails_an_item_with_internal_error(
    service: MigrationService, tmp_path: Path
) -> None:
    hashes = iter(f"{n:064x}" for n in range(1, 100))
    rows = [
        odd_row(n, **{"path": f"/m/{n}.pt", "hash_hex": next(hashes), **values})
        for n, values in enumerate(
            [
                {"created_at": 1.5e300},
                {"size_bytes": 9.9e99},
                {"created_at": b"\x01"},
                {"name": b"\xff", "type": b"\x00"},
                {"name": RawText(b"\xc3\x28"), "meta_json": RawText(b'{"a": "\xff"}')},
                {"extra_json": nested_text(700)},
                {"meta_json": nested_text(700)},
                {"extra_json": b"\x80\x81"},
                {"hash_hex": RawText(b"\xff" * 64)},
                {"created_at": None, "type": None, "name": None},
            ],
            start=1,
        )
    ]
    _, items = migrate(service, tmp_path, rows)

    assert len(items) == len(rows)
    assert [i.last_error_code for i in items if i.state == "failed"] == []
    assert all(i.warnings for i in items)


def test_a_stored_value_900_levels_deep_cannot_fail_the_api(
    service: MigrationService, client: FlaskClient
) -> None:
    with service.write_sessions() as session, session.begin():
        pending_id = LibraryRepository(session).upsert_pending(
            path="/m/deep.pt",
            name="deep",
            type="lora",
            size_bytes=1,
            created_at=0,
            meta=PendingMetaJson(),
        )
    from backend.database.models import PendingImport

    deep = '{"description": "kept", "extra": {"deep": ' + "[" * 900 + "1" + "]" * 900 + "}}"
    with service.write_sessions() as session, session.begin():
        session.get_one(PendingImport, pending_id).meta_json = deep

    listed = client.get("/api/migration/pending_models")
    one = client.get(f"/api/migration/pending_model?id={pending_id}")

    assert listed.status_code == 200
    assert one.status_code == 200
    meta = one.get_json()["meta"]
    assert meta["description"] == "kept"
    value: Any = meta["extra"]["deep"]
    while isinstance(value, list):
        (value,) = value
    assert isinstance(value, str) and json.loads(value.replace("[", "").replace("]", "")) == 1
