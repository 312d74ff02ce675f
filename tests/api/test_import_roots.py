"""Import roots hold for files too: every path scanned or promoted is checked after resolving
symlinks (issue 15.2). Real symlinks and FIFOs on disk."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.app import create_app
from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.library import LibraryRepository
from backend.database.migration.records import PendingMetaJson
from backend.database.migration.service import MigrationService
from tests.api.test_v2_endpoints import error_of

RUNS = "/api/migration/runs"


class Library:
    """A data dir, an import root with a models folder, and a secret file outside the root."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.root = tmp_path / "root"
        self.models = self.root / "loras"
        self.models.mkdir(parents=True)
        self.secret = tmp_path / "outside" / "shadow"
        self.secret.parent.mkdir()
        self.secret.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
        self._services: list[MigrationService] = []

    def client(self, roots: list[Path] | None) -> tuple[FlaskClient, MigrationService]:
        settings = Settings(data_dir=self.data, import_roots=roots, api_token=None)
        service = build_service(settings)
        self._services.append(service)
        return create_app(settings, service).test_client(), service

    def close(self) -> None:
        for service in self._services:
            service.close()


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Library]:
    library = Library(tmp_path)
    yield library
    library.close()


def pending_paths(client: FlaskClient, service: MigrationService) -> list[str]:
    with service.sessions() as session:
        return sorted(r.path for r in LibraryRepository(session).list_pending())


def model_count(service: MigrationService) -> int:
    with service.sessions() as session:
        return LibraryRepository(session).count_models()


def test_a_file_symlink_out_of_the_root_is_not_registered(lib: Library) -> None:
    (lib.models / "x.safetensors").symlink_to(lib.secret)
    (lib.models / "etc.safetensors").symlink_to("/etc/shadow")
    (lib.models / "real.safetensors").write_bytes(b"weights")
    client, service = lib.client([lib.root])

    response = client.get(f"/api/scan?dir={lib.root}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["added_paths"] == [str(lib.models / "real.safetensors")]
    assert (body["scanned"], body["added"], body["skipped"]) == (3, 1, 2)
    assert pending_paths(client, service) == [str(lib.models / "real.safetensors")]


def test_a_symlink_to_a_file_inside_the_root_is_registered_by_its_target(lib: Library) -> None:
    target = lib.root / "store" / "model.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"w")
    (lib.models / "alias.safetensors").symlink_to(target)
    client, service = lib.client([lib.root])

    assert client.get(f"/api/scan?dir={lib.models}").get_json()["added"] == 1
    assert pending_paths(client, service) == [str(target)]


def test_a_fifo_or_folder_named_like_a_model_is_never_registered(lib: Library) -> None:
    os.mkfifo(lib.models / "pipe.safetensors")
    (lib.models / "dir.safetensors").mkdir()
    (lib.models / "dev.safetensors").symlink_to("/dev/zero")
    client, service = lib.client([lib.root])

    body = client.get(f"/api/scan?dir={lib.root}").get_json()

    assert body["added"] == 0
    assert pending_paths(client, service) == []


def test_without_roots_a_fifo_is_still_skipped(lib: Library) -> None:
    os.mkfifo(lib.models / "pipe.safetensors")
    client, _ = lib.client(None)

    assert client.get(f"/api/scan?dir={lib.root}").get_json()["added"] == 0


def stage_outside_row(lib: Library) -> None:
    """A pending row whose file resolves outside the root: scanned before the roots were set."""
    (lib.models / "x.safetensors").symlink_to(lib.secret)
    client, service = lib.client(None)
    assert client.get(f"/api/scan?dir={lib.root}").get_json()["added"] == 1
    service.close()


def test_import_models_refuses_a_pending_row_outside_the_roots(lib: Library) -> None:
    stage_outside_row(lib)
    client, service = lib.client([lib.root])
    (pending_id,) = [
        m["id"] for m in client.get("/api/migration/pending_models").get_json()["models"]
    ]

    response = client.post("/api/migration/import_models", json={"id": [pending_id]})

    assert response.status_code == 207
    body = response.get_json()
    assert body["success"] == []
    assert len(body["failed"]) == 1 and body["failed"][0]["error"].startswith("path_forbidden")
    assert model_count(service) == 0
    assert pending_paths(client, service) == [str(lib.secret)]  # kept, not promoted


def test_a_promotion_run_fails_the_item_outside_the_roots(lib: Library) -> None:
    stage_outside_row(lib)
    client, service = lib.client([lib.root])

    run_id = client.post(RUNS, json={"kind": "promotion"}).get_json()["id"]
    client.post(f"{RUNS}/{run_id}/advance", json={})

    (failed,) = client.get(f"{RUNS}/{run_id}/items?state=failed").get_json()["items"]
    assert failed["last_error_code"] == "path_forbidden"
    assert str(lib.secret) in failed["last_error"]
    assert model_count(service) == 0


@pytest.mark.parametrize("field", ["legacy_db_path", "legacy_images_dir"])
def test_a_legacy_path_symlinked_out_of_the_root_is_403(lib: Library, field: str) -> None:
    (lib.root / "library.db").symlink_to(lib.secret)
    (lib.root / "images").symlink_to(lib.secret.parent, target_is_directory=True)
    (lib.root / "real.db").write_bytes(b"")
    (lib.root / "real-images").mkdir()
    body = {
        "legacy_db_path": str(lib.root / "real.db"),
        "legacy_images_dir": str(lib.root / "real-images"),
    }
    body[field] = str(lib.root / ("library.db" if field == "legacy_db_path" else "images"))
    client, _ = lib.client([lib.root])

    for url, extra in (("/api/migration/migrate_legacy_db", {}), (RUNS, {"kind": "legacy"})):
        error = error_of(client.post(url, json={**body, **extra}), 403)
        assert error["code"] == "path_forbidden"
    assert client.get(RUNS).get_json() == {"runs": []}


def answers_within(call: Callable[[], Any], seconds: float = 60.0) -> Any:
    """Run ``call`` in a thread; a call still blocked after ``seconds`` fails the test."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the call blocked (it opened a FIFO?)"
    return result[0]


def test_a_fifo_given_as_the_legacy_db_is_refused_without_blocking(lib: Library) -> None:
    fifo = lib.root / "library.db"
    os.mkfifo(fifo)
    (lib.root / "images").mkdir()
    client, _ = lib.client([lib.root])
    body = {"legacy_db_path": str(fifo), "legacy_images_dir": str(lib.root / "images")}

    response = answers_within(lambda: client.post("/api/migration/migrate_legacy_db", json=body))

    error = error_of(response, 422)
    assert error["code"] == "legacy_db_invalid"
    assert "not a regular file" in error["message"]


def test_a_pending_model_whose_file_is_a_fifo_fails_without_blocking(lib: Library) -> None:
    fifo = lib.models / "pipe.safetensors"
    os.mkfifo(fifo)
    client, service = lib.client([lib.root])
    with service.write_sessions() as session, session.begin():
        pending_id = LibraryRepository(session).upsert_pending(
            path=str(fifo), name="pipe", type="lora", size_bytes=0, created_at=0,
            meta=PendingMetaJson(),
        )  # fmt: skip

    response = answers_within(
        lambda: client.post("/api/migration/import_models", json={"id": [pending_id]})
    )

    (failed,) = response.get_json()["failed"]
    assert failed["error"].startswith("source_not_a_file")
    assert model_count(service) == 0
