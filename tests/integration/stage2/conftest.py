"""Fixtures of the stage-2 tests: a legacy library with an unhashed copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.library_snapshot import snapshot_tree
from tests.helpers.stage_libraries import CopyLibrary, make_copy_library


@pytest.fixture
def copy_lib(tmp_path: Path) -> Iterator[CopyLibrary]:
    """The copy library; the test fails if anything under it changed."""
    built = make_copy_library(tmp_path / "legacy")
    before = snapshot_tree(built.lib.root)
    yield built
    assert snapshot_tree(built.lib.root) == before, "the legacy library was modified"
