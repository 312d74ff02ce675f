"""Settings from MODEL_MIGRATE_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import Settings


def test_defaults_put_the_sqlite_library_inside_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODEL_MIGRATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MODEL_MIGRATE_DATABASE_URL", raising=False)
    settings = Settings()
    assert (
        settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/hikaze_model_manager.db"
    )
    assert settings.images_dir == tmp_path / "images"
    assert settings.pending_images_dir == tmp_path / "images" / "pending"


def test_import_roots_are_split_on_colons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_MIGRATE_IMPORT_ROOTS", "/a:/b")
    assert Settings().import_roots == [Path("/a"), Path("/b")]


def test_an_explicit_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_MIGRATE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_a_webp_method_outside_0_to_6_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_MIGRATE_WEBP_METHOD", "9")
    with pytest.raises(ValueError, match="webp_method"):
        Settings()
