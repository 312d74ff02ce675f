"""The v2 endpoints keep their shapes; every bad input is a 4xx with the error body."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.sample.legacy_factory import LegacyLibrary

MIGRATE = "/api/migration/migrate_legacy_db"
IMPORT = "/api/migration/import_models"


def paths(lib: LegacyLibrary) -> dict[str, Any]:
    return {"legacy_db_path": str(lib.db_path), "legacy_images_dir": str(lib.images_dir)}


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return dict(body["error"])


# --- migrate_legacy_db ------------------------------------------------------------------------


def test_migrate_legacy_db_returns_the_v2_summary(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    response = client.post(MIGRATE, json=paths(legacy))

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "needs_attention"  # the duplicate hash is a conflict
    assert {"migrated", "pending", "errors", "images_processed", "image_errors"} <= set(
        body["db_migration"]
    )
    assert body["db_migration"]["migrated"] == 4
    assert body["db_migration"]["pending"] == 1
    assert body["db_migration"]["image_errors"] == 1
    assert body["counts"]["conflicted"] == 1
    assert isinstance(body["run_id"], int)


def test_migrate_legacy_db_again_resumes_the_same_run(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    first = client.post(MIGRATE, json=paths(legacy)).get_json()
    second = client.post(MIGRATE, json=paths(legacy)).get_json()

    assert second["run_id"] == first["run_id"]
    assert second["counts"] == first["counts"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"legacy_db_path": "/x.db"},
        {"legacy_db_path": 5, "legacy_images_dir": "/tmp"},
        {"legacy_db_path": ["/x.db"], "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "relative.db", "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "", "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "/x\u0000.db", "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "/\ud800.db", "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "/" + "a" * 300, "legacy_images_dir": "/tmp"},
        {"legacy_db_path": "/x.db", "legacy_images_dir": "/tmp", "surprise": 1},
        {"legacy_db_path": "/x.db", "legacy_images_dir": "/tmp", "on_conflict": "delete"},
        {"legacy_db_path": "/x.db", "legacy_images_dir": "/tmp", "on_conflict": "yolo"},
        [],
        "a string",
    ],
)
def test_migrate_legacy_db_rejects_invalid_values(client: FlaskClient, body: Any) -> None:
    error = error_of(client.post(MIGRATE, json=body), 422)

    assert error["code"] == "validation_error"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"legacy_db_path": NaN}', "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
    ],
)
def test_migrate_legacy_db_rejects_a_malformed_body(
    client: FlaskClient, data: str | bytes, content_type: str
) -> None:
    error = error_of(client.post(MIGRATE, data=data, content_type=content_type), 400)

    assert error["code"] == "malformed_body"


def test_a_missing_legacy_db_is_named_in_the_error(client: FlaskClient, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "library.db"

    error = error_of(
        client.post(
            MIGRATE, json={"legacy_db_path": str(missing), "legacy_images_dir": str(tmp_path)}
        ),
        422,
    )

    assert error["code"] == "legacy_db_invalid"
    assert str(missing) in error["message"]


@pytest.mark.parametrize("kind", ["text", "empty_sqlite", "directory"])
def test_a_file_that_is_not_a_v1_db_is_a_422(
    client: FlaskClient, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "not_v1.db"
    if kind == "text":
        target.write_text("hello")
    elif kind == "empty_sqlite":
        sqlite3.connect(target).execute("CREATE TABLE other (x)").connection.close()
    else:
        target.mkdir()

    error = error_of(
        client.post(
            MIGRATE, json={"legacy_db_path": str(target), "legacy_images_dir": str(tmp_path)}
        ),
        422,
    )

    assert error["code"] == "legacy_db_invalid"
    assert str(target) in error["message"]


def test_an_images_dir_that_is_a_file_is_a_422(client: FlaskClient, legacy: LegacyLibrary) -> None:
    body = {"legacy_db_path": str(legacy.db_path), "legacy_images_dir": str(legacy.db_path)}

    error = error_of(client.post(MIGRATE, json=body), 422)

    assert error["code"] == "legacy_db_invalid"


# --- import_models ----------------------------------------------------------------------------


def test_import_models_is_a_207_with_a_result_per_id(
    client: FlaskClient, legacy: LegacyLibrary
) -> None:
    client.post(MIGRATE, json=paths(legacy))
    pending = client.get("/api/migration/pending_models").get_json()["models"]
    assert len(pending) == 1

    response = client.post(
        IMPORT, json={"id": [pending[0]["id"], "abc", 10**30, True, 999], "conflict_strategy": None}
    )

    assert response.status_code == 207
    body = response.get_json()
    assert set(body) == {"total", "success", "conflict", "ignored", "deleted", "failed", "run_id"}
    assert body["total"] == 5
    assert body["success"] == [pending[0]["id"]]
    assert [entry["id"] for entry in body["failed"]] == ["abc", 10**30, True, 999]
    assert client.get("/api/migration/pending_models").get_json() == {"models": []}


def test_import_models_with_no_pending_model_is_all_failures(client: FlaskClient) -> None:
    response = client.post(IMPORT, json={"id": [1, 2]})

    assert response.status_code == 207
    assert response.get_json()["run_id"] is None
    assert len(response.get_json()["failed"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": 1},
        {"id": "1,2"},
        {"id": [1], "conflict_strategy": "replace"},
        {"id": [1], "conflict_strategy": 3},
        {"id": [1], "extra": True},
        {"id": list(range(10_001))},
    ],
)
def test_import_models_rejects_invalid_values(client: FlaskClient, body: Any) -> None:
    assert error_of(client.post(IMPORT, json=body), 422)["code"] == "validation_error"


def test_import_models_rejects_a_non_json_body(client: FlaskClient) -> None:
    response = client.post(IMPORT, data="id=1", content_type="application/x-www-form-urlencoded")

    assert error_of(response, 415)["code"] == "unsupported_media_type"


# --- pending models ---------------------------------------------------------------------------


def test_pending_models_have_the_v2_shape(client: FlaskClient, legacy: LegacyLibrary) -> None:
    client.post(MIGRATE, json=paths(legacy))

    models = client.get("/api/migration/pending_models").get_json()["models"]

    assert len(models) == 1
    (model,) = models
    assert set(model) == {"id", "name", "image", "type", "tags"}
    assert model["name"] == "garbage_hash_2"
    assert model["type"] == "loras"  # the v2 tab of the legacy "lora"
    assert model["image"].startswith("pending/")
    assert "lora" in model["tags"]


def test_pending_model_by_id(client: FlaskClient, legacy: LegacyLibrary) -> None:
    client.post(MIGRATE, json=paths(legacy))
    pending_id = client.get("/api/migration/pending_models").get_json()["models"][0]["id"]

    response = client.get(f"/api/migration/pending_model?id={pending_id}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == pending_id
    assert body["path"].endswith("garbage_hash_2.safetensors")
    assert body["meta"]["images"]


def test_an_unknown_pending_model_is_a_404(client: FlaskClient) -> None:
    error = error_of(client.get("/api/migration/pending_model?id=42"), 404)

    assert error["code"] == "not_found"
    assert "42" in error["message"]


@pytest.mark.parametrize(
    "query",
    ["", "?id=", "?id=abc", "?id=0", "?id=-1", "?id=1.5", f"?id={2**63}", "?id=" + "9" * 5000],
)
def test_pending_model_rejects_a_bad_id(client: FlaskClient, query: str) -> None:
    assert error_of(client.get(f"/api/migration/pending_model{query}"), 422)["code"] == (
        "validation_error"
    )


# --- scan -------------------------------------------------------------------------------------


def test_scan_registers_new_model_files(client: FlaskClient, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "a.safetensors").write_bytes(b"a")
    (models / "b.ckpt").write_bytes(b"b")
    (models / "notes.txt").write_text("no model")

    response = client.get(f"/api/scan?dir={models}&ext=.safetensors")

    assert response.status_code == 200
    body = response.get_json()
    assert (body["scanned"], body["added"], body["skipped"]) == (1, 1, 0)
    assert body["added_paths"] == [str((models / "loras" / "a.safetensors").resolve())]
    again = client.get(f"/api/scan?dir={models}").get_json()
    assert (again["added"], again["skipped"]) == (1, 1)
    pending = client.get("/api/migration/pending_models").get_json()["models"]
    assert {(m["name"], m["type"]) for m in pending} == {("a", "lora"), ("b", "other")}


def test_scan_takes_several_dirs(client: FlaskClient, tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.pt").write_bytes(b"x")

    response = client.get(f"/api/scan?dir={tmp_path / 'one'}&dir={tmp_path / 'two'}")

    assert response.get_json()["added"] == 2


def test_scan_without_dirs_says_what_is_missing(client: FlaskClient) -> None:
    error = error_of(client.get("/api/scan?ext=.pt"), 422)

    assert "dir=" in error["message"]
    assert "at least one folder" in error["message"]


@pytest.mark.parametrize(
    "query", ["?dir=relative", "?dir=", "?dir=/tmp&ext=*", "?dir=/tmp&ext=../../x"]
)
def test_scan_rejects_bad_values(client: FlaskClient, query: str) -> None:
    assert error_of(client.get(f"/api/scan{query}"), 422)["code"] == "validation_error"


def test_scan_of_a_missing_dir_is_a_422_naming_it(client: FlaskClient, tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    error = error_of(client.get(f"/api/scan?dir={missing}"), 422)

    assert error["code"] == "invalid_input"
    assert str(missing) in error["message"]


def test_scan_skips_a_dangling_symlink(client: FlaskClient, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "ghost.safetensors").symlink_to(tmp_path / "nowhere")
    (folder / "real.pt").write_bytes(b"x")

    response = client.get(f"/api/scan?dir={folder}")

    assert response.status_code == 200
    assert response.get_json()["added"] == 1
