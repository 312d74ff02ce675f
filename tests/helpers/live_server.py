"""``model-migrate serve`` as a real subprocess on a free loopback port, for the tests that talk
to it over HTTP (the browser tests, schemathesis, slow clients)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

STARTUP_SECONDS = 30
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_command() -> list[str]:
    """How to run ``model-migrate`` from this interpreter's environment."""
    script = Path(sys.executable).with_name("model-migrate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "backend.cli"]


def server_env(data_dir: Path, roots: Path | None = None) -> dict[str, str]:
    """The environment of ``model-migrate`` on ``data_dir`` (reading only under ``roots`` when
    given), without any MODEL_MIGRATE_ setting of the test run itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_MIGRATE_")}
    env["MODEL_MIGRATE_DATA_DIR"] = str(data_dir)
    if roots is not None:
        env["MODEL_MIGRATE_IMPORT_ROOTS"] = str(roots)
    return env


def request_json(url: str, body: dict[str, Any] | None = None, *, timeout: float = 30) -> Any:
    """GET (or POST ``body`` as JSON to) ``url``, bypassing any proxy; the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with NO_PROXY.open(req, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for_health(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once ``/api/health`` answers ok; fail the test if the server exits or stays down."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if request_json(f"{base}/api/health")["ok"]:
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"server did not become healthy in {STARTUP_SECONDS}s:\n{log.read_text()}")


@contextmanager
def live_server(
    data_dir: Path, log: Path, *, roots: Path | None = None, cwd: Path | None = None
) -> Iterator[str]:
    """``model-migrate serve`` on ``data_dir``, its output in ``log``; yields the base URL once
    healthy and stops the server (terminate, then kill) on exit."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(data_dir, roots),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
