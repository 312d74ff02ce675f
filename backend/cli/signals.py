"""SIGINT and SIGTERM: stop the command where it is, let every ``finally`` release its leases.

``install`` turns the first SIGINT or SIGTERM into :class:`Interrupted` (a ``BaseException``,
like ``KeyboardInterrupt``, so no ``except Exception`` swallows it) and ignores further ones
while the command cleans up. The CLI then prints how to resume and exits ``128 + signal``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from backend.database.migration.workers import forward_stop
from workflows import stopping

HANDLED = (signal.SIGINT, signal.SIGTERM)
TITLE = "model-migrate"


class Interrupted(BaseException):
    """The process got SIGINT or SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell convention: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    for sig in HANDLED:
        signal.signal(sig, signal.SIG_IGN)
    forward_stop()
    stop = Interrupted(signum)
    stopping.request(stop)  # raised again before the next batch if this raise is lost
    raise stop


def install() -> None:
    """Raise :class:`Interrupted` on the first SIGINT or SIGTERM (a no-op off the main
    thread, where Python allows no signal handler)."""
    if threading.current_thread() is not threading.main_thread():
        return
    stopping.clear()
    for sig in HANDLED:
        signal.signal(sig, _interrupt)


@contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs and delivered when it ends (closing
    the library: raised inside SQLAlchemy's closing of a connection, the stop is logged with a
    traceback and the connection may be left half closed). A no-op off the main thread and
    where signals cannot be masked."""
    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def set_title(title: str = TITLE) -> None:
    """Name this process ``title`` in ``ps`` / ``top`` (Linux ``comm``; a no-op elsewhere)."""
    comm = Path("/proc/self/comm")
    try:
        if comm.read_text(encoding="utf-8").strip() != title[:15]:
            comm.write_text(title[:15], encoding="utf-8")
    except OSError:
        return
