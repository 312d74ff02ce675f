"""Slow clients cannot starve ``/api/health`` (issue 15.9): a real ``model-migrate serve``, 100
raw sockets that connect and send half a request, then a health check must still be answered."""

from __future__ import annotations

import json
import resource
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import waitress
from click.testing import CliRunner
from flask import Flask

from backend.cli import main
from backend.server import serving
from tests.helpers.live_server import NO_PROXY, live_server

STALLED = 100
ANSWER_WITHIN = 20.0  # seconds: the bound of the wait, not a performance figure


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with live_server(tmp_path / "data", tmp_path / "server.log") as base:
        yield base


def stall(base: str, count: int) -> list[socket.socket]:
    """Open ``count`` connections that each send the start of a request and then nothing."""
    host, port = base.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: {host}:{port}\r\nX-Slow: ".encode())
        sockets.append(sock)
    return sockets


def test_health_answers_while_100_clients_stall(server: str) -> None:
    sockets = stall(server, STALLED)
    try:
        with NO_PROXY.open(f"{server}/api/health", timeout=ANSWER_WITHIN) as response:
            status = response.status
            body = json.loads(response.read())
    finally:
        for sock in sockets:
            sock.close()

    assert status == 200
    assert body["ok"] is True


def test_serve_hands_waitress_the_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: dict[str, Any] = {}

    def fake_serve(app: Flask, **kwargs: Any) -> None:
        calls.update(kwargs)

    monkeypatch.setattr(waitress, "serve", fake_serve)
    monkeypatch.setenv("MODEL_MIGRATE_DATA_DIR", str(tmp_path / "data"))

    result = CliRunner().invoke(main, ["serve", "--port", "8799"])

    assert result.exit_code == 0, result.output
    assert calls["connection_limit"] >= 5 * STALLED
    assert calls["channel_timeout"] == serving.CHANNEL_TIMEOUT
    assert calls["cleanup_interval"] <= calls["channel_timeout"]
    assert calls["asyncore_use_poll"] is True
    assert calls["threads"] == serving.THREADS


def test_the_open_file_limit_leaves_room_for_the_connections() -> None:
    soft = serving.raise_open_file_limit()

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = serving.CONNECTION_LIMIT + 64
    assert soft >= (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
