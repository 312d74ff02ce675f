"""Settings read from ``MODEL_MIGRATE_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

V2_DB_NAME = "hikaze_model_manager.db"
"""The file name the v2 app gives its library inside its data folder."""

V2_DB_NAME_ENV = "HIKAZE_DB_PATH"
"""The v2 app's own variable that changes that file name (a name inside the data folder)."""


def v2_db_name() -> str:
    """The library file name the v2 app uses: ``HIKAZE_DB_PATH``'s file name, if set."""
    name = Path(os.environ.get(V2_DB_NAME_ENV, "").strip()).name
    return name or V2_DB_NAME


class Settings(BaseSettings):
    """Runtime settings of the migrator (pydantic-settings, prefix ``MODEL_MIGRATE_``)."""

    model_config = SettingsConfigDict(env_prefix="MODEL_MIGRATE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    import_roots: list[Path] | None = None
    api_token: str | None = None
    allowed_hosts: list[str] | None = None
    webp_method: int = Field(default=4, ge=0, le=6)
    batch_size: int = Field(default=256, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    lease_seconds: float = Field(default=60.0, gt=0)

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(":") if part.strip()] or None
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()] or None
        return value

    @property
    def library_path(self) -> Path:
        """The v2 app's library file inside the data dir (used unless ``DATABASE_URL`` is set)."""
        return self.data_dir / v2_db_name()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the v2 app's SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.library_path.resolve()}"

    @property
    def images_dir(self) -> Path:
        """Directory of the library's WebP tiers."""
        return self.data_dir / "images"

    @property
    def pending_images_dir(self) -> Path:
        """Directory of the originals of pending models."""
        return self.data_dir / "images" / "pending"

    @property
    def backups_dir(self) -> Path:
        """Directory where library backups are written before a migration writes."""
        return self.data_dir / "backups"
