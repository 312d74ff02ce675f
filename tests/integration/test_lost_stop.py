"""A SIGTERM whose exception Python drops (raised inside a weakref callback, where it is only
printed) still stops the command: the driver raises it before its next batch."""

from __future__ import annotations

import signal
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, event, func, select, update

from backend.cli import context
from backend.cli.commands import main
from backend.cli.signals import HANDLED, Interrupted, held, install
from backend.database import schema, session
from tests.helpers.workflow import keys, make_steps
from workflows import machine, stopping
from workflows.driver import Driver
from workflows.fence import ITEMS
from workflows.records import WorkItem
from workflows.store import WorkflowStore
from workflows.tables import writer


@pytest.fixture
def handlers() -> Iterator[None]:
    """The CLI's handlers installed; the previous ones and no stop request afterwards."""
    previous = {sig: signal.getsignal(sig) for sig in HANDLED}
    install()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopping.clear()


def lose_a_sigterm(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | None]:
    """SIGTERM handled inside a weakref callback; the exceptions Python dropped there."""
    dropped: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda raw: dropped.append(raw.exc_value))

    class Thing:
        pass

    def callback(_ref: Any) -> None:
        signal.raise_signal(signal.SIGTERM)
        for _ in range(100):  # the handler runs here, inside the callback
            pass

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    assert ref() is None
    return dropped


@pytest.mark.usefixtures("handlers")
def test_a_dropped_sigterm_is_raised_again_by_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    dropped = lose_a_sigterm(monkeypatch)
    assert len(dropped) == 1 and isinstance(dropped[0], Interrupted)  # Python only printed it
    with pytest.raises(Interrupted) as raised:
        stopping.check()
    assert raised.value.exit_code == 143


@pytest.mark.usefixtures("handlers")
def test_the_driver_stops_before_its_next_batch_claims_anything(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WorkflowStore(engine)
    run_id = store.create_run("test", "fp", {}, keys(5))
    driver = Driver(engine, make_steps())
    driver.advance(run_id, batch_size=2)
    lose_a_sigterm(monkeypatch)
    with pytest.raises(Interrupted):
        driver.advance(run_id, batch_size=2)
    with engine.connect() as conn:
        leased = conn.scalar(select(func.count()).where(ITEMS.c.lease_owner.is_not(None)))
        pending = conn.scalar(select(func.count()).where(ITEMS.c.status == "pending"))
    assert (leased, pending) == (0, 3)


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A SQLite library whose lock waits give up after 0.5 s: a deadlock fails, not hangs."""
    monkeypatch.setattr(session, "SQLITE_BUSY_TIMEOUT_MS", 500)
    engine = session.make_engine(f"sqlite:///{tmp_path / 'library.db'}")
    schema.upgrade(engine)
    yield engine
    engine.dispose()


def leases_left_after(engine: Engine, interrupted: Callable[[WorkItem], None]) -> int:
    """Leases held after a batch of three items whose first step is ``interrupted``, which
    must end the batch with the interrupt it raises."""
    run_id = WorkflowStore(engine).create_run("test", "fp", {}, keys(3))
    driver = Driver(engine, make_steps(on_step=interrupted))
    with pytest.raises(KeyboardInterrupt):
        driver.advance(run_id, batch_size=3)
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(ITEMS.c.lease_owner.is_not(None))) or 0)


def test_a_transaction_an_interrupt_left_open_does_not_block_releasing_the_leases(
    library: Engine,
) -> None:
    engine = library
    left_open: list[Connection] = []

    def interrupted(_item: WorkItem) -> None:
        # What an interrupt landing in a commit leaves behind: a transaction nobody ends,
        # holding the write lock.
        conn = writer(engine).connect()
        conn.begin()
        left_open.append(conn)
        raise KeyboardInterrupt

    assert leases_left_after(engine, interrupted) == 0


def test_a_connection_invalidated_under_an_interrupt_does_not_block_releasing_the_leases(
    library: Engine,
) -> None:
    engine = library

    def interrupt(*_args: Any) -> None:
        raise KeyboardInterrupt

    def interrupted(_item: WorkItem) -> None:
        # The interrupt lands inside a statement: SQLAlchemy invalidates (closes) the
        # connection, and SQLite keeps it open, write lock and all, while the cursor lives
        # in the traceback's frames.
        conn = writer(engine).connect()
        conn.begin()
        event.listen(conn, "after_cursor_execute", interrupt)
        conn.execute(update(ITEMS).values(updated_at=1.0).returning(ITEMS.c.id))

    assert leases_left_after(engine, interrupted) == 0


def test_installing_the_handlers_forgets_an_earlier_stop() -> None:
    previous = {sig: signal.getsignal(sig) for sig in HANDLED}
    stopping.request(Interrupted(signal.SIGINT))
    try:
        install()
        stopping.check()  # nothing raised: a new command starts clean
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stopping.clear()


def test_a_stop_while_an_error_is_reported_ends_the_command_as_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker told to stop (SIGTERM from its parent) while it reports its own error.
    def failing() -> str:
        raise RuntimeError("the command failed")

    def stopped_while_reporting(_ctx: Any, _exc: Exception) -> None:
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(machine, "mermaid", failing)
    monkeypatch.setattr(context, "_fail_with", stopped_while_reporting)
    result = CliRunner().invoke(main, ["graph"])
    assert result.exit_code == 143
    assert "stopped by SIGTERM" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("handlers")
def test_a_stop_held_back_while_the_library_closes_is_raised_once_it_is_closed() -> None:
    closed = []
    with pytest.raises(Interrupted), held():
        signal.raise_signal(signal.SIGTERM)
        for _ in range(100):  # the handler would run here, inside the close
            pass
        closed.append(True)
    assert closed == [True]
