"""Token, Host/Origin and import-root checks refuse what they should and pass what they should."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.sample.legacy_factory import LegacyLibrary
from backend.server.security import host_of, is_loopback
from tests.api.test_v2_endpoints import error_of, paths

MakeClient = Callable[..., FlaskClient]
TOKEN = "s3cret-token"


# --- token ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_a_missing_or_wrong_token_is_a_401(make_client: MakeClient, header: str | None) -> None:
    client = make_client(api_token=TOKEN)
    headers = {} if header is None else {"Authorization": header}

    response = client.get("/api/migration/runs", headers=headers)

    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_the_right_token_passes(make_client: MakeClient, scheme: str) -> None:
    client = make_client(api_token=TOKEN)

    response = client.get("/api/migration/runs", headers={"Authorization": f"{scheme} {TOKEN}"})

    assert response.status_code == 200


def test_the_token_guards_writes_before_they_happen(make_client: MakeClient) -> None:
    client = make_client(api_token=TOKEN)

    assert error_of(client.post("/api/migration/import_models", json={"id": [1]}), 401)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post("/api/migration/import_models", json={"id": [1]}, headers=auth)
    assert response.status_code == 207


def test_health_needs_no_token(make_client: MakeClient) -> None:
    assert make_client(api_token=TOKEN).get("/api/health").status_code == 200


def test_no_token_configured_means_no_token_needed(client: FlaskClient) -> None:
    assert client.get("/api/migration/runs").status_code == 200


def test_the_document_declares_bearer_auth_only_with_a_token(
    make_client: MakeClient, client: FlaskClient
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with_token = make_client(api_token=TOKEN).get("/api/openapi.json", headers=auth).get_json()
    without = client.get("/api/openapi.json").get_json()

    assert with_token["security"] == [{"bearer": []}]
    assert with_token["paths"]["/api/health"]["get"]["security"] == []
    assert "401" in with_token["paths"]["/api/migration/runs"]["get"]["responses"]
    assert "security" not in without


# --- host and origin --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8765", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST."]
)
def test_loopback_hosts_pass(client: FlaskClient, host: str) -> None:
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::2]:80", "0.0.0.0"]
)
def test_other_hosts_are_refused(client: FlaskClient, host: str) -> None:
    response = client.get("/api/migration/runs", headers={"Host": host})

    assert error_of(response, 403)["code"] == "host_not_allowed"


def test_the_serve_host_is_allowed(make_client: MakeClient) -> None:
    client = make_client(allowed_hosts=["192.168.1.20"])

    assert client.get("/api/health", headers={"Host": "192.168.1.20:8765"}).status_code == 200
    assert client.get("/api/health", headers={"Host": "192.168.1.21"}).status_code == 403


def test_a_star_allows_any_host(make_client: MakeClient) -> None:
    client = make_client(allowed_hosts=["*"])

    assert client.get("/api/health", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://[::1", "file://"])
def test_cross_origin_requests_are_refused(client: FlaskClient, origin: str) -> None:
    response = client.post("/api/migration/runs/1/retry", headers={"Origin": origin})

    assert error_of(response, 403)["code"] == "host_not_allowed"


def test_a_same_origin_request_passes(client: FlaskClient) -> None:
    response = client.get(
        "/api/migration/runs",
        headers={"Origin": "http://localhost:8765", "Host": "localhost:8765"},
    )

    assert response.status_code == 200


def test_host_parsing() -> None:
    assert host_of("[::1]:8765") == "::1"
    assert host_of("Example.COM.:80") == "example.com"
    assert host_of("::1") == "::1"
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


# --- import roots -----------------------------------------------------------------------------


def test_paths_inside_the_roots_pass(make_client: MakeClient, legacy: LegacyLibrary) -> None:
    client = make_client(import_roots=[legacy.root])

    response = client.post("/api/migration/migrate_legacy_db", json=paths(legacy))

    assert response.status_code == 200


@pytest.mark.parametrize("field", ["legacy_db_path", "legacy_images_dir"])
def test_legacy_paths_outside_the_roots_are_403(
    make_client: MakeClient, legacy: LegacyLibrary, tmp_path: Path, field: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    client = make_client(import_roots=[legacy.root])
    body: dict[str, Any] = {**paths(legacy), field: str(outside)}

    for url, extra in (
        ("/api/migration/migrate_legacy_db", {}),
        ("/api/migration/runs", {"kind": "legacy"}),
    ):
        error = error_of(client.post(url, json={**body, **extra}), 403)
        assert error["code"] == "path_forbidden"
        assert str(outside) in error["message"]
    assert client.get("/api/migration/runs").get_json() == {"runs": []}


def test_dotdot_cannot_leave_the_roots(make_client: MakeClient, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    client = make_client(import_roots=[root])

    response = client.get(f"/api/scan?dir={root}/../")

    assert error_of(response, 403)["code"] == "path_forbidden"


def test_a_symlink_out_of_the_roots_is_refused(make_client: MakeClient, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "m.pt").write_bytes(b"x")
    (root / "link").symlink_to(outside, target_is_directory=True)
    client = make_client(import_roots=[root])

    error = error_of(client.get(f"/api/scan?dir={root / 'link'}"), 403)
    assert error["code"] == "path_forbidden"
    assert client.get("/api/migration/pending_models").get_json() == {"models": []}


def test_scan_inside_the_roots_works(make_client: MakeClient, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "loras").mkdir(parents=True)
    (root / "loras" / "x.safetensors").write_bytes(b"x")
    client = make_client(import_roots=[tmp_path / "other", root])

    response = client.get(f"/api/scan?dir={root}")

    assert response.status_code == 200
    assert response.get_json()["added"] == 1


def test_a_root_prefix_is_not_a_root(make_client: MakeClient, tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root-evil").mkdir()
    client = make_client(import_roots=[tmp_path / "root"])

    assert error_of(client.get(f"/api/scan?dir={tmp_path / 'root-evil'}"), 403)
