"""Lease heartbeat on a background thread, so a step longer than the lease keeps its items."""

from __future__ import annotations

import threading

from workflows.store import WorkflowStore


class LeaseKeeper:
    """A background thread that extends ``owner``'s leases every ``interval`` seconds while
    the ``with`` block runs (a long step keeps its items); stopped and joined on exit."""

    def __init__(
        self, store: WorkflowStore, owner: str, lease_seconds: float, interval: float
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-keeper {owner}")
        self._thread.daemon = True

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.store.heartbeat(self.owner, self.lease_seconds)
            except Exception:
                continue  # a missed beat (database busy) is retried at the next interval
            self.beats += 1
