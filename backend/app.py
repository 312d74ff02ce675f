"""``create_app``: the Flask app factory — the one place the HTTP side is composed."""

from __future__ import annotations

from flask import Flask

from backend.bootstrap import build_service
from backend.config import Settings
from backend.database.migration.service import MigrationService
from backend.server import dashboard, errors, security
from backend.server.migration_handler import bp
from backend.server.openapi import build_document
from backend.server.state import EXTENSION, ApiState

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, service: MigrationService | None = None) -> Flask:
    """Build the app: the service (from settings unless given), guards, errors, routes."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = ApiState(
        settings=settings,
        service=service or build_service(settings),
        openapi=build_document(token_required=bool(settings.api_token)),
    )
    errors.register(app)
    security.install(app, settings)
    app.register_blueprint(bp)
    app.register_blueprint(dashboard.bp)
    return app
