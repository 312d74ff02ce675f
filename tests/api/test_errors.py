"""The error contract: one JSON shape, the right status, never an HTML page."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.app import MAX_BODY_BYTES
from backend.database.migration.errors import HashError
from tests.api.test_v2_endpoints import error_of


def test_an_unknown_route_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/nothing/here")

    assert error_of(response, 404)["code"] == "not_found"
    assert response.mimetype == "application/json"


def test_a_wrong_method_is_a_json_405_with_allow(client: FlaskClient) -> None:
    response = client.delete("/api/migration/runs")

    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_a_body_over_one_mib_is_a_413(client: FlaskClient) -> None:
    body = b'{"id": [' + b"1," * (MAX_BODY_BYTES // 2) + b"1]}"

    response = client.post(
        "/api/migration/import_models", data=body, content_type="application/json"
    )

    assert error_of(response, 413)["code"] == "payload_too_large"


def test_a_body_just_under_the_cap_is_read(client: FlaskClient) -> None:
    body = b'{"id": [], "conflict_strategy": null}' + b" " * (MAX_BODY_BYTES - 64)

    response = client.post(
        "/api/migration/import_models", data=body, content_type="application/json"
    )

    assert response.status_code == 207


def test_an_unexpected_exception_is_a_logged_json_500(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaput")

    with caplog.at_level(logging.ERROR, logger="backend.server.errors"):
        response = app.test_client().get("/boom")

    error = error_of(response, 500)
    assert error["code"] == "internal_error"
    assert "kaput" not in error["message"]  # internals are logged, not shown
    assert "kaput" in caplog.text


def test_an_unmapped_domain_error_is_a_500_with_its_code(app: Flask) -> None:
    @app.get("/hash")
    def hash_error() -> str:
        raise HashError("file vanished")

    assert error_of(app.test_client().get("/hash"), 500)["code"] == "source_missing"


def test_validation_messages_name_the_field(client: FlaskClient) -> None:
    response = client.post("/api/migration/items/1/resolve", json={"strategy": "x"})

    message = error_of(response, 422)["message"]
    assert message.startswith("strategy: ")
    assert "'override'" in message


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for response in (client.get("/api/health"), client.get("/missing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_health(client: FlaskClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["database"] is True
    assert body["schema_revision"] == body["head_revision"]
