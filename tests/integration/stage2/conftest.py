"""Fixtures of the stage-2 tests: a legacy library with an unhashed copy, counted hashing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.database.migration import hashing
from tests.helpers.library_snapshot import snapshot_tree
from tests.helpers.stage_libraries import CopyLibrary, make_copy_library


@pytest.fixture
def copy_lib(tmp_path: Path) -> Iterator[CopyLibrary]:
    """The copy library; the test fails if anything under it changed."""
    built = make_copy_library(tmp_path / "legacy")
    before = snapshot_tree(built.lib.root)
    yield built
    assert snapshot_tree(built.lib.root) == before, "the legacy library was modified"


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every call of the real file hasher."""
    calls: list[Path] = []
    real = hashing.sha256_file

    def counting(path: Path, **kwargs: object) -> str:
        calls.append(Path(path))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "sha256_file", counting)
    return calls
