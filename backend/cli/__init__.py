"""The ``model-migrate`` command line: click commands that call ``MigrationService`` only."""

from __future__ import annotations

from backend.cli.commands import main

__all__ = ["main"]
