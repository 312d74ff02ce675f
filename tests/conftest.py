"""Shared fixtures: a real SQLite file per test, and a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from backend.database import schema
from backend.database.session import make_engine
from tests.helpers.postgres import fresh_database

POSTGRES_ENV = "MODEL_MIGRATE_TEST_POSTGRES_URL"


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") or os.environ.get("MODEL_MIGRATE_REQUIRE_POSTGRES"):
            pytest.fail(f"{POSTGRES_ENV} must be set in CI: PostgreSQL tests may not skip")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with fresh_database(_postgres_url()) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """URL of a SQLite file under the test's tmp_path."""
    return f"sqlite:///{os.fspath(tmp_path)}/hikaze_model_manager.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A library database URL: a SQLite file, then (when configured) a PostgreSQL database."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on an upgraded (Alembic head) library database."""
    eng = make_engine(db_url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()
