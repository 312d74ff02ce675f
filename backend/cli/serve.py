"""``model-migrate serve``: the HTTP API with waitress (its modules imported when it runs)."""

from __future__ import annotations

import errno

import click

from backend.cli.context import err_console, fail, settings_of
from backend.cli.exits import ExitCode


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API with waitress (loopback only unless MODEL_MIGRATE_API_TOKEN is set)."""
    import waitress

    from backend.app import MAX_BODY_BYTES, create_app
    from backend.server.security import is_loopback
    from backend.server.serving import waitress_options

    settings = settings_of(ctx)
    if not is_loopback(host) and not settings.api_token:
        fail(
            f"refusing to serve on non-loopback address {host}: "
            "set MODEL_MIGRATE_API_TOKEN so every request needs a Bearer token",
            ExitCode.BAD_INPUT,
        )
    hosts = [*(settings.allowed_hosts or []), host]
    settings = settings.model_copy(update={"allowed_hosts": hosts})
    app = create_app(settings)
    err_console().print(
        f"serving on http://{host}:{port} (data dir {settings.data_dir})", soft_wrap=True
    )
    try:
        # Above the app's 1 MiB cap, so oversized bodies get the app's JSON 413; waitress
        # answers (in plain text) only past this outer limit. Connection limits:
        # backend/server/serving.py.
        waitress.serve(app, host=host, port=port, **waitress_options(16 * MAX_BODY_BYTES))
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        fail(f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses it or choose --port")
