"""Which items a driver leases next: the claim statement, optionally sized by expected work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, case, func, or_, select, text, update

from workflows import clock
from workflows.fence import ITEM_COLUMNS, ITEMS
from workflows.tables import WORKING_ITEM_SQL


@dataclass(frozen=True)
class ClaimWeight:
    """Claims sized by expected work rather than by count.

    ``weight`` is a SQL expression over the items table (a file's bytes, an image's pixels;
    NULL counts as 0). A claim takes items in id order while their running total stays within
    ``budget``; its first item is always taken, however heavy, so a claim is never empty.
    """

    weight: ColumnElement[Any]
    budget: int


def claim_statement(
    run_id: int | None,
    owner: str,
    limit: int,
    lease_seconds: float,
    weight: ClaimWeight | None,
    postgres: bool,
    *,
    suspects_only: bool = False,
) -> Update:
    """``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`` that leases up to ``limit``
    claimable items, lowest id first (with ``weight``, within its budget; with
    ``suspects_only``, only items a driver died holding); ``FOR UPDATE SKIP LOCKED`` in the
    subquery on PostgreSQL. Taking over an expired lease counts a crash."""
    now = clock.now()
    columns: list[ColumnElement[Any]] = [ITEMS.c.id]
    if weight is not None:
        columns.append(func.coalesce(weight.weight, 0).label("weight"))
    pick = select(*columns).where(
        text(WORKING_ITEM_SQL),
        ITEMS.c.next_attempt_at <= now,
        or_(ITEMS.c.lease_owner.is_(None), ITEMS.c.lease_expires_at < now),
    )
    if run_id is not None:
        pick = pick.where(ITEMS.c.run_id == run_id)
    if suspects_only:
        pick = pick.where(ITEMS.c.crashes > 0)
    pick = pick.order_by(ITEMS.c.id).limit(limit)
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    chosen = pick if weight is None else _within_budget(pick, weight.budget)
    return (
        update(ITEMS)
        .where(ITEMS.c.id.in_(chosen.scalar_subquery()))
        .values(
            lease_owner=owner,
            lease_expires_at=now + lease_seconds,
            version=ITEMS.c.version + 1,
            crashes=ITEMS.c.crashes + case((ITEMS.c.lease_owner.is_not(None), 1), else_=0),
        )
        .returning(*ITEM_COLUMNS)
    )


def _within_budget(pick: Select[Any], budget: int) -> Select[Any]:
    """The ids of ``pick`` (id, weight) whose running total of weight stays within ``budget``,
    and always the first one. The window runs outside ``pick``: PostgreSQL allows no window
    function beside ``FOR UPDATE``."""
    picked = pick.subquery("picked")
    order = picked.c.id
    running = select(
        picked.c.id,
        func.sum(picked.c.weight).over(order_by=order).label("total"),
        func.row_number().over(order_by=order).label("n"),
    ).subquery("running")
    return select(running.c.id).where(or_(running.c.total <= budget, running.c.n == 1))
