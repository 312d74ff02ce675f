"""Stopping on a signal without losing the stop or deadlocking on the way out.

A signal handler that raises (the CLI's does, for SIGINT and SIGTERM) raises wherever the main
thread is, which can go wrong in two ways:

* In a weakref callback or a finalizer, Python only prints the exception ("Exception ignored
  in ...") and goes on: the stop would be lost, the workers already told to stop while this
  process carried on alone. The handler :func:`request`\\ s the stop before it raises it, and
  the driver calls :func:`check` before each batch.
* Inside a statement or the code that ends a transaction, the transaction can stay open on a
  connection nothing will use again, still holding its locks (SQLite's write lock, PostgreSQL's
  row locks): SQLAlchemy invalidates a connection an interrupt went through, and SQLite keeps a
  closed connection open while a cursor of it lives, here in the frames of the exception's
  traceback. Releasing the leases on the way out would then wait for this very process.
  :func:`let_go` drops those frames and rolls back what the thread left open (:func:`track`
  notes which thread began a transaction on each connection until it goes back to its pool);
  the driver calls it before it releases its leases after such an exception.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module for its signal handler: no SQLAlchemy yet
    from sqlalchemy import Connection, Engine

_requested: BaseException | None = None
_began: dict[int, tuple[Any, int]] = {}
"""``id`` of a DBAPI connection → it and the thread that began a transaction on it, until it
goes back to its pool or is closed."""


def request(stop: BaseException) -> None:
    """Remember ``stop``, the exception a signal handler is about to raise."""
    global _requested
    _requested = stop


def check() -> None:
    """Raise the stop :func:`request` remembered, if any."""
    if _requested is not None:
        raise _requested


def clear() -> None:
    """Forget a remembered stop (a command that handled it has ended)."""
    global _requested
    _requested = None


def track(engine: Engine) -> None:
    """Note, per connection of ``engine``, the thread that began its transaction."""
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _begun(conn: Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        _began[id(dbapi)] = (dbapi, threading.get_ident())

    def _gone(dbapi_connection: Any, *_args: Any) -> None:
        _began.pop(id(dbapi_connection), None)

    for name in ("checkin", "close", "close_detached", "invalidate"):
        event.listen(engine.pool, name, _gone)


def let_go(unwinding: BaseException) -> int:
    """If ``unwinding`` (the exception this thread is handling) is an interrupt (a
    ``BaseException`` that is no ``Exception``: a signal's), free what it left holding the
    database: the frames of its traceback and of the exceptions it chains, then the
    transactions this thread left open (:func:`roll_back_abandoned`). How many connections
    were rolled back."""
    if isinstance(unwinding, Exception):
        return 0
    chained: BaseException | None = unwinding
    seen: set[int] = set()
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        chained.__traceback__ = None
        chained = chained.__context__
    gc.collect()
    return roll_back_abandoned()


def roll_back_abandoned() -> int:
    """Roll back every transaction this thread began on a connection not yet back in its pool
    (call only while an interrupt unwinds this thread: nothing of it is still in use); how
    many connections were rolled back."""
    me = threading.get_ident()
    mine = [(key, dbapi) for key, (dbapi, thread) in list(_began.items()) if thread == me]
    for key, dbapi in mine:
        with contextlib.suppress(Exception):
            dbapi.rollback()
        _began.pop(key, None)
    return len(mine)
