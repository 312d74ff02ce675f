"""How ``model-migrate serve`` runs waitress: limits that keep slow clients from starving the API.

Waitress buffers a request until it is complete before a worker thread sees it, so a client that
sends half a request and stalls costs one open connection, not a thread. What runs out is the
connection limit (100 by default: ~100 stalled sockets and ``/api/health`` could no longer even
connect, until the 120 s channel timeout). So:

- ``connection_limit`` 1000 open connections (``select()`` stops at 1024 file descriptors, so
  ``asyncore_use_poll``; the soft open-file limit is raised to the hard one to make room);
- ``channel_timeout`` 30 s: a connection that sends nothing for 30 s is closed, checked every
  ``cleanup_interval`` 5 s;
- ``threads`` 8 request threads: up to 8 long requests (a synchronous ``migrate_legacy_db``)
  at once before quick ones like ``/api/health`` wait.

Limit: one client holding more than 1000 idle connections still blocks new ones for up to 30 s;
on an untrusted network put a reverse proxy with per-client limits in front.
"""

from __future__ import annotations

import resource
from typing import Any

CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 5
THREADS = 8
_SPARE_FILES = 64  # database, logs, legacy snapshots, images


def raise_open_file_limit(wanted: int = CONNECTION_LIMIT + _SPARE_FILES) -> int:
    """Raise the soft open-file limit towards ``wanted`` (up to the hard limit); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def waitress_options(max_request_body_size: int) -> dict[str, Any]:
    """Keyword arguments for ``waitress.serve`` (besides app, host and port)."""
    files = raise_open_file_limit()
    return {
        # Each request thread gets its own driver (lease owner) and legacy readers.
        "threads": THREADS,
        "connection_limit": max(10, min(CONNECTION_LIMIT, files - _SPARE_FILES)),
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        "asyncore_use_poll": True,
        "max_request_body_size": max_request_body_size,
        "ident": "model-migrate",
    }
