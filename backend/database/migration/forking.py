"""Early workers forked from this process instead of started as new programs (Linux).

A worker started as ``model-migrate worker`` spends about half a second of CPU on Python's
start-up, the imports and opening the library, on the cores the run needs. A process forked
after this one has imported the modules shares them and starts at once. Forking is safe here
only under two conditions, which :func:`can_fork` and the callers keep:

- one thread: a fork copies only the calling thread, so a lock another thread held would stay
  locked in the child forever;
- no database connection open in this process (the caller forks before it opens the library):
  SQLite keeps per-process lock state that a child must not inherit, and a client connection
  must never be used by two processes.

The child shows the command line it is given (``ps`` would show the parent's), waits for its
run id on a pipe (end of input: exit 0, as a worker started early does), then runs
``entry(run_id)`` in a process group given by the parent, its standard input and output on
``/dev/null``, and exits with the status ``entry`` returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, NoReturn

WAIT_POLL_MAX_SECONDS = 0.05

Entry = Callable[[int], int]
"""What a forked worker runs once it has its run id; returns the process's exit status."""


def can_fork() -> bool:
    """Whether a worker may be forked from this process now: Linux, and no other thread."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


class ForkedWorker:
    """A forked worker, used as the ``subprocess.Popen`` of a worker started as a program is
    (``pid``, ``stdin``, ``returncode``, ``poll``, ``wait``, ``kill``)."""

    def __init__(self, pid: int, stdin: BinaryIO) -> None:
        self.pid = pid
        self.stdin: BinaryIO | None = stdin
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status if the process has ended, else None."""
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end (``subprocess.TimeoutExpired`` after ``timeout``)."""
        if timeout is None:
            code = self._reap(0)
            assert code is not None
            return code
        deadline = time.monotonic() + timeout
        delay = 0.001
        while (code := self._reap(os.WNOHANG)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, WAIT_POLL_MAX_SECONDS)
        return code

    def kill(self) -> None:
        """SIGKILL the process (if it has not ended)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reap(self, flags: int) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: its status is lost
            self.returncode = 0
            return 0
        if pid == 0:
            return None
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork_worker(
    entry: Entry,
    env: Mapping[str, str],
    group: int,
    inherited: Sequence[ForkedWorker],
    command: Sequence[str] = (),
) -> ForkedWorker:
    """Fork a worker that waits for its run id, then runs ``entry`` (see the module).

    ``group`` is the process group to join (0: its own, led by it); ``inherited`` are the
    workers forked before it, whose pipes it must not hold open (or they would never see the
    end of their input if this process died); ``command`` is what ``ps`` shows for it.
    """
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write this process's buffered output again
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        for sibling in inherited:
            if sibling.stdin is not None:
                with contextlib.suppress(OSError):
                    os.close(sibling.stdin.fileno())
        show_command_line(command)
        _child(entry, env, group, read_end)
    os.close(read_end)
    with contextlib.suppress(OSError):  # the child may have done it (or ended) already
        os.setpgid(pid, group or pid)
    return ForkedWorker(pid, os.fdopen(write_end, "wb"))


def show_command_line(words: Sequence[str]) -> None:
    """Show ``words`` as this process's command line in ``ps`` (Linux; a no-op elsewhere or
    without words).

    The bytes the kernel reads ``/proc/self/cmdline`` from (``arg_start`` to ``arg_end`` in
    ``/proc/self/stat``) are rewritten in place, cut to the length they had. Python keeps its
    own copy of the arguments (``sys.argv``), so nothing reads those bytes again.
    """
    if not words:
        return
    try:
        fields = Path("/proc/self/stat").read_text().rpartition(")")[2].split()
        start, end = int(fields[45]), int(fields[46])  # fields 48 and 49 of the file
    except (OSError, ValueError, IndexError):
        return
    if start <= 0 or end <= start:
        return
    import ctypes  # only here: `status` imports this module and not ctypes

    text = "\0".join(words).encode()[: end - start - 1]
    ctypes.memmove(start, text.ljust(end - start, b"\0"), end - start)


def _child(entry: Entry, env: Mapping[str, str], group: int, read_end: int) -> NoReturn:
    """The forked worker: never returns into the parent's code."""
    code = 1
    try:
        # As a new program would have them: no stop handler of the parent's, no pending work.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with contextlib.suppress(OSError):  # the parent sets it too
            os.setpgid(0, group)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        os.environ.update(env)
        with os.fdopen(read_end, "rb") as stream:
            line = stream.readline().strip()
        code = entry(int(line)) if line else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        traceback.print_exc()
    except BaseException:  # a stop signal outside the command's own handling: no traceback
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
