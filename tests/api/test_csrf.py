"""CSRF (issue 15.3): JSON-only POSTs, exact-origin checks, no cross-site scan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from backend.sample.legacy_factory import LegacyLibrary
from tests.api.test_v2_endpoints import error_of, paths

MakeClient = Callable[..., FlaskClient]
RUNS = "/api/migration/runs"
POSTS = (
    "/api/migration/migrate_legacy_db",
    "/api/migration/import_models",
    RUNS,
    f"{RUNS}/1/advance",
    f"{RUNS}/1/retry",
    "/api/migration/items/1/retry",
    "/api/migration/items/1/resolve",
)
NOT_JSON = (
    (None, None),  # fetch(url, {method: "POST", mode: "no-cors"}): no body, no type
    ("", "text/plain"),
    ('{"id": [1]}', "text/plain"),
    ("id=1", "application/x-www-form-urlencoded"),
    ("--b--", "multipart/form-data; boundary=b"),
    ('{"id": [1]}', "application/vnd.api+json"),
)


def post(client: FlaskClient, url: str, data: str | None, content_type: str | None) -> Any:
    kwargs: dict[str, Any] = {}
    if data is not None:
        kwargs["data"] = data
    if content_type is not None:
        kwargs["content_type"] = content_type
    return client.post(url, **kwargs)


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize(("data", "content_type"), NOT_JSON)
def test_every_post_without_the_json_content_type_is_a_415(
    client: FlaskClient, url: str, data: str | None, content_type: str | None
) -> None:
    error = error_of(post(client, url, data, content_type), 415)

    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]


def test_a_form_post_starts_no_migration(client: FlaskClient, legacy: LegacyLibrary) -> None:
    body = "&".join(f"{k}={v}" for k, v in paths(legacy).items())

    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        response = post(client, "/api/migration/migrate_legacy_db", body, content_type)
        assert error_of(response, 415)["code"] == "unsupported_media_type"
    assert client.get(RUNS).get_json() == {"runs": []}


def test_retry_without_the_json_content_type_retries_nothing(
    client: FlaskClient, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "gone.pt").write_bytes(b"w")
    client.get(f"/api/scan?dir={folder}")
    (folder / "gone.pt").unlink()
    run_id = client.post(RUNS, json={"kind": "promotion"}).get_json()["id"]
    client.post(f"{RUNS}/{run_id}/advance", json={})
    failed = client.get(f"{RUNS}/{run_id}/items?state=failed").get_json()["items"]
    assert len(failed) == 1

    assert error_of(client.post(f"{RUNS}/{run_id}/retry"), 415)
    assert error_of(client.post(f"/api/migration/items/{failed[0]['id']}/retry"), 415)
    assert client.get(f"{RUNS}/{run_id}").get_json()["counts"]["failed"] == 1

    assert client.post(f"{RUNS}/{run_id}/retry", json={}).get_json() == {
        "retried": [failed[0]["id"]]
    }


def test_retry_refuses_a_body_with_fields(client: FlaskClient) -> None:
    error = error_of(client.post(f"{RUNS}/1/retry", json={"all": True}), 422)

    assert error["code"] == "validation_error"


def test_an_empty_json_body_counts_as_an_empty_object(client: FlaskClient) -> None:
    response = client.post("/api/migration/migrate_legacy_db", content_type="application/json")

    assert error_of(response, 422)["code"] == "validation_error"


# --- origin: scheme, host and port ------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",  # another local app: same host, other port
        "http://localhost:8766",
        "https://localhost:8765",  # same host and port, other scheme
        "http://127.0.0.1:8765",  # same port, other host name
        "http://localhost",  # default port 80
        "http://localhost:0",
        "http://localhost:99999",
    ],
)
def test_an_origin_differing_in_scheme_host_or_port_is_refused(
    client: FlaskClient, legacy: LegacyLibrary, origin: str
) -> None:
    headers = {"Host": "localhost:8765", "Origin": origin}

    response = client.post("/api/migration/migrate_legacy_db", json=paths(legacy), headers=headers)

    assert error_of(response, 403)["code"] == "host_not_allowed"
    assert client.get(RUNS, headers={"Host": "localhost:8765"}).get_json() == {"runs": []}


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8765", "http://localhost:8765"),
        ("LOCALHOST:8765", "http://localhost:8765/"),
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("[::1]:8765", "http://[::1]:8765"),
        ("localhost", "http://localhost:80"),
    ],
)
def test_the_servers_own_origin_passes(
    client: FlaskClient, legacy: LegacyLibrary, host: str, origin: str
) -> None:
    headers = {"Host": host, "Origin": origin}

    response = client.post(RUNS, json={"kind": "legacy", **paths(legacy)}, headers=headers)

    assert response.status_code == 201


# --- the state-changing GET /api/scan ---------------------------------------------------------


def scan_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(b"a")
    return folder


def pending(client: FlaskClient) -> list[Any]:
    models: list[Any] = client.get("/api/migration/pending_models").get_json()["models"]
    return models


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},  # an <img> on another site
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain of the same site
        {"Sec-Fetch-Site": "Cross-Site"},
        {"Origin": "http://localhost:3000"},
    ],
)
def test_a_cross_site_scan_is_refused_and_adds_nothing(
    client: FlaskClient, tmp_path: Path, headers: dict[str, str]
) -> None:
    folder = scan_folder(tmp_path)

    response = client.get(f"/api/scan?dir={folder}", headers={"Host": "localhost:8765", **headers})

    assert response.status_code == 403
    assert error_of(response, 403)["code"] in {"cross_site_request", "host_not_allowed"}
    assert pending(client) == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts, the CLI's callers: no fetch metadata
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost:8765"},  # the dashboard
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ],
)
def test_same_origin_and_non_browser_scans_work(
    client: FlaskClient, tmp_path: Path, headers: dict[str, str]
) -> None:
    folder = scan_folder(tmp_path)

    response = client.get(f"/api/scan?dir={folder}", headers={"Host": "localhost:8765", **headers})

    assert response.status_code == 200
    assert response.get_json()["added"] == 1
    assert [m["name"] for m in pending(client)] == ["a"]


def test_other_gets_are_not_blocked_by_fetch_metadata(client: FlaskClient) -> None:
    response = client.get(RUNS, headers={"Sec-Fetch-Site": "cross-site"})

    assert response.status_code == 200


def test_the_openapi_document_requires_a_json_body_on_every_post(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()

    posts = {url: ops["post"] for url, ops in document["paths"].items() if "post" in ops}
    assert len(posts) == len(POSTS)
    for url, operation in posts.items():
        assert operation["requestBody"]["required"] is True, url
        assert list(operation["requestBody"]["content"]) == ["application/json"], url
        assert "415" in operation["responses"], url


def test_the_dashboard_sends_json_on_every_post(client: FlaskClient) -> None:
    with client.get("/dashboard/static/core.js") as response:  # the dashboard's API helper
        script = response.get_data(as_text=True)

    # The one fetch helper: a payload (``{}`` when there is none) and the type on every non-GET.
    assert 'method === "GET" ? undefined : JSON.stringify(body === undefined ? {} : body)' in script
    assert 'if (payload !== undefined) headers["Content-Type"] = "application/json";' in script
    assert script.count("fetch(") == 1
