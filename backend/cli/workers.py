"""``--workers``: ``auto`` (every usable CPU, the default) or a number of processes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

import click

AUTO = "auto"

F = TypeVar("F", bound=Callable[..., Any])


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on macOS and Windows
        return os.cpu_count() or 1


class WorkerCount(click.ParamType[int]):
    """``auto`` or an integer in ``1..maximum``; ``auto`` becomes the usable CPUs (capped)."""

    name = "auto|N"

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The number of workers ``value`` asks for; a usage error (exit 2) when it is neither."""
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().lower() == AUTO:
            return min(usable_cpus(), self.maximum)
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is neither 'auto' nor a whole number", param, ctx)
        if not 1 <= number <= self.maximum:
            self.fail(f"{number} is not in 1..{self.maximum} (or 'auto')", param, ctx)
        return number


def workers_option(maximum: int) -> Callable[[F], F]:
    """The ``--workers`` option: default ``auto``, shown as such in ``--help``."""
    return click.option(
        "--workers",
        default=AUTO,
        show_default=True,
        type=WorkerCount(maximum),
        help="Processes working on the run: 'auto' uses every usable CPU.",
    )


def read_run_id(stream: TextIO) -> int | None:
    """The run id a parent gives an early worker on its standard input (one line); None at
    the end of input (the parent ended before it had a run for this worker)."""
    line = stream.readline().strip()
    if not line:
        return None
    try:
        return int(line)
    except ValueError:
        raise click.UsageError(f"expected a run id on standard input, got {line[:40]!r}") from None
