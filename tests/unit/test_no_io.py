"""The unit-test guard refuses I/O (see tests/unit/conftest.py)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from tests.unit.conftest import REFUSED


def test_a_subprocess_is_refused() -> None:
    with pytest.raises(AssertionError, match=re.escape(REFUSED)):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_a_database_connection_is_refused() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(AssertionError, match=re.escape(REFUSED)), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()


def test_a_network_connection_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match=re.escape(REFUSED)):
        sock.connect(("127.0.0.1", 9))
