"""Fixtures of the browser tests: the Debian browser required, a legacy library, the server on
it and a headless Chromium (a module may set ``WINDOW``, e.g. ``"1280,1400"``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library
from tests.helpers.browser import chromium, require_browser, serve

DEFAULT_WINDOW = "1280,1700"


@pytest.fixture(autouse=True)
def browser_installed() -> None:
    require_browser()


@pytest.fixture
def legacy(tmp_path: Path) -> LegacyLibrary:
    return make_legacy_library(tmp_path / "legacy")


@pytest.fixture
def server(tmp_path: Path, legacy: LegacyLibrary) -> Iterator[str]:
    """``model-migrate serve`` on a free loopback port; yields its base URL."""
    with serve(tmp_path, legacy.root) as base:
        yield base


@pytest.fixture
def driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")
    window = getattr(request.module, "WINDOW", DEFAULT_WINDOW)
    with chromium(tmp_path / "chromium-profile", window=window) as browser:
        yield browser
