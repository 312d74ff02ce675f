"""What every command shares: the stderr console, the service built from settings, JSON output,
and one place that turns what escapes a command into one line and an exit code.

Only click is imported up front: the console (rich), the settings (pydantic), the service
(SQLAlchemy) and the error mapping are imported when a command first uses them, so
``model-migrate --help`` starts in a fraction of the time.
"""

from __future__ import annotations

import gc
import json
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import click

from backend.cli.exits import ExitCode
from backend.cli.signals import HANDLED, Interrupted, held, install
from backend.database.migration.errors import MigrationError
from workflows import stopping

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from backend.config import Settings
    from backend.database.migration.run_reads import RunReads
    from backend.database.migration.service import MigrationService
    from backend.database.migration.workers import EarlyWorkers


@cache
def err_console() -> Console:
    """The console on stderr for messages and progress (stdout is kept for ``--json``)."""
    from rich.console import Console

    return Console(stderr=True)


def out_console() -> Console:
    """A console on stdout for the tables people read (``--json`` prints without one)."""
    from rich.console import Console

    return Console()


def fail(message: str, code: int = ExitCode.ERROR) -> NoReturn:
    """Print ``error: message`` on one line (no markup, no wrapping) and exit with ``code``."""
    from rich.text import Text

    err_console().print(Text.assemble(("error", "red"), f": {message}"), soft_wrap=True)
    sys.exit(code)


def resume_with(ctx: click.Context, command: str | None = None, *, quiet: bool = False) -> None:
    """Remember the command that resumes this one if a signal stops it (first one wins);
    ``None`` means the command line as typed. ``quiet`` prints nothing when stopped."""
    ctx.meta.setdefault("resume", command or shlex.join(["model-migrate", *sys.argv[1:]]))
    ctx.meta["quiet"] = quiet


class GuardedGroup(click.Group):
    """A group whose commands never end in a traceback (unless ``--debug``).

    SIGINT / SIGTERM stop the command (its ``finally`` blocks release leases and stop worker
    processes), print how to resume and exit 130 / 143; any other error is one line from
    :func:`backend.cli.failures.describe` with exit 2 (input, settings) or 1 (environment).
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command with the signal handlers installed, mapping what escapes it."""
        previous = {sig: signal.getsignal(sig) for sig in HANDLED}
        install()
        if threading.current_thread() is not threading.main_thread():
            previous = {}
        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            _stopped(ctx, exc)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if isinstance(exc.__context__, Interrupted):
                _stopped(ctx, exc.__context__)  # cleaning up after the signal failed
            try:
                _fail_with(ctx, exc)
            except Interrupted as stop:  # stopped (e.g. by the parent) while reporting it
                _stopped(ctx, stop)
        finally:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)
            if previous:
                stopping.clear()


def _stopped(ctx: click.Context, exc: Interrupted) -> NoReturn:
    if not ctx.meta.get("quiet"):
        line = f"stopped by {exc}: claimed items were released"
        resume = ctx.meta.get("resume")
        if resume:
            line += f"; resume with: {resume}"
        err_console().print(line, soft_wrap=True, markup=False, highlight=False)
    sys.exit(exc.exit_code)


def settings_of(ctx: click.Context) -> Settings:
    """The settings from the environment, read on first use and kept on the root context."""
    from backend.config import Settings

    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def use_batch_size(ctx: click.Context, batch_size: int | None) -> None:
    """A command's ``--batch-size``, when given, as the batch size of its settings: the
    worker processes it starts get it from there (see ``workers.worker_env``)."""
    if batch_size is not None:
        ctx.find_root().obj = settings_of(ctx).model_copy(update={"batch_size": batch_size})


@contextmanager
def _collector_paused(first: str) -> Iterator[None]:
    """Import and build with the garbage collector paused, then freeze what was made — unless
    module ``first`` is already imported (only the first build of a process does this).

    The modules (SQLAlchemy, pydantic and ours) create some 10⁵ objects that live as long as
    the process: the collector would scan them again and again while they are imported, and
    once more at exit. Pausing it and then freezing them (``gc.freeze``: later collections
    skip them) takes ~25 % off a short command (``status``: ~0.15 s of ~0.6 s on the 2-core
    test machine). Commands collect their own garbage as usual.
    """
    if first in sys.modules or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


def _built(ctx: click.Context, build: Callable[[Settings], _C]) -> _C:
    try:
        return build(settings_of(ctx))
    except MigrationError as exc:
        _fail_with(ctx, exc)


@contextmanager
def _closing(ctx: click.Context, opened: _C) -> Iterator[_C]:
    try:
        yield opened
    except MigrationError as exc:
        _fail_with(ctx, exc)
    finally:
        with held():
            opened.close()


@contextmanager
def service_for(ctx: click.Context) -> Iterator[MigrationService]:
    """Build the service from settings; map domain errors to exit code 2."""
    with _collector_paused("backend.database.migration.service"):
        from backend.bootstrap import build_service

        service = _built(ctx, build_service)
    with _closing(ctx, service):
        yield service


@contextmanager
def service_with_workers(
    ctx: click.Context, count: int, entry: Callable[[int], int]
) -> Iterator[tuple[MigrationService, EarlyWorkers | None]]:
    """The service (:func:`service_for`) and ``count`` early workers for the run the command
    is about to create. Where it is safe (Linux, one thread), they are forked before the
    library is opened, once the service's modules are imported, and run ``entry(run_id)``
    (see :mod:`backend.database.migration.forking`); elsewhere they are started as programs
    once it is open."""
    from backend.database.migration.forking import can_fork

    with ExitStack() as stack:
        early: EarlyWorkers | None = None
        if count > 0 and can_fork():
            with _collector_paused("backend.database.migration.service"):
                from backend.bootstrap import import_service

                import_service()
            from backend.database.migration.workers import early_workers

            early = stack.enter_context(early_workers(settings_of(ctx), count, entry))
        service = stack.enter_context(service_for(ctx))
        if early is None:
            early = stack.enter_context(service.early_workers(count))
        yield service, early


@contextmanager
def reads_for(ctx: click.Context) -> Iterator[RunReads]:
    """The read-only facade (run status) from settings: the schema check and the engine, none
    of the service's modules; domain errors map to exit codes as with :func:`service_for`."""
    with _collector_paused("backend.bootstrap"):
        from backend.bootstrap import build_reads

        reads = _built(ctx, build_reads)
    with _closing(ctx, reads):
        yield reads


def _fail_with(ctx: click.Context, exc: Exception) -> NoReturn:
    from backend.cli.failures import describe

    if ctx.find_root().params.get("debug"):
        err_console().print_exception()
    code, message = describe(exc)
    fail(message, code)


def emit(data: BaseModel | list[Any] | dict[str, Any], as_json: bool) -> None:
    """Print a record as JSON on stdout (for scripts)."""
    if not as_json:
        return
    from pydantic import BaseModel

    if isinstance(data, BaseModel):
        click.echo(data.model_dump_json(indent=2))
    else:
        payload = [d.model_dump() if isinstance(d, BaseModel) else d for d in data]
        click.echo(json.dumps(payload if isinstance(data, list) else data, indent=2))
