"""Fixtures of the HTTP API tests: a real service on a SQLite file under tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.app import create_app
from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.service import MigrationService
from backend.sample.legacy_factory import LegacyLibrary, make_legacy_library

API_CASES = ("valid", "garbage_hash", "duplicate_hash", "missing_image", "unicode_tags")
"""Enough of the legacy cases to get promoted, staged, conflicted items and an image warning."""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir, with no token, no import roots and no extra hosts."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=None,
        import_roots=None,
        api_token=None,
        allowed_hosts=None,
    )


@pytest.fixture
def service(settings: Settings) -> Iterator[MigrationService]:
    """The real MigrationService on the test's SQLite file."""
    svc = build_service(settings)
    yield svc
    svc.close()


@pytest.fixture
def app(settings: Settings, service: MigrationService) -> Flask:
    """The app under test."""
    application = create_app(settings, service)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def legacy(tmp_path: Path) -> LegacyLibrary:
    """A small legacy v1 library on disk."""
    return make_legacy_library(tmp_path / "legacy", cases=API_CASES)


@pytest.fixture
def make_client(service: MigrationService, settings: Settings) -> Callable[..., FlaskClient]:
    """Build a client of an app with changed settings (token, hosts, roots) on the same DB."""

    def build(**changes: object) -> FlaskClient:
        application = create_app(settings.model_copy(update=changes), service)
        return application.test_client()

    return build
