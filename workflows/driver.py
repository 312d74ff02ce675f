"""The batch driver: claim items, run their two-phase steps, commit fenced transitions.

A step is called outside any write transaction (slow work: hashing, images, file copies) and
returns ``apply``; the driver then opens one write transaction for a group of prepared items
and runs, per item inside a SAVEPOINT, ``apply`` (the step's DB writes, which names the
trigger), ``machine.fire`` and ``store.commit_transition``. One item's failure or lost lease
rolls back only its savepoint.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from workflows import clock, stopping
from workflows.claiming import ClaimWeight
from workflows.errors import InvalidTransition, LeaseLost, StepError
from workflows.failures import classify
from workflows.fence import Fired, lock_fences, write_fired
from workflows.keeper import LeaseKeeper
from workflows.machine import WORKING, fire
from workflows.owner import make_owner
from workflows.records import RunStatus, WorkItem
from workflows.steps import ApplyFn, Steps, apply_grouped, fire_all, restore, snapshot
from workflows.store import WorkflowStore

WAIT_FOR_OTHERS_SECONDS = 0.5
POLL_OTHERS_SECONDS = 0.1
"""The longest ``run_until_done`` sleeps while other live drivers hold the items left: the end
of a run whose last big file another worker hashes is noticed within it."""
MIN_WAIT_SECONDS = 0.02
"""The first such sleep; each next one while the others still hold them is twice as long (up
to :data:`POLL_OTHERS_SECONDS`): the last batch of quick items another worker finishes a few
milliseconds after this one is noticed at once, a long one is not polled for 50 times a
second."""
RELEASE_TRIES = 3
GIVE_BACK_SECONDS = 4.0
"""A batch in a loop still working this long after its claim releases half of the items it
has not prepared in the current round, for idle drivers to claim while it works on the other
half: a claim is sized by count, and quick items followed by slow ones (images at the end of
a library) must not leave one driver holding the slow work while another idles."""
RECLAIM_SECONDS = 2.0
"""How often a driver looks for leases of dead processes on this host (at its first batch,
then at most this often): the items of a killed worker come back within it, and a run of
many quick batches does not pay a scan of the lease index for each."""


@dataclass
class ItemReport:
    """What one batch did to one claimed item."""

    item_id: int
    source_key: str
    from_state: str
    to_state: str
    error_code: str | None = None
    error: str | None = None
    transitions: list[str] = field(default_factory=list)


class Driver:
    """Advances the items of a run in batches with the given steps (``steps[kind][state]``).

    ``owner`` defaults to ``host:pid:token`` (dead-pid reclaim parses it). A transient error
    waits ``min(backoff_max, backoff_base * 2 ** (attempts - 1))`` seconds, times
    ``1 ± jitter``. ``group_commits`` (default, faster) commits the prepared items of a round
    in one write transaction, flushed early once preparing has taken ``group_seconds`` so a
    crash redoes at most that much work; ``group_commits=False`` commits item by item.
    In a loop, a batch gives back half of what it has not started :data:`GIVE_BACK_SECONDS`
    after its claim.
    While a batch runs, a background thread extends the driver's leases every
    ``heartbeat_seconds`` (``lease_seconds / 3`` by default), so a step longer than the lease
    (hashing a huge file) keeps its items. ``claim_weight`` sizes claims by expected work
    (bytes of files to hash), so slow items are shared between workers; ``on_claim`` is told
    the items of each claim before their steps run (to read their sources in one query).
    ``sleep`` and ``rng`` are injectable for tests. One driver serves one thread.
    """

    def __init__(
        self,
        engine: Engine,
        steps: Steps,
        *,
        owner: str | None = None,
        lease_seconds: float = 60.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        jitter: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        group_commits: bool = True,
        group_seconds: float = 1.0,
        heartbeat_seconds: float | None = None,
        claim_weight: ClaimWeight | None = None,
        on_claim: Callable[[Sequence[WorkItem]], None] | None = None,
    ) -> None:
        self.store = WorkflowStore(engine)
        self.steps = steps
        self.owner = owner or make_owner()
        self.lease_seconds = lease_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.group_commits = group_commits
        self.group_seconds = group_seconds
        self.heartbeat_seconds = heartbeat_seconds or lease_seconds / 3
        self.claim_weight = claim_weight
        self.on_claim = on_claim
        self._last_heartbeat = 0.0
        self._last_reclaim: float | None = None
        self._give_back_at: float | None = None
        self._prepared = 0
        self._suspects = False

    # --- one batch --------------------------------------------------------------------------

    def advance(
        self, run_id: int | None, batch_size: int, *, give_back: bool = False
    ) -> list[ItemReport]:
        """Claim up to ``batch_size`` items and move each as far as its steps go; with
        ``give_back`` (a loop, where other drivers may be idle), half of what is left of the
        current round :data:`GIVE_BACK_SECONDS` after the claim is given back."""
        stopping.check()
        now = time.monotonic()
        if self._last_reclaim is None or now - self._last_reclaim >= RECLAIM_SECONDS:
            self.store.reclaim_dead()
            self._last_reclaim = now
        try:  # whatever ends the batch (a signal after the claim committed too) releases it
            claimed = self._claim(run_id, batch_size)
            suspects = [item for item in claimed if item.crashes > 0]
            self._suspects = bool(suspects)
            if suspects:
                # An item held by a crashed driver runs alone, so a crash it causes again is
                # counted against it and not against a whole batch of bystanders.
                keep = suspects[0]
                self.store.release(self.owner, [i.id for i in claimed if i.id != keep.id])
                claimed = [keep]
            reports = {
                item.id: ItemReport(item.id, item.source_key, item.state, item.state)
                for item in claimed
            }
            self._give_back_at = time.monotonic() + GIVE_BACK_SECONDS if give_back else None
            self._prepared = 0
            self._last_heartbeat = clock.now()
            active = claimed
            with LeaseKeeper(self.store, self.owner, self.lease_seconds, self.heartbeat_seconds):
                if self.on_claim is not None and active:
                    self.on_claim(active)
                while active:
                    active = self._round(active, reports)
                    if active:
                        self._heartbeat()
        except BaseException as exc:
            stopping.let_go(exc)  # a signal's: see workflows.stopping
            raise
        finally:
            self._release()
        return list(reports.values())

    def _claim(self, run_id: int | None, batch_size: int) -> list[WorkItem]:
        """The batch's items. After a claim that found items a crashed driver held, the next
        takes the next such item alone if there is one (instead of a full claim released again
        but for that item: a dead worker's whole batch is redone item by item)."""
        if self._suspects:
            found = self.store.claim(run_id, self.owner, 1, self.lease_seconds, suspects_only=True)
            if found:
                return found
        return self.store.claim(
            run_id, self.owner, batch_size, self.lease_seconds, self.claim_weight
        )

    def _release(self) -> None:
        """Drop every lease of this driver, retried twice on a busy database: a driver being
        stopped (SIGTERM) must not leave its items leased."""
        for attempt in range(RELEASE_TRIES):
            try:
                self.store.release(self.owner)
                return
            except OperationalError:
                if attempt == RELEASE_TRIES - 1:
                    raise
                self.sleep(WAIT_FOR_OTHERS_SECONDS)

    def _heartbeat(self) -> None:
        now = clock.now()
        if now - self._last_heartbeat >= self.lease_seconds / 3:
            self.store.heartbeat(self.owner, self.lease_seconds)
            self._last_heartbeat = now

    def _round(self, active: list[WorkItem], reports: dict[int, ItemReport]) -> list[WorkItem]:
        """Prepare every active item, commit in groups; the items still WORKING after it.

        Once the batch is overdue (see :meth:`advance`), the second half of the items this
        round has not prepared yet is given back at once (see :meth:`_give_back`)."""
        still: list[WorkItem] = []
        group: list[tuple[WorkItem, ApplyFn]] = []
        started = time.monotonic()
        given: set[int] = set()
        for index, item in enumerate(active):
            if item.id in given:
                continue
            if self._overdue():
                given = self._give_back(active[index:], reports)
            self._prepared += 1
            apply = self._prepare(item, reports[item.id])
            if apply is not None:
                group.append((item, apply))
            elapsed = time.monotonic() - started
            if group and (not self.group_commits or elapsed >= self.group_seconds):
                still.extend(self._commit_group(group, reports))
                group = []
                started = time.monotonic()
            self._heartbeat()
        if group:
            still.extend(self._commit_group(group, reports))
        return still

    def _give_back(self, rest: list[WorkItem], reports: dict[int, ItemReport]) -> set[int]:
        """Release the second half of ``rest`` (the items this round has not prepared) now, so
        an idle driver can take them while this one works on the first half; once per batch.
        Their state is what was committed so far; an item the batch had not touched at all is
        dropped from ``reports``. The ids given back."""
        self._give_back_at = None
        back = rest[(len(rest) + 1) // 2 :]
        if not back:
            return set()
        self.store.release(self.owner, [item.id for item in back])
        for item in back:
            report = reports[item.id]
            if not report.transitions and report.error_code is None:
                del reports[item.id]
        return {item.id for item in back}

    def _overdue(self) -> bool:
        """Whether to give items back now (never before one item is prepared, so a batch
        always moves something)."""
        at = self._give_back_at
        return at is not None and self._prepared > 0 and time.monotonic() >= at

    def _prepare(self, item: WorkItem, report: ItemReport) -> ApplyFn | None:
        step = self.steps.get(item.kind, {}).get(item.state)
        try:
            if step is None:
                raise StepError(
                    "internal_error", f"no step for kind {item.kind!r} in state {item.state!r}"
                )
            return step(item)
        except Exception as exc:
            self._on_error(item, exc, report)
            return None

    def _commit_group(
        self, group: list[tuple[WorkItem, ApplyFn]], reports: dict[int, ItemReport]
    ) -> list[WorkItem]:
        """Apply and commit a group in one write transaction, a savepoint per item.

        The fences of the whole group are checked (and the rows locked) first; an item whose
        lease was lost is dropped without running its ``apply``. State changes and events of
        the group are then written in bulk before the single COMMIT.
        """
        snapshots = {item.id: snapshot(item) for item, _ in group}
        done: list[tuple[WorkItem, list[Fired]]] = []
        errors: list[tuple[WorkItem, BaseException]] = []
        try:
            with Session(self.store.writer) as session, session.begin():
                conn = session.connection()
                seqs = lock_fences(conn, self.owner, [item for item, _ in group])
                live: list[tuple[WorkItem, ApplyFn]] = []
                for item, apply in group:
                    if item.id in seqs:
                        live.append((item, apply))
                    else:
                        errors.append((item, LeaseLost(f"lease on item {item.id} was lost")))
                alone = apply_grouped(session, live, snapshots, done)
                for item, apply in alone:
                    # A plain SAVEPOINT per item (the ORM's begin_nested() costs several
                    # times more, and apply only runs statements: no ORM objects to flush).
                    conn.exec_driver_sql("SAVEPOINT item")
                    try:
                        fired = fire_all(item, apply(session, item))
                    except Exception as exc:
                        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT item")
                        conn.exec_driver_sql("RELEASE SAVEPOINT item")
                        session.expire_all()
                        restore(item, snapshots[item.id])
                        errors.append((item, exc))
                    else:
                        conn.exec_driver_sql("RELEASE SAVEPOINT item")
                        done.append((item, fired))
                write_fired(conn, self.owner, done, seqs)
        except Exception as group_exc:
            # The group's transaction failed as a whole: nothing of it is stored.
            for item, _ in group:
                restore(item, snapshots[item.id])
            done, errors = [], [(item, group_exc) for item, _ in group]
        still: list[WorkItem] = []
        for item, fired in done:
            report = reports[item.id]
            report.transitions.extend(f.trigger for f in fired)
            report.to_state = item.state
            if item.state in WORKING:
                still.append(item)
        for item, error in errors:
            self._on_error(item, error, reports[item.id])
        return still

    # --- errors -----------------------------------------------------------------------------

    def _on_error(self, item: WorkItem, exc: BaseException, report: ItemReport) -> None:
        if isinstance(exc, LeaseLost):
            report.error_code, report.error = "lease_lost", str(exc)
            return
        if isinstance(exc, InvalidTransition):
            code_message: tuple[str, str] | None = ("internal_error", repr(exc))
        else:
            code_message = classify(exc)
        if code_message is None:
            item.attempts += 1
            message = str(exc) or repr(exc)
            if item.attempts >= item.max_attempts:
                code_message = ("retries_exhausted", message)
            else:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (item.attempts - 1))
                delay *= 1 + self.rng.uniform(-self.jitter, self.jitter)
                stored = self.store.record_backoff(item, self.owner, message, clock.now() + delay)
                report.error_code, report.error = ("transient", message)
                if not stored:
                    report.error_code, report.error = "lease_lost", message
                return
        code, message = code_message
        from_state, to_state = fire(item, "fail")
        with Session(self.store.writer) as session, session.begin():
            stored = self.store.commit_transition(
                session,
                item,
                self.owner,
                "fail",
                from_state,
                to_state,
                error_code=code,
                error=message,
                keep_lease=False,
            )
        report.error_code, report.error = (code, message) if stored else ("lease_lost", message)
        if stored:
            report.transitions.append("fail")
            report.to_state = item.state

    # --- until done -------------------------------------------------------------------------

    def run_until_done(
        self,
        run_id: int | None,
        batch_size: int,
        on_progress: Callable[[RunStatus], None] | None = None,
        *,
        max_batches: int | None = None,
    ) -> RunStatus:
        """Advance batches until no WORKING item is left (or ``max_batches``); final status.

        With nothing claimable it sleeps until the earliest backoff ends, or briefly while
        another live driver holds leases (see :data:`MIN_WAIT_SECONDS`).
        """
        if run_id is None:
            raise ValueError("run_until_done needs a run id")
        batches = 0
        poll = MIN_WAIT_SECONDS
        while True:
            reports = self.advance(run_id, batch_size, give_back=True)
            batches += 1
            status = self.store.status(run_id)
            if on_progress is not None:
                on_progress(status)
            if status.finished or (max_batches is not None and batches >= max_batches):
                return status
            if reports:
                poll = MIN_WAIT_SECONDS
                continue
            wake = self.store.wakeup(run_id, self.owner)
            if wake.at is None:
                return status
            delay = max(0.0, wake.at - clock.now())
            if wake.leased:
                delay = min(max(delay, MIN_WAIT_SECONDS), poll)
                poll = min(2 * poll, POLL_OTHERS_SECONDS)
            if delay > 0:
                self.sleep(delay)
