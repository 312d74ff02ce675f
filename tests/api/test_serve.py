"""``model-migrate serve``: loopback by default; elsewhere only with a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import waitress
from click.testing import CliRunner
from flask import Flask

from backend.cli import main


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Capture what ``serve`` would hand to waitress instead of serving."""
    calls: dict[str, Any] = {}

    def fake_serve(app: Flask, **kwargs: Any) -> None:
        calls["app"] = app
        calls.update(kwargs)

    monkeypatch.setattr(waitress, "serve", fake_serve)
    monkeypatch.setenv("MODEL_MIGRATE_DATA_DIR", str(tmp_path / "data"))
    for name in ("API_TOKEN", "IMPORT_ROOTS", "ALLOWED_HOSTS", "DATABASE_URL"):
        monkeypatch.delenv(f"MODEL_MIGRATE_{name}", raising=False)
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_non_loopback_host_needs_a_token(served: dict[str, Any], host: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--host", host])

    assert result.exit_code == 2
    assert "MODEL_MIGRATE_API_TOKEN" in result.output
    assert served == {}


def test_loopback_is_served_by_default(served: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "8799"])

    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 8799)
    client = served["app"].test_client()
    assert client.get("/api/health", headers={"Host": "127.0.0.1:8799"}).status_code == 200


def test_with_a_token_the_bound_host_is_allowed(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_MIGRATE_API_TOKEN", "t0ken")

    result = CliRunner().invoke(main, ["serve", "--host", "192.168.1.20"])

    assert result.exit_code == 0, result.output
    client = served["app"].test_client()
    auth = {"Authorization": "Bearer t0ken"}
    allowed = client.get("/api/migration/runs", headers={"Host": "192.168.1.20:8765", **auth})
    assert allowed.status_code == 200
    other = client.get("/api/migration/runs", headers={"Host": "other.host", **auth})
    assert other.status_code == 403
    assert client.get("/api/migration/runs", headers={"Host": "192.168.1.20"}).status_code == 401


def test_waitress_settings(served: dict[str, Any]) -> None:
    CliRunner().invoke(main, ["serve"])

    assert served["max_request_body_size"] >= served["app"].config["MAX_CONTENT_LENGTH"]
    assert served["threads"] > 1  # per-thread drivers and readers: requests run in parallel
