"""Settings read from ``MODEL_MIGRATE_*`` environment variables.

They are read the way pydantic-settings' ``BaseSettings`` reads them (a test compares the two
on the same environments), without importing pydantic-settings (~60 ms of every command's
start-up): values given to ``Settings(...)`` win over the environment; variable names match
case-insensitively; the list settings are decoded as JSON first and, when that fails, kept as
text for their validators to split; every value is validated by pydantic, so a bad one raises
the same ``ValidationError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_PREFIX = "MODEL_MIGRATE_"
_JSON_FIRST = frozenset({"import_roots", "allowed_hosts"})
"""Settings whose type is a list: their variables are decoded as JSON when they can be."""

V2_DB_NAME = "hikaze_model_manager.db"
"""The file name the v2 app gives its library inside its data folder."""

V2_DB_NAME_ENV = "HIKAZE_DB_PATH"
"""The v2 app's own variable that changes that file name (a name inside the data folder)."""


def v2_db_name() -> str:
    """The library file name the v2 app uses: ``HIKAZE_DB_PATH``'s file name, if set."""
    name = Path(os.environ.get(V2_DB_NAME_ENV, "").strip()).name
    return name or V2_DB_NAME


class Settings(BaseModel):
    """Runtime settings of the migrator (environment variables prefixed ``MODEL_MIGRATE_``)."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    data_dir: Path = Path("./data")
    database_url: str | None = None
    import_roots: list[Path] | None = None
    api_token: str | None = None
    allowed_hosts: list[str] | None = None
    webp_method: int = Field(default=4, ge=0, le=6)
    batch_size: int = Field(default=1024, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    lease_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        env = {key.lower(): value for key, value in os.environ.items()}
        found: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(f"{ENV_PREFIX}{name}".lower())
            if raw is not None:
                found[name] = _json_or_text(raw) if name in _JSON_FIRST else raw
        return {**found, **data}

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


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
