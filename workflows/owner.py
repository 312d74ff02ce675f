"""Lease owner strings ``host:pid:token`` and whether their process is still alive."""

from __future__ import annotations

import os
import socket
import uuid


def make_owner() -> str:
    """A fresh owner string for this process: ``f"{hostname}:{pid}:{token}"``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def parse_owner(owner: str) -> tuple[str, int] | None:
    """``(host, pid)`` of an owner string, or None when it is not in the expected format."""
    host, sep, rest = owner.rpartition(":")
    if not sep:
        return None
    host, sep, pid = host.rpartition(":")
    if not sep or not pid.isdigit():
        return None
    del rest
    return host, int(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return True
    return not (fields and fields[0] in {"Z", "X"})
