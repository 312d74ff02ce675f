"""What a request handler may reach: the service, the settings and the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from backend.config import Settings
from backend.database.migration.service import MigrationService

EXTENSION = "model_migrate"


@dataclass(frozen=True)
class ApiState:
    """Built once by ``create_app``; stored in ``app.extensions``."""

    settings: Settings
    service: MigrationService
    openapi: dict[str, Any] = field(default_factory=dict)


def api_state() -> ApiState:
    """The state of the app handling the current request."""
    state: ApiState = current_app.extensions[EXTENSION]
    return state
