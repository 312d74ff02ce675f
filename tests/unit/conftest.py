"""Unit tests do no I/O: a subprocess, a database or a network connection fails the test."""

from __future__ import annotations

import socket
import sqlite3
import sqlite3.dbapi2
import subprocess
from typing import Any

import pytest

REFUSED = "unit tests do no I/O: use a fake (tests/helpers/fakes.py) or tests/integration/"


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError(REFUSED)


@pytest.fixture(autouse=True)
def no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse subprocesses, SQLite connections (SQLAlchemy's too) and socket connections."""
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse)
    monkeypatch.setattr(sqlite3, "connect", _refuse)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
