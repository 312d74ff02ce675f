"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.database.migration import hashing


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every call of the real file hasher (``hashing.sha256_file`` wrapped to record paths)."""
    calls: list[Path] = []
    real = hashing.sha256_file

    def counting(path: Path, **kwargs: Any) -> str:
        calls.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(hashing, "sha256_file", counting)
    return calls
