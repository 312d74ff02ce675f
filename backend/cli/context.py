"""What every command shares: the stderr console, the service built from settings, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from pydantic import BaseModel
from rich.console import Console

from backend.cli.exits import ExitCode
from backend.config import Settings
from backend.database.migration.errors import MigrationError
from backend.database.migration.service import MigrationService

console = Console(stderr=True)


def settings_of(ctx: click.Context) -> Settings:
    """The settings the command group read (fresh ones when a command runs on its own)."""
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


@contextmanager
def service_for(ctx: click.Context) -> Iterator[MigrationService]:
    """Build the service from settings; map domain errors to exit code 2."""
    try:
        service = MigrationService(settings_of(ctx))
    except MigrationError as exc:
        console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        sys.exit(ExitCode.BAD_INPUT)
    try:
        yield service
    except MigrationError as exc:
        console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        sys.exit(ExitCode.BAD_INPUT)
    finally:
        service.close()


def emit(data: BaseModel | list[Any] | dict[str, Any], as_json: bool) -> None:
    """Print a record as JSON on stdout (for scripts)."""
    if not as_json:
        return
    if isinstance(data, BaseModel):
        click.echo(data.model_dump_json(indent=2))
    else:
        payload = [d.model_dump() if isinstance(d, BaseModel) else d for d in data]
        click.echo(json.dumps(payload if isinstance(data, list) else data, indent=2))
